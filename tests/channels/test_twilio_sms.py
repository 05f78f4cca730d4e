"""The Twilio SMS channel: pure parts, the channel alone (scripted bot), and the whole stack.

Requests are signed with the real ``twilio`` library (``RequestValidator.compute_signature``)
exactly as Twilio signs them; replies are TwiML parsed with ``xml.etree``.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa.core.channels.channel import UserMessage
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from bot.channels.faults import FAULT_TEXT
from bot.channels.rest import SERVER_OWNED_KEYS
from bot.channels.twilio_common import (
    BotMessage,
    BoundedTTLStore,
    Choice,
    base_url_of,
    choice_number,
    clean_inbound,
    e164,
    mask_phone,
    parse_form,
    plain_text,
    render_sms,
    resolve_choice,
    server_metadata,
    signature_is_valid,
    signed_url,
    sms_choice_prompt,
    split_segments,
)
from bot.channels.twilio_sms import (
    EMPTY_BODY_TEXT,
    ERROR_TEXT,
    HELP_TEXT,
    NO_REPLY_TEXT,
    OPT_OUT_CONFIRMATION,
    TwilioSMSInput,
)
from bot.core.customers import find_customer
from bot.storage import outbox
from bot.storage.db import session_scope
from bot.storage.models import ProcessedMessage, RetentionCase
from tests.support.twilio_standin import (
    PUBLIC_BASE_URL,
    SMS_WEBHOOK,
    ChannelHarness,
    TwilioStack,
    WebhookReply,
    module_database,
    shared_twilio_stack,
    sms_params,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-auth-token-" + "3" * 16
LUCIA = "+447700900000"  # C00001, Spanish
JOHN = "+447700900001"  # C00002, English
UNKNOWN = "+15005550009"
OFFER_BUTTONS = [{"title": "Sí, me interesa", "payload": "/affirm"},
                 {"title": "No, quiero la baja", "payload": "/cancel_firm"}]
EMOJI_RE = re.compile("[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]")


@pytest.fixture(scope="module")
def twilio_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from module_database(tmp_path_factory)


@pytest.fixture(scope="session")
def twilio_stack() -> Iterator[TwilioStack]:
    yield from shared_twilio_stack()


def messages_of(reply: WebhookReply) -> list[str]:
    """The ``<Message>`` bodies of a TwiML reply (an empty ``<Response/>`` gives [])."""
    assert reply.status == 200, reply
    root = ET.fromstring(reply.body)
    assert root.tag == "Response"
    return [(m.text or "") for m in root.findall("Message")]


# === pure parts ==============================================================================


class TestSignatures:
    def test_valid_signature_over_public_url_and_every_param(self) -> None:
        params = parse_form(b"Body=hola&From=%2B447700900000&ToState=&NumMedia=0")
        assert params.getlist("ToState") == [""]  # Twilio signs blank values too
        url = "https://nubia.example.org/webhooks/twilio/webhook"
        signature = RequestValidator(TOKEN).compute_signature(url, params)
        assert signature_is_valid(TOKEN, url, params, signature)
        # the same request without the blank field (what Sanic's request.form keeps) fails
        dropped = parse_form(b"Body=hola&From=%2B447700900000&NumMedia=0")
        assert not signature_is_valid(TOKEN, url, dropped, signature)

    @pytest.mark.parametrize("change", ["body", "url", "token", "missing", "garbage"])
    def test_anything_changed_is_invalid(self, change: str) -> None:
        params = parse_form(b"Body=hola&From=%2B447700900000")
        url = "https://nubia.example.org/webhooks/twilio/webhook"
        signature: str | None = RequestValidator(TOKEN).compute_signature(url, params)
        token = TOKEN
        if change == "body":
            params = parse_form(b"Body=adios&From=%2B447700900000")
        elif change == "url":
            url = "http://127.0.0.1:5005/webhooks/twilio/webhook"
        elif change == "token":
            token = "another-token-" + "9" * 18
        elif change == "missing":
            signature = None
        else:
            signature = "not base64 at all \u00e9"
        assert not signature_is_valid(token, url, params, signature)

    def test_no_token_configured_refuses_everything(self) -> None:
        params = parse_form(b"Body=hola")
        url = "https://nubia.example.org/webhooks/twilio/webhook"
        signature = RequestValidator("").compute_signature(url, params)
        assert not signature_is_valid(None, url, params, signature)
        assert not signature_is_valid("", url, params, signature)

    def test_signed_url_uses_the_public_base_behind_a_proxy(self) -> None:
        local = "http://127.0.0.1:5005/webhooks/twilio_voice/webhook?turn=2&silence=0"
        path, query = "/webhooks/twilio_voice/webhook", "turn=2&silence=0"
        assert signed_url(local, path, query, None) == local
        assert signed_url(local, path, query, "https://abc.ngrok.app/") == \
            "https://abc.ngrok.app/webhooks/twilio_voice/webhook?turn=2&silence=0"
        assert signed_url(local, path, "", "https://abc.ngrok.app") == \
            "https://abc.ngrok.app/webhooks/twilio_voice/webhook"
        assert base_url_of(local, None) == "http://127.0.0.1:5005"
        assert base_url_of(local, "https://abc.ngrok.app/") == "https://abc.ngrok.app"


class TestIdentity:
    @pytest.mark.parametrize("raw,expected", [
        ("+447700900000", "+447700900000"), (" +34 600 111 222 ", "+34600111222"),
        ("whatsapp:+447700900001", "+447700900001"), ("NUBIA", None), ("12345", None),
        ("", None), (None, None), ("+0123456789", None),
    ])
    def test_e164(self, raw: str | None, expected: str | None) -> None:
        assert e164(raw) == expected

    def test_metadata_never_takes_identity_keys_from_the_request(self) -> None:
        forged = {key: "forged" for key in SERVER_OWNED_KEYS} | {"Customer_Phone ": "+1",
                                                                 "twilio_message_sid": "SM1"}
        metadata = server_metadata("sms", LUCIA, True, forged)
        assert metadata == {"twilio_message_sid": "SM1", "channel": "sms",
                            "authenticated": False, "customer_phone": LUCIA,
                            "phone_verified": True, "source": f"sms:{LUCIA}"}
        assert server_metadata("sms", None, True, forged) == {
            "twilio_message_sid": "SM1", "channel": "sms", "authenticated": False,
            "source": "sms:unknown"}

    def test_customers_cannot_send_intent_payloads(self) -> None:
        assert clean_inbound("/cancel_firm") == "cancel_firm"
        assert clean_inbound(' //affirm{"language":"en"}') == 'affirm{"language":"en"}'
        assert clean_inbound("  hola  ") == "hola"
        assert clean_inbound(None) == ""
        assert len(clean_inbound("a" * 5000)) == 2000

    def test_phone_numbers_are_masked_in_logs(self) -> None:
        assert mask_phone(LUCIA) == "•••••••••000"  # the dashboard's rule: the last three digits
        assert mask_phone(None) == ""


class TestRendering:
    def test_markdown_and_emoji_are_removed(self) -> None:
        text = ("## Tu oferta 🎉\n**15 %** de _descuento_ durante *6 meses* 👍🏽\n"
                "- sin permanencia\n* sin letra `pequeña`\nMás info en [la web](https://nubia.example/o) "
                "o en https://nubia.example/x — “gracias”… ~~antes~~")
        out = plain_text(text, links=True)
        assert not EMOJI_RE.search(out)
        for mark in ("**", "##", "`", "~~", "[", "](", "“", "”", "—", "…"):
            assert mark not in out, (mark, out)
        assert "15 % de descuento durante 6 meses" in out
        assert "- sin permanencia\n- sin letra pequeña" in out
        assert "la web: https://nubia.example/o" in out and "https://nubia.example/x" in out
        assert out.startswith("Tu oferta")

    def test_underscores_inside_words_and_addresses_are_kept(self) -> None:
        text = "Tu usuario es lucia_garcia y la web https://nubia.example/mi_area"
        assert plain_text(text, links=True) == text

    def test_buttons_become_numbered_choices_in_spanish(self) -> None:
        rendered = render_sms([BotMessage(text="**Oferta** 🎁"),
                               BotMessage.from_rasa({"text": "¿Te interesa?",
                                                     "buttons": OFFER_BUTTONS})], "es")
        assert rendered.segments == [
            "Oferta\n\n¿Te interesa?\n1. Sí, me interesa\n2. No, quiero la baja\nResponde 1 o 2."]
        assert [c.payload for c in rendered.choices] == ["/affirm", "/cancel_firm"]
        assert "/affirm" not in rendered.segments[0]

    def test_buttons_become_numbered_choices_in_english(self) -> None:
        buttons = [{"title": t, "payload": f"/reason_{i}"}
                   for i, t in enumerate(["It's too expensive", "It keeps failing", "Billing",
                                          "I hardly use it", "I'm moving"])]
        rendered = render_sms([BotMessage.from_rasa({"text": "Why?", "buttons": buttons})], "en")
        text = rendered.segments[0]
        assert text.endswith("5. I'm moving\nReply 1, 2, 3, 4 or 5.")
        assert len(rendered.choices) == 5

    def test_only_the_last_buttons_are_numbered(self) -> None:
        first = BotMessage.from_rasa({"text": "A", "buttons": [{"title": "x", "payload": "/x"}]})
        second = BotMessage.from_rasa({"text": "B", "buttons": OFFER_BUTTONS})
        rendered = render_sms([first, second], "es")
        assert rendered.segments[0].startswith("A\n- x\n\nB\n1. Sí")
        assert [c.payload for c in rendered.choices] == ["/affirm", "/cancel_firm"]

    def test_choice_prompts(self) -> None:
        assert sms_choice_prompt(1, "es") == "Responde 1."
        assert sms_choice_prompt(2, "es") == "Responde 1 o 2."
        assert sms_choice_prompt(3, "en") == "Reply 1, 2 or 3."

    def test_images_and_custom_payloads(self) -> None:
        rendered = render_sms([BotMessage.from_rasa({"image": "https://nubia.example/i.png"}),
                               BotMessage.from_rasa({"custom": {"handoff": True}}),
                               BotMessage.from_rasa({"text": None, "buttons": "junk"})], "es")
        assert rendered.segments == ["https://nubia.example/i.png"]
        assert rendered.choices == []


class TestSplitting:
    def test_short_text_is_one_segment(self) -> None:
        assert split_segments("Hola.") == ["Hola."]
        assert split_segments("x" * 1600) == ["x" * 1600]
        assert split_segments("   ") == []

    def test_long_text_splits_in_order_at_sentence_boundaries(self) -> None:
        sentences = [f"Frase número {i} con algo de texto para llenar el mensaje largo." for i in
                     range(120)]
        text = " ".join(sentences[:60]) + "\n\n" + " ".join(sentences[60:])
        segments = split_segments(text)
        assert len(segments) >= 3
        assert all(len(s) <= 1600 for s in segments)
        bodies = []
        for i, segment in enumerate(segments, 1):
            prefix = f"({i}/{len(segments)}) "
            assert segment.startswith(prefix)
            body = segment[len(prefix):]
            assert body.endswith(".")  # cut between sentences
            bodies.append(body)
        assert re.sub(r"\s+", " ", " ".join(bodies)) == re.sub(r"\s+", " ", text)

    def test_a_reply_over_the_segment_budget_is_cut_and_says_so(self) -> None:
        text = " ".join(f"Frase {i} de relleno para un texto muy largo." for i in range(400))
        rendered = render_sms([BotMessage(text=text)], "es", max_segments=3)
        assert len(rendered.segments) == 3
        assert rendered.segments[0].startswith("(1/3) ") and rendered.segments[2].endswith("...")
        assert all(len(s) <= 1600 for s in rendered.segments)

    def test_a_huge_word_is_cut(self) -> None:
        segments = split_segments("a" * 4000, limit=1600)
        assert all(len(s) <= 1600 for s in segments)
        assert "".join(s.split(") ", 1)[1] for s in segments) == "a" * 4000


class TestChoices:
    @pytest.mark.parametrize("text,number", [
        ("1", 1), (" 2. ", 2), ("2)", 2), ("opción 2", 2), ("Option 1", 1), ("#1", 1),
        ("uno", 1), ("Dos.", 2), ("two", 2), ("1 y 2", None), ("sí", None), ("", None),
        ("C00042", None),
    ])
    def test_choice_number(self, text: str, number: int | None) -> None:
        assert choice_number(text) == number

    def test_resolve_choice(self) -> None:
        choices = [Choice("Sí", "/affirm"), Choice("No", "/cancel_firm")]
        assert resolve_choice(choices, "2") == "/cancel_firm"
        assert resolve_choice(choices, "3") is None
        assert resolve_choice(choices, "0") is None
        assert resolve_choice([], "1") is None
        assert resolve_choice(None, "1") is None

    def test_store_is_bounded_and_expires(self) -> None:
        store: BoundedTTLStore[int] = BoundedTTLStore(max_items=3, ttl_seconds=60)
        for i in range(5):
            store.put(f"k{i}", i)
        assert len(store) == 3 and store.get("k0") is None and store.get("k4") == 4
        expiring: BoundedTTLStore[int] = BoundedTTLStore(max_items=3, ttl_seconds=0)
        expiring.put("a", 1)
        assert expiring.get("a") is None


CANCEL_INSTRUCTION = re.compile(
    r"\b(text|reply|send|type|write|txt|responde|escribe|env[ií]a|manda)\b\W{0,3}"
    r"(us\W+|with\W+|nos\W+|con\W+)?[\"'«“]?cancel\b", re.IGNORECASE)


def _domain_texts() -> list[str]:
    try:
        domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:  # its validity is tests/test_domain_languages.py's job
        pytest.skip(f"domain.yml does not parse: {exc}")
    texts = []
    for variations in (domain.get("responses") or {}).values():
        for variation in variations:
            texts.append(str(variation.get("text") or ""))
            texts += [str(b.get("title") or "") for b in variation.get("buttons") or []]
    return texts


def test_nothing_we_send_tells_anyone_to_text_cancel() -> None:
    ours = [*HELP_TEXT.values(), *EMPTY_BODY_TEXT.values(), *ERROR_TEXT.values(),
            *NO_REPLY_TEXT.values(), *OPT_OUT_CONFIRMATION.values()]
    for text in ours:
        assert not CANCEL_INSTRUCTION.search(text), text
        assert not re.search(r"\bCANCEL\b", text), text  # the keyword itself, in capitals
    assert all("STOP" in text for text in HELP_TEXT.values())
    assert CANCEL_INSTRUCTION.search("Reply CANCEL to end your contract")  # the check works


def test_no_bot_response_tells_anyone_to_text_cancel() -> None:
    for text in _domain_texts():
        assert not CANCEL_INSTRUCTION.search(text), text
        assert not re.search(r"\bCANCEL\b", text), text


# === the channel alone: real Sanic, real signatures, scripted bot =============================


def scripted(replies: dict[str, list[dict[str, Any]]]) -> Any:
    def bot(message: UserMessage) -> list[dict[str, Any]]:
        return [dict(r) for r in replies.get(message.text or "", [{"text": "Vale."}])]
    return bot


@pytest.fixture()
def sms_channel() -> TwilioSMSInput:
    return TwilioSMSInput(auth_token=TOKEN, public_base_url=PUBLIC_BASE_URL)


async def test_unsigned_forged_or_misaddressed_requests_get_403(
        twilio_db: str, sms_channel: TwilioSMSInput) -> None:
    async with ChannelHarness(sms_channel, scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        params = sms_params(LUCIA, "hola")
        local_signature = RequestValidator(TOKEN).compute_signature(
            harness.server_url + harness.webhook, params)
        forged = RequestValidator("forged-" + "0" * 25).compute_signature(
            PUBLIC_BASE_URL + harness.webhook, params)
        for reply in [await harness.post(params, signed=False),
                      await harness.post(params, signature=forged),
                      await harness.post(params, signature=local_signature),
                      await harness.post(params, signature="")]:
            assert reply.status == 403
        tampered = dict(params, Body="tramita la baja ya")
        assert (await harness.post(tampered, signature=harness.signature(
            harness.webhook, params))).status == 403
        assert harness.received == []
        with session_scope() as session:  # nothing recorded either
            assert session.scalar(select(ProcessedMessage).where(
                ProcessedMessage.key == f"sms:{params['MessageSid']}")) is None


async def test_without_public_url_the_request_url_is_signed(twilio_db: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    channel = TwilioSMSInput(auth_token=TOKEN)
    async with ChannelHarness(channel, scripted({}), TOKEN, None) as harness:
        assert messages_of(await harness.post(sms_params(LUCIA, "hola"))) == ["Vale."]


async def test_without_auth_token_everything_is_refused(twilio_db: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    channel = TwilioSMSInput(auth_token=None, public_base_url=PUBLIC_BASE_URL)
    async with ChannelHarness(channel, scripted({}), "", PUBLIC_BASE_URL) as harness:
        assert (await harness.post(sms_params(LUCIA, "hola"))).status == 403
        assert harness.received == []


async def test_sender_is_identified_by_number_with_server_metadata(
        twilio_db: str, sms_channel: TwilioSMSInput) -> None:
    async with ChannelHarness(sms_channel, scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        params = sms_params(LUCIA, "/cancel_firm", customer_phone="+447700900006",
                            phone_verified="true", channel="web", customer_ref="C00007")
        assert messages_of(await harness.post(params)) == ["Vale."]
        message = harness.received[0]
        assert message.text == "cancel_firm"  # no intent injection
        assert message.sender_id == f"sms-{LUCIA}"
        assert message.input_channel == "twilio"
        assert message.metadata == {"twilio_message_sid": params["MessageSid"], "channel": "sms",
                                    "authenticated": False, "customer_phone": LUCIA,
                                    "phone_verified": True, "source": f"sms:{LUCIA}"}


async def test_numbered_reply_maps_to_the_last_buttons(twilio_db: str,
                                                       sms_channel: TwilioSMSInput) -> None:
    bot = scripted({"quiero la baja": [{"text": "Oferta.\n\n¿Te interesa?",
                                        "buttons": OFFER_BUTTONS}],
                    "/cancel_firm": [{"text": "Baja tramitada."}]})
    async with ChannelHarness(sms_channel, bot, TOKEN, PUBLIC_BASE_URL) as harness:
        [offer] = messages_of(await harness.post(sms_params(UNKNOWN, "quiero la baja")))
        assert offer == ("Oferta.\n\n¿Te interesa?\n1. Sí, me interesa\n2. No, quiero la baja\n"
                         "Responde 1 o 2.")
        assert messages_of(await harness.post(sms_params(UNKNOWN, "2"))) == ["Baja tramitada."]
        assert harness.received[-1].text == "/cancel_firm"
        # the choices were answered: a later "1" is just text
        messages_of(await harness.post(sms_params(UNKNOWN, "1")))
        assert harness.received[-1].text == "1"


async def test_long_reply_is_split_into_ordered_segments(twilio_db: str,
                                                         sms_channel: TwilioSMSInput) -> None:
    long_text = " ".join(f"Paso {i}: revisa tu contrato y tu factura de este mes." for i in range(90))
    bot = scripted({"plan": [{"text": long_text}, {"text": "¿Algo más? 🙂"}]})
    async with ChannelHarness(sms_channel, bot, TOKEN, PUBLIC_BASE_URL) as harness:
        segments = messages_of(await harness.post(sms_params(LUCIA, "plan")))
    assert len(segments) >= 3
    assert all(len(s) <= 1600 for s in segments)
    assert [s.split(" ", 1)[0] for s in segments] == [f"({i}/{len(segments)})"
                                                      for i in range(1, len(segments) + 1)]
    joined = " ".join(s.split(" ", 1)[1] for s in segments)
    assert re.sub(r"\s+", " ", joined) == long_text + " ¿Algo más?"


async def test_missing_body_gets_a_polite_reply_in_the_customers_language(
        twilio_db: str, sms_channel: TwilioSMSInput) -> None:
    async with ChannelHarness(sms_channel, scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        assert messages_of(await harness.post(sms_params(JOHN, None, NumMedia="1"))) == \
            [EMPTY_BODY_TEXT["en"]]
        assert messages_of(await harness.post(sms_params(LUCIA, "   "))) == [EMPTY_BODY_TEXT["es"]]
        assert harness.received == []


async def test_a_retried_message_sid_makes_one_turn(twilio_db: str,
                                                    sms_channel: TwilioSMSInput) -> None:
    async with ChannelHarness(sms_channel, scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        params = sms_params(LUCIA, "hola")
        assert messages_of(await harness.post(params)) == ["Vale."]
        assert messages_of(await harness.post(params)) == []
        assert len(harness.received) == 1


async def test_a_failing_turn_apologises_and_keeps_the_message(twilio_db: str,
                                                                sms_channel: TwilioSMSInput) -> None:
    """The customer hears that a person will answer; the message waits in the outbox, and a
    retried delivery of the same SMS makes no second turn."""
    calls = []

    def flaky(message: UserMessage) -> list[dict[str, Any]]:
        calls.append(message.text)
        if len(calls) == 1:
            raise RuntimeError("action server down")
        return [{"text": "Ya funciona."}]

    async with ChannelHarness(sms_channel, flaky, TOKEN, PUBLIC_BASE_URL) as harness:
        params = sms_params(LUCIA, "hola")
        assert messages_of(await harness.post(params)) == [FAULT_TEXT["es"]]
        [kept] = outbox.entries(outbox.PENDING)
        assert (kept.conversation_id, kept.text, kept.kind) == (f"sms-{LUCIA}", "hola", "unserved")
        assert messages_of(await harness.post(params)) == []
        assert messages_of(await harness.post(sms_params(LUCIA, "hola otra vez"))) == ["Ya funciona."]


async def test_a_turn_without_output_still_answers(twilio_db: str,
                                                   sms_channel: TwilioSMSInput) -> None:
    async with ChannelHarness(sms_channel, lambda _: [{"custom": {"x": 1}}], TOKEN,
                              PUBLIC_BASE_URL) as harness:
        assert messages_of(await harness.post(sms_params(JOHN, "ok"))) == [NO_REPLY_TEXT["en"]]


async def test_language_comes_from_the_conversation(twilio_db: str,
                                                   sms_channel: TwilioSMSInput) -> None:
    async with ChannelHarness(sms_channel, scripted({"hi": [{"text": "Hi!",
                                                            "buttons": OFFER_BUTTONS}]}),
                              TOKEN, PUBLIC_BASE_URL) as harness:
        harness.trackers[f"sms-{LUCIA}"] = ("en", False)  # Lucía wrote in English
        [text] = messages_of(await harness.post(sms_params(LUCIA, "hi")))
        assert text.endswith("Reply 1 or 2.")


async def test_silent_while_a_person_has_the_conversation(twilio_db: str,
                                                         sms_channel: TwilioSMSInput) -> None:
    async with ChannelHarness(sms_channel, lambda _: [], TOKEN, PUBLIC_BASE_URL) as harness:
        harness.trackers[f"sms-{LUCIA}"] = ("es", True)  # handed off: paused
        assert messages_of(await harness.post(sms_params(LUCIA, "¿sigue ahí alguien?"))) == []
        assert len(harness.received) == 1  # the message is in the conversation for the agent


def _opted_out_at(phone: str) -> Any:
    with session_scope() as session:
        customer = find_customer(session, phone=phone)
        assert customer is not None
        return customer.sms_opted_out_at


async def test_opt_out_keyword_is_recorded_logged_and_kept_from_the_bot(
        twilio_db: str, sms_channel: TwilioSMSInput, caplog: pytest.LogCaptureFixture) -> None:
    phone = "+447700900002"  # C00003
    async with ChannelHarness(sms_channel, scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        with caplog.at_level(logging.INFO, logger="bot.channels.twilio_sms"):
            reply = await harness.post(sms_params(phone, "Cancel", OptOutType="STOP"))
        assert messages_of(reply) == []  # the number is blocked: no answer is possible
        assert _opted_out_at(phone) is not None
        case_lines = [r.getMessage() for r in caplog.records if "SMS opt-out case" in r.getMessage()]
        assert len(case_lines) == 1
        assert '"customer_ref": "C00003"' in case_lines[0]
        assert '"keyword": "CANCEL"' in case_lines[0]
        assert '"possible_contract_cancellation": true' in case_lines[0]
        assert phone not in caplog.text and mask_phone(phone) in case_lines[0]  # last 3 digits only

        # START opts back in, again without the bot; HELP gets our help text
        assert messages_of(await harness.post(sms_params(phone, "START",
                                                         OptOutType="START"))) == []
        assert _opted_out_at(phone) is None
        [help_text] = messages_of(await harness.post(sms_params(phone, "help",
                                                                OptOutType="HELP")))
        assert help_text == HELP_TEXT["es"]
        assert harness.received == []

        # "YES" is an opt-in keyword too, but from a subscribed customer it answers our question
        messages_of(await harness.post(sms_params(phone, "YES", OptOutType="START")))
        assert [m.text for m in harness.received] == ["YES"]


async def test_help_for_an_english_customer(twilio_db: str, sms_channel: TwilioSMSInput) -> None:
    async with ChannelHarness(sms_channel, scripted({}), TOKEN, PUBLIC_BASE_URL) as harness:
        assert messages_of(await harness.post(sms_params(JOHN, "INFO", OptOutType="HELP"))) == \
            [HELP_TEXT["en"]]


# === the whole stack: Rasa, the action server and the database ===============================


def sms(twilio_stack: TwilioStack, phone: str, body: str | None, **extra: str) -> list[str]:
    reply = twilio_stack.caller.post(SMS_WEBHOOK, sms_params(phone, body, **extra))
    assert reply.status == 200, (reply, twilio_stack.logs())
    return messages_of(reply)


def tracker_events(twilio_stack: TwilioStack, sender_id: str) -> list[str]:
    path = twilio_stack.stack.tracker_db
    if not Path(path).exists():
        return []
    with sqlite3.connect(path) as db:
        try:
            rows = db.execute("SELECT type_name, data FROM events WHERE sender_id = ? ORDER BY id",
                              (sender_id,)).fetchall()
        except sqlite3.OperationalError:
            return []
    return [f"{kind} {data}" for kind, data in rows]


def user_texts(twilio_stack: TwilioStack, sender_id: str) -> list[str]:
    import json

    return [json.loads(e.split(" ", 1)[1]).get("text") for e in tracker_events(twilio_stack,
                                                                                 sender_id)
            if e.startswith("user ")]


def assert_phone_friendly(text: str) -> None:
    assert not EMOJI_RE.search(text), text
    for mark in ("**", "__", "](", "/affirm", "/cancel_firm", "/deny", "/reason_"):
        assert mark not in text, (mark, text)


@pytest.fixture()
def stack_db(twilio_stack: TwilioStack, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point this process's ``session_scope()`` at the stack's database."""
    monkeypatch.setenv("DATABASE_URL", twilio_stack.stack.database_url)
    return str(twilio_stack.stack.database_url)


@pytest.mark.e2e
def test_stack_refuses_unsigned_and_forged_sms(twilio_stack: TwilioStack) -> None:
    phone = "+447700900005"
    params = sms_params(phone, "quiero darme de baja")
    forged = RequestValidator("forged-" + "1" * 25).compute_signature(
        PUBLIC_BASE_URL + SMS_WEBHOOK, params)
    loopback = twilio_stack.caller.validator.compute_signature(
        twilio_stack.stack.rasa_url + SMS_WEBHOOK, params)
    for kwargs in ({"signed": False}, {"signature": forged}, {"signature": loopback}):
        assert twilio_stack.caller.post(SMS_WEBHOOK, params, **kwargs).status == 403
    assert tracker_events(twilio_stack, f"sms-{phone}") == []
    # and a correctly signed one from the same number reaches the conversation
    assert sms(twilio_stack, phone, "hola")
    assert user_texts(twilio_stack, f"sms-{phone}") == ["hola"]


@pytest.mark.e2e
def test_spanish_sms_cancel_reason_offer_accepted_with_1(twilio_stack: TwilioStack,
                                                         stack_db: str) -> None:
    replies = sms(twilio_stack, LUCIA, "quiero darme de baja porque es muy caro")
    text = "\n".join(replies)
    assert_phone_friendly(text)
    assert "1. Sí, me interesa" in text and "2. No, quiero la baja" in text
    assert text.rstrip().endswith("Responde 1 o 2.")
    assert "descuento" in text

    accepted = "\n".join(sms(twilio_stack, LUCIA, "1"))
    assert_phone_friendly(accepted)
    reference = re.search(r"referencia es ([A-Z]+-[A-Z0-9]+)", accepted)
    assert reference, accepted
    with session_scope() as session:
        case = session.scalar(select(RetentionCase).where(
            RetentionCase.reference == reference.group(1)))
        assert case is not None and case.status == "retained" and case.channel == "sms"
        assert case.customer is not None and case.customer.ref == "C00001"
    assert user_texts(twilio_stack, f"sms-{LUCIA}")[-1] == "/affirm"


@pytest.mark.e2e
def test_english_sms_cancel_reason_offer_then_cancellation(twilio_stack: TwilioStack,
                                                           stack_db: str) -> None:
    text = "\n".join(sms(twilio_stack, JOHN, "I want to cancel, it's too expensive"))
    assert_phone_friendly(text)
    assert "1. Yes, I'd like that" in text and "2. No, close my account" in text
    assert text.rstrip().endswith("Reply 1 or 2.")

    done = "\n".join(sms(twilio_stack, JOHN, "2"))
    assert_phone_friendly(done)
    confirmation = re.search(r"Confirmation number: ([A-Z]+-[A-Z0-9]+)", done)
    assert confirmation, done
    with session_scope() as session:
        case = session.scalar(select(RetentionCase).where(
            RetentionCase.confirmation_number == confirmation.group(1)))
        assert case is not None and case.status == "cancelled" and case.language == "en"
        assert case.customer is not None and case.customer.ref == "C00002"


@pytest.mark.e2e
def test_unknown_number_must_verify_before_any_change(twilio_stack: TwilioStack,
                                                      stack_db: str) -> None:
    text = "\n".join(sms(twilio_stack, UNKNOWN, "quiero darme de baja porque es muy caro"))
    assert "número de cliente" in text
    text = "\n".join(sms(twilio_stack, UNKNOWN, "tramita la baja ya"))
    assert "confirmación" not in text.lower()
    with session_scope() as session:
        cases = session.scalars(select(RetentionCase).where(
            RetentionCase.conversation_id == f"sms-{UNKNOWN}")).all()
        assert all(c.reference is None and c.confirmation_number is None for c in cases)
        assert all(c.customer_id is None for c in cases)


@pytest.mark.e2e
def test_duplicate_message_sid_makes_one_turn(twilio_stack: TwilioStack) -> None:
    phone = "+447700900003"  # C00004
    sid = "SM" + uuid.uuid4().hex
    first = sms(twilio_stack, phone, "hola", MessageSid=sid, SmsSid=sid, SmsMessageSid=sid)
    assert first
    assert sms(twilio_stack, phone, "hola", MessageSid=sid, SmsSid=sid, SmsMessageSid=sid) == []
    assert user_texts(twilio_stack, f"sms-{phone}") == ["hola"]


@pytest.mark.e2e
def test_opt_out_keyword_reaches_no_conversation(twilio_stack: TwilioStack,
                                                 stack_db: str) -> None:
    phone = "+447700900002"  # C00003
    assert sms(twilio_stack, phone, "CANCEL", OptOutType="STOP") == []
    assert _opted_out_at(phone) is not None
    assert tracker_events(twilio_stack, f"sms-{phone}") == []
    assert "SMS opt-out case" in twilio_stack.logs("rasa", 400)
    assert TOKEN not in twilio_stack.logs("rasa", 2000)
    assert twilio_stack.auth_token not in twilio_stack.logs("rasa", 2000)


@pytest.mark.e2e
def test_cancel_then_cold_sms_then_yes_reactivates(twilio_stack: TwilioStack, stack_db: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole win-back path: hot cancellation by SMS -> campaign SMS through the Twilio
    stand-in after the cool-down -> the customer answers "sí" -> subscription reactivated."""
    import asyncio
    from datetime import datetime, timedelta

    from bot.core.campaign_runner import run_campaign
    from bot.messaging.sms import SmsSender
    from bot.storage.db import session_factory
    from bot.storage.models import ColdCase
    from tests.support.twilio_standin import TWILIO_NUMBER, TwilioApiStandIn

    carlos = "+447700900030"  # C00031: a seeded customer no other test uses, made Spanish and consenting
    with session_scope() as session:
        customer = find_customer(session, ref="C00031")
        customer.language, customer.consent_sms_marketing, customer.sms_opted_out_at = "es", True, None
        customer.timezone = "Europe/Madrid"
    asked = "\n".join(sms(twilio_stack, carlos, "no quiero ofertas, tramita mi baja ahora mismo"))
    assert "¿quieres que tramite ahora la baja" in asked, asked  # a typed first request is read back once
    with session_scope() as session:
        assert find_customer(session, ref="C00031").current_subscription.status == "active"
    done = "\n".join(sms(twilio_stack, carlos, "si"))
    assert re.search(r"BAJA-[0-9A-F]{8}", done), done
    with session_scope() as session:
        customer = find_customer(session, ref="C00031")
        assert customer.current_subscription.status == "cancelled"
        cold = session.scalar(select(ColdCase).where(ColdCase.customer_id == customer.id))
        assert cold is not None and cold.status in ("cooling", "waiting_fix")
        due_on = cold.due_on
        if cold.status == "waiting_fix":  # the open outage is fixed
            cold.status, cold.problem_solved_at = "cooling", datetime(2026, 1, 1)

    with TwilioApiStandIn() as standin:
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", standin.account_sid)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", standin.auth_token)
        monkeypatch.setenv("TWILIO_NUMBER", TWILIO_NUMBER)
        monkeypatch.setenv("TWILIO_API_BASE_URL", standin.base_url)
        sender = SmsSender.from_env(backoff_seconds=0.0)
        when = datetime.combine(due_on + timedelta(days=1), datetime.min.time()) + timedelta(hours=10)
        factory = session_factory(stack_db)
        summary = asyncio.run(run_campaign(factory, sender, "winback-test", when, False, None))
        to_carlos = [m for m in standin.messages if m["To"] == carlos]
        assert len(to_carlos) == 1, (summary, standin.messages)
        assert "SI" in to_carlos[0]["Body"].upper() and "CANCEL" not in to_carlos[0]["Body"].upper()

    answer = "\n".join(sms(twilio_stack, carlos, "sí"))
    assert_phone_friendly(answer)
    reference = re.search(r"referencia es ([A-Z]+-[A-Z0-9]+)", answer)
    assert reference, answer
    with session_scope() as session:
        customer = find_customer(session, ref="C00031")
        assert customer.current_subscription.status == "active"
        cold = session.scalar(select(ColdCase).where(ColdCase.customer_id == customer.id))
        assert cold.status == "won_back" and cold.reference == reference.group(1)
