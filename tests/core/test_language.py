"""Language detection of customer messages (chat, SMS shorthand, voice transcripts)."""

from __future__ import annotations

import pytest

from bot.core.language import detect, pick


@pytest.mark.parametrize("text", [
    "quiero darme de baja", "kiero darme d baja", "q me deis d baja ya xq es mu caro",
    "eh hola mira quería darme de baja de la fibra porque me sale muy caro",
    "me cobraron dos veces", "sí", "vale", "gracias", "no gracias", "¿eres un robot?",
    # short Spanish that a statistical detector takes for Portuguese or Italian
    "apenas lo utilizo", "casi no lo uso", "lo uso poco", "pago demasiado",
])
def test_spanish(text: str) -> None:
    assert detect(text).language == "es"


@pytest.mark.parametrize("text", [
    "I want to cancel my subscription", "pls cancel my acct", "u charged me twice",
    "um yeah hi i want to cancel my internet", "yes", "no thanks", "thx", "agent please",
])
def test_english(text: str) -> None:
    assert detect(text).language == "en"


@pytest.mark.parametrize("text", ["", "   ", "1", "😀😀😀", "ok", "no", "???"])
def test_undecided_keeps_conversation_language(text: str) -> None:
    assert detect(text).language is None
    assert pick(text, "en") == "en"
    assert pick(text, None) == "es"


@pytest.mark.parametrize("text,code", [
    ("bonjour je veux annuler mon abonnement", "fr"),
    ("Guten Tag, ich möchte meinen Vertrag kündigen", "de"),
    ("non mi serve più", "it"),
    ("je veux résilier mon abonnement", "fr"),
])
def test_other_language_is_recognised(text: str, code: str) -> None:
    found = detect(text)
    assert found.language is None and found.other == code


def test_long_message_is_handled() -> None:
    assert detect("quiero darme de baja " * 1000).language == "es"
