"""Answers read against the question just asked (bot.core.answers), in both languages."""

from __future__ import annotations

import pytest

from bot.core.answers import Answer, Question, read
from bot.core.customer_statements import stated_months

CONFIRM = Question.CONFIRM_CANCEL
OFFER = Question.OFFER

CASES = [
    # the failure told again to an offer is not a "no" to it (walk finding: it cancelled)
    (OFFER, "pues que no funciona", Answer.UNCLEAR), (OFFER, "nada, que no me va el internet", Answer.UNCLEAR),
    (OFFER, "the internet is not working, that's the point", Answer.UNCLEAR),
    (OFFER, "no, no me interesa", Answer.NO), (OFFER, "no me funciona, quiero la baja", Answer.CANCEL),
    # the read-back "shall I process the cancellation now?"
    (CONFIRM, "sí, hazlo", Answer.CANCEL), (CONFIRM, "yes, cancel it", Answer.CANCEL),
    (CONFIRM, "adelante", Answer.CANCEL), (CONFIRM, "venga, sí", Answer.CANCEL),
    (CONFIRM, "/affirm", Answer.CANCEL), (CONFIRM, "si hazlo", Answer.CANCEL),
    (CONFIRM, "no, I'll stay for now", Answer.STAY), (CONFIRM, "mejor no", Answer.STAY),
    (CONFIRM, "no quiero cancelar", Answer.STAY), (CONFIRM, "I don't want to cancel", Answer.STAY),
    (CONFIRM, "nope", Answer.STAY), (CONFIRM, "/deny", Answer.STAY),
    (CONFIRM, "no quiero que me deis de baja", Answer.STAY), (CONFIRM, "no lo canceles", Answer.STAY),
    (CONFIRM, "q si, q la tramites ya, no m hagas repetirlo", Answer.CANCEL),
    (CONFIRM, "yep go ahead", Answer.CANCEL), (CONFIRM, "no hold on, not yet", Answer.UNDECIDED),
    (CONFIRM, "no sé si cancelar", Answer.UNDECIDED), (CONFIRM, "me lo pienso", Answer.UNDECIDED),
    (CONFIRM, "maybe", Answer.UNDECIDED), (CONFIRM, "sí... bueno no", Answer.UNDECIDED),
    # an offer
    (OFFER, "vale", Answer.YES), (OFFER, "ok fine", Answer.YES), (OFFER, "deal", Answer.YES),
    (OFFER, "fine, but they'd better show up this time", Answer.YES), (OFFER, "siii", Answer.YES),
    (OFFER, "no", Answer.NO), (OFFER, "nah", Answer.NO), (OFFER, "no gracias", Answer.NO),
    (OFFER, "no me interesa", Answer.NO),
    (OFFER, "no, just cancel", Answer.CANCEL), (OFFER, "no i said cancel it", Answer.CANCEL),
    (OFFER, "no quiero ofertas dame de baja", Answer.CANCEL),
    (OFFER, "no deal just cancel it now", Answer.CANCEL),
    (OFFER, "vale venga si me interesa", Answer.YES), (OFFER, "vale, me quedo con eso", Answer.YES),
    (OFFER, "lo tengo q hablar con mi mujer, ya t digo", Answer.UNDECIDED),
    (OFFER, "no me interesa, quiero darme de baja", Answer.CANCEL),
    (OFFER, "ya no quiero seguir", Answer.CANCEL), (OFFER, "no me quedo, me voy", Answer.CANCEL),
    # "no me quedo" / "no quiero seguir" opening an answer may be "no, me quedo" (a transcript
    # has no commas): one clarifying question, never a cancellation
    (OFFER, "no me quedo", Answer.UNDECIDED), (OFFER, "no quiero seguir", Answer.UNDECIDED),
    (CONFIRM, "no mejor no me quedo de momento", Answer.UNDECIDED),
    (OFFER, "bueno, me lo pienso y ya os digo, de momento sigo", Answer.STAY),
    (OFFER, "I'll stay as I am", Answer.STAY),
    (OFFER, "vale, pero me lo pienso", Answer.UNDECIDED), (OFFER, "let me think about it", Answer.UNDECIDED),
    # a "yes, but" that trails off is not a yes (found walking the website chat)
    (OFFER, "vale, pero...", Answer.UNDECIDED), (OFFER, "ok but", Answer.UNDECIDED),
    (OFFER, "fine, but I want it in writing", Answer.YES),
    (OFFER, "quiero hablar con una persona", Answer.HUMAN),
    (OFFER, "solo quiero quitar el móvil, la fibra me la quedo", Answer.PARTIAL),
    # the reason question
    (Question.REASON, "sí, cancélalo", Answer.CANCEL),
    (Question.REASON, "que no que quiero la baja", Answer.CANCEL), (Question.REASON, "no sé", Answer.UNCLEAR),
    # no question pending
    (Question.OPEN, "me he arrepentido, anula la baja por favor", Answer.UNDO),
    (Question.OPEN, "I changed my mind, keep my service", Answer.UNDO),
    (Question.OPEN, "drop the tv, keep the rest", Answer.PARTIAL),
    (Question.OPEN, "m he liado, reactivad mi linea porfa, no kiero la baja", Answer.UNDO),
    (Question.OPEN, "kiero kitar la linea movil y dejar solo la fibra", Answer.PARTIAL),
]


@pytest.mark.parametrize(("question", "text", "expected"), CASES)
def test_answer_in_context(question: Question, text: str, expected: Answer) -> None:
    assert read(text, question).answer is expected


def test_an_unsure_answer_is_never_a_yes() -> None:
    for text in ("no sé", "me lo pienso", "maybe", "not sure", "quizá", "vale, pero no sé",
                 "ok but let me think", "hmm", "ya os digo"):
        for question in (CONFIRM, OFFER, Question.PLAN_CHANGE, Question.WINBACK):
            assert read(text, question).answer not in (Answer.YES, Answer.CANCEL), (text, question)


def test_the_service_dropped_from_a_bundle() -> None:
    assert read("solo quiero quitar el móvil, la fibra me la quedo", OFFER).drop == "mobile"
    assert read("drop the tv, keep the rest", OFFER).drop == "tv"
    assert read("quiero darme de baja de todo", OFFER).drop is None


def test_stated_absence_in_months() -> None:
    assert stated_months("me voy seis meses a Chile") == 6
    assert stated_months("I'll be away for 3 months") == 3
    assert stated_months("me mudo un año a Londres") == 12
    assert stated_months("es muy caro") is None


def test_leaving_the_country() -> None:
    from bot.core.customer_statements import moving_abroad

    assert moving_abroad("I'm moving abroad for six months") and moving_abroad("me voy al extranjero")
    assert moving_abroad("nos mudamos a otro país") and not moving_abroad("me mudo a Valencia")
    # a country or a city abroad by name (walk finding: "moving back to the UK" was offered the move)
    assert moving_abroad("we're heading back to the States in March") and moving_abroad("me vuelvo a Colombia")
    assert moving_abroad("nos trasladamos a Alemania") and not moving_abroad("we're moving to a bigger flat")
    assert not moving_abroad("I'm moving house next month")


@pytest.mark.parametrize(("question", "text"), [
    (Question.CONFIRM_CANCEL, "sí, pero antes dime si hay penalización"),
    (Question.OFFER, "sí pero primero dime cuánto me ahorro"),
    (Question.OFFER, "yes but what's the catch"),
    (Question.OFFER, "vale, ¿cuándo empieza?"),
    (Question.OFFER, "sí pero antes quiero saber si hay permanencia"),
    (Question.PLAN_CHANGE, "ok, how much would it be then"),
])
def test_a_yes_with_a_question_or_a_condition_is_not_yet_a_yes(question: Question, text: str) -> None:
    """Probe finding (a customer walk): these cancelled the service or applied the offer at once,
    and the customer's question was never answered. They are asked once more, with choices."""
    assert read(text, question).answer is Answer.UNDECIDED


@pytest.mark.parametrize(("question", "text", "expected"), [
    (Question.OFFER, "fine, but they'd better show up this time", Answer.YES),
    (Question.OFFER, "venga, sí", Answer.YES),
    (Question.CONFIRM_CANCEL, "sí, cancélalo ya, ¿vale?", Answer.CANCEL),
    (Question.CONFIRM_CANCEL, "yes, cancel it", Answer.CANCEL),
])
def test_a_plain_yes_with_a_remark_is_still_a_yes(question: Question, text: str, expected: Answer) -> None:
    assert read(text, question).answer is expected


@pytest.mark.parametrize("text", ["cancel the TV bit, I never watch it", "quiero dar de baja la tele",
                                  "cancel my tv package please"])
def test_removing_the_tv_alone_is_a_partial_request(text: str) -> None:
    """Probe finding (a customer walk): "cancel the TV bit" was read as leaving. TV is never a plan
    on its own, so removing it keeps the rest."""
    reading = read(text, Question.OPEN)
    assert reading.answer is Answer.PARTIAL and reading.drop == "tv"


@pytest.mark.parametrize("text", ["cancel everything including the tv", "quiero darme de baja de todo, tele incluida",
                                  "no veo la tele, quiero darme de baja"])
def test_the_whole_account_with_the_tv_is_not_a_partial_request(text: str) -> None:
    assert read(text, Question.OPEN).answer is not Answer.PARTIAL


# --- first messages: what the words are about (2026-12-04) ---------------------------------------

@pytest.mark.parametrize("text", [
    "quiero cancelar la compra del repetidor", "cancel my booking for saturday",
    "cancelad mi plaza en el taller de la fibra", "please cancel the shipping of my new handset",
    "anulad la suscripción a Spotify que me activasteis", "quiero cancelar el paquete de fútbol",
])
def test_a_cancel_verb_about_another_thing_is_not_leaving(text: str) -> None:
    """Probe finding (first-message evaluation): "cancelen la orden de compra" got the read-back
    "shall I cancel your contract?"."""
    found = read(text, Question.OPEN).signals
    assert "object" in found and "cancel" not in found


@pytest.mark.parametrize("text", [
    "cancel my broadband service", "quiero cancelar el contrato que firmé en 2022", "cancela ya",
    "cancel immediately please", "quiero darme de baja de todo", "close my nubia account",
    "quiero cancelar mi suscripción de fibra",
])
def test_a_cancel_verb_about_the_service_is_leaving(text: str) -> None:
    found = read(text, Question.OPEN).signals
    assert "cancel" in found and "object" not in found


@pytest.mark.parametrize("text", [
    "me voy de viaje a Japón un mes, ¿funciona el roaming?", "me voy a trabajar fuera unos meses",
    "I'm going on holiday next week", "I'm out of the office until Monday",
    "leaving the house now, will call later", "me voy a ir de vacaciones a Italia, ¿hay roaming?",
])
def test_going_somewhere_is_not_leaving_us(text: str) -> None:
    assert "leave" not in read(text, Question.OPEN).signals


@pytest.mark.parametrize("text", [
    "me voy", "me voy con Yoigo", "me voy de Nubia, estoy harta", "I'm leaving you guys",
    "quiero terminar mi contrato", "queremos cerrarlo todo", "he firmado con otra compañía",
    "esta es la última factura que os pago, hasta nunca", "this is my last month with you",
    "not renewing when it ends", "we are switching providers", "solicito la rescisión del contrato",
    "he pedido la portabilidad de las dos líneas y la fibra a Lowi",
    # words a second blind author's training lines used (2026-12-07), in other sentences
    "desde enero no contéis conmigo", "quiero desvincularme de vosotros del todo",
    "me voy igual, decidme cuánto es la penalización", "I'm leaving either way, what's the fee?",
    "please close all my services by Friday", "necesito cerrar todos los servicios de mi padre",
    "me voy a ir, así que decidme qué hago con el router", "no more nubia for us, how does it work",
    "quiero salir de nubia cuanto antes", "we'd like to end the whole contract this month",
])
def test_leaving_in_other_words(text: str) -> None:
    assert "cancel" in read(text, Question.OPEN).signals


@pytest.mark.parametrize("text", [
    "¿puedo bajar de tarifa sin darme de baja?", "can I change plan without cancelling?",
    "no pienso irme, solo quiero que me lo arregléis", "no quiero terminar el contrato",
    "si quisiera irme, ¿cuánto pagaría?", "no me voy a ir, solo preguntaba por la factura",
])
def test_leaving_negated_or_supposed_is_not_leaving(text: str) -> None:
    found = read(text, Question.OPEN).signals
    assert "cancel" not in found


def test_being_left_without_a_service_is_not_removing_it() -> None:
    """"Me quedo sin internet" is a complaint: read as dropping the fibre, a cancellation became a
    plan change."""
    reading = read("me quedo sin internet cada noche y quiero darme de baja", Question.OPEN)
    assert reading.answer is not Answer.PARTIAL and "stay" not in reading.signals


def test_both_services_named_is_not_a_partial_request() -> None:
    assert read("quiero rescindir el contrato de fibra y móvil", Question.OPEN).answer is not Answer.PARTIAL


def test_keep_is_an_english_word() -> None:
    """The SMS spelling "kiero" -> "quiero" turned "keep" into "queep": "I'll keep my service" was
    read as nothing at all."""
    assert read("no, I'll keep my service", CONFIRM).answer is Answer.STAY
    assert read("drop the mobile but keep fibre and tv", Question.OPEN).drop == "mobile"
