"""A complaint as the first message ("el internet me va lentísimo") is not leaving (issue 18).

It opens no retention case and gets no retention offer: the assistant says sorry and asks once
whether the customer is thinking of leaving. Yes (or unsure) starts the retention talk with the
complaint as the case's reason; "just cancel it" is the cancellation asked for; no changes
nothing. Real SQLite with the seeded customers and the real offer catalogue; the answers are
the customer's own words, read by ``bot.core.answers``.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.answers import Answer, Question, read
from bot.core.conversation import Conversation
from bot.core.customers import find_customer
from bot.core.retention import RetentionService
from bot.storage.models import RetentionCase
from tests.core.test_retention import TODAY, conv, responses

COMPLAINT = "el internet me va lentísimo desde hace una semana"


@pytest.fixture()
def svc(db_session: Session) -> RetentionService:
    return RetentionService(db_session, today=TODAY)


def complained(session: Session, ref: str = "C00004", language: str = "es") -> Conversation:
    return replace(conv(session, ref, language=language), asked_to_leave=False)


def cases(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RetentionCase))


def answer_complaint(svc: RetentionService, session: Session, text: str, ref: str = "C00004",
                     language: str = "es") -> tuple[list[str], str | None]:
    first = svc.set_reason(complained(session, ref, language), "service_failure", COMPLAINT)
    assert first.stage == "complaint" and cases(session) == 0
    after = replace(complained(session, ref, language), stage="complaint", reason="service_failure",
                    previous_text=COMPLAINT, asked_to_leave=False)
    turn = svc.answer(after, text, None)
    return responses(first) + ["|"] + responses(turn), turn.stage


def test_a_complaint_opens_no_case_and_asks_once_whether_they_are_leaving(
        svc: RetentionService, db_session: Session) -> None:
    turn = svc.set_reason(complained(db_session), "service_failure", COMPLAINT)
    assert responses(turn) == ["utter_ack_service_failure", "utter_ask_leaving"]
    assert turn.stage == "complaint" and cases(db_session) == 0


@pytest.mark.parametrize("text", ["no, solo quiero que se solucione", "No, solo quiero que se solucione",
                                  "no", "nah", "de momento no", "no, me quedo", "ni de coña",
                                  "No, I just want it sorted", "not really"])
def test_no_to_leaving_changes_nothing_and_offers_a_person(svc: RetentionService, db_session: Session,
                                                           text: str) -> None:
    said, stage = answer_complaint(svc, db_session, text)
    assert said[-1] == "utter_complaint_noted" and stage is None
    assert cases(db_session) == 0
    assert find_customer(db_session, ref="C00004").current_subscription.status == "active"


@pytest.mark.parametrize("text", ["sí", "Sí, me quiero dar de baja", "venga, sí", "pues la verdad es que sí",
                                  "me lo estoy pensando", "no sé", "Yes, I want to cancel", "maybe"])
def test_yes_or_unsure_starts_the_retention_talk_with_the_complaint_as_reason(
        svc: RetentionService, db_session: Session, text: str) -> None:
    said, stage = answer_complaint(svc, db_session, text)
    assert stage == "offer", said
    assert said.count("utter_ack_service_failure") == 1  # said sorry once, not again
    case = db_session.scalar(select(RetentionCase))
    assert case.reason == "service_failure" and case.reason_verbatim == COMPLAINT
    assert [o.outcome for o in case.offers] == ["pending"]
    assert find_customer(db_session, ref="C00004").current_subscription.status == "active"


@pytest.mark.parametrize("text", ["solo dadme de baja ya", "just cancel it", "tramitad la baja ya, sin más"])
def test_just_cancel_it_is_the_cancellation_asked_for(svc: RetentionService, db_session: Session,
                                                      text: str) -> None:
    said, _ = answer_complaint(svc, db_session, text)
    assert "utter_cancel_confirmed" in said, said
    assert find_customer(db_session, ref="C00004").current_subscription.status == "cancelled"
    assert db_session.scalar(select(RetentionCase)).reason == "service_failure"


def test_a_person_when_asked(svc: RetentionService, db_session: Session) -> None:
    svc.set_reason(complained(db_session), "service_failure", COMPLAINT)
    turn = svc.answer(replace(complained(db_session), stage="complaint"), "Quiero hablar con una persona", None)
    assert turn.handoff == "asked"


def test_someone_who_said_they_want_to_leave_gets_the_offer_at_once(svc: RetentionService,
                                                                    db_session: Session) -> None:
    turn = svc.set_reason(conv(db_session, "C00004"), "service_failure", "me quiero ir, esto va fatal")
    assert turn.stage == "offer" and cases(db_session) == 1


@pytest.mark.parametrize("text", ["estoy pensando en darme de baja", "me estoy planteando la baja",
                                  "I might cancel"])
def test_thinking_of_leaving_is_never_a_cancellation(text: str) -> None:
    """Said to an offer or to the read-back, a leaving only thought of is unsure, never "cancel now"."""
    for question in (Question.OFFER, Question.CONFIRM_CANCEL):
        assert read(text, question).answer is Answer.UNDECIDED, (text, question)
    assert read("quiero darme de baja", Question.OFFER).answer is Answer.CANCEL
    assert read("could you cancel it now", Question.CONFIRM_CANCEL).answer is Answer.CANCEL


@pytest.mark.parametrize("text", ["hola el internet me va lentísimo desde hace una semana",
                                  "my wifi keeps dropping out every evening it's a joke",
                                  "yeah hi um my bill's gone up again and honestly it's ridiculous"])
def test_a_complaint_the_model_read_as_leaving_is_asked_not_assumed(svc: RetentionService,
                                                                    db_session: Session, text: str) -> None:
    """Probe finding (a customer walk): longer complaints were read by the intent model as
    leaving with a reason, and a case and an offer followed. No word of leaving was said."""
    conversation = complained(db_session)
    turn = svc.opening(conversation, text, "cancel+reason_service_failure")
    assert turn is not None and responses(turn) == ["utter_ack_service_failure", "utter_ask_leaving"]
    assert turn.stage == "complaint" and cases(db_session) == 0


@pytest.mark.parametrize("text", ["quiero darme de baja, el internet me va lentísimo",
                                  "I'm thinking about cancelling, the internet is so slow",
                                  "me voy a otra compañía, el internet va fatal",
                                  "no quiero darme de baja, solo que el internet va lento"])
def test_words_of_leaving_or_staying_are_not_a_bare_complaint(svc: RetentionService, db_session: Session,
                                                               text: str) -> None:
    turn = svc.opening(conv(db_session, "C00004"), text, "cancel+reason_service_failure")
    assert turn is None or "utter_ask_leaving" not in responses(turn)


def test_the_price_quoted_for_a_plan_change_is_the_price_charged(svc: RetentionService, db_session: Session) -> None:
    """Probe finding (a customer walk): "a Fibra 600 Mb por 36,90 €/mes", then "Hecho ... 31,36 €/mes":
    the running 15 % discount went with the customer but was not in the quote."""
    customer = find_customer(db_session, ref="C00004")
    customer.current_subscription.discount_pct = 15
    options = svc.plan_options(conv(db_session, "C00004"))
    proposal = svc.propose_plan(conv(db_session, "C00004", stage="choose_plan"), "fibra_600")
    quoted = proposal.replies[-1].params["new_price"]
    done = svc.change_plan(conv(db_session, "C00004", stage="plan_change"), "fibra_600")
    assert options.stage == "choose_plan"
    listed = next(line for line in options.replies[-1].params["plan_list"].splitlines() if "600" in line)
    assert quoted in listed, (listed, quoted)  # the list quotes what the read-back will (walk finding)
    assert done.replies[-1].params["new_price"] == quoted
    assert quoted.startswith("31,3"), quoted  # 36,90 € less 15 %, not the list price
    assert customer.current_subscription.plan_code == "fibra_600"


def test_what_are_my_options_from_someone_not_leaving_lists_the_plans_and_opens_no_case(
        svc: RetentionService, db_session: Session) -> None:
    """Probe finding (a customer walk): "what are my options" as a first message opened a case with
    the reason low_usage, made up, and started an action plan."""
    turn = svc.start_action_plan(complained(db_session), "what are my options")
    assert turn.stage == "choose_plan" and responses(turn) == ["utter_change_plan"]
    assert cases(db_session) == 0
    leaving = svc.start_action_plan(conv(db_session, "C00004"), "quiero un plan personalizado")
    assert leaving.stage == "plan_goal" and cases(db_session) == 1  # someone who spoke of leaving


def test_a_reason_told_at_the_read_back_is_kept_on_the_case(svc: RetentionService, db_session: Session) -> None:
    """Probe finding (a customer walk): after "no tengo ninguna oferta ... ¿quieres que tramite la
    baja?", "el servicio falla mucho" was not recorded; the question is asked again, the reason kept."""
    svc.start(conv(db_session, "C00004"), reason="competitor", verbatim="me quiero ir a otra compañía")
    turn = svc.answer(conv(db_session, "C00004", stage="confirm_cancel"), "el servicio falla mucho",
                      "reason_service_failure")
    case = db_session.scalar(select(RetentionCase))
    assert case.reason == "competitor" and case.later_reasons == "service_failure"
    assert turn.stage == "clarify_cancel"
    assert find_customer(db_session, ref="C00004").current_subscription.status == "active"


def test_a_yes_right_after_a_person_was_offered_is_the_person(svc: RetentionService, db_session: Session) -> None:
    """Probe finding (a customer walk): "si lo prefieres, te paso con una persona" then "I guess so"
    ended in "anything else?" and no ticket."""
    assert svc.yes_to_a_person(conv(db_session, "C00004"), "utter_other_request").handoff == "asked"
    assert svc.yes_to_a_person(conv(db_session, "C00004"), "utter_complaint_noted").handoff == "asked"
    assert svc.yes_to_a_person(conv(db_session, "C00004"), "utter_offer") is None
    assert svc.yes_to_a_person(conv(db_session, "C00004"), None) is None


def test_not_leaving_with_a_complaint_hears_the_complaint(svc: RetentionService, db_session: Session) -> None:
    """Walk finding: "no pienso irme, pero quiero que me compenséis por el corte de ayer", read by
    the model as leaving over the service, got "no he cambiado nada" and nothing about the outage."""
    text = "no pienso irme, pero quiero que me compenséis por el corte de ayer"
    turn = svc.opening(complained(db_session), text, "cancel+reason_service_failure")
    said = [r.response for r in turn.replies]
    assert said[0].startswith("utter_ack") and said[-1] == "utter_complaint_noted"
    assert cases(db_session) == 0


def test_staying_with_a_question_about_the_contract_end_gets_the_answer(svc: RetentionService,
                                                                         db_session: Session) -> None:
    """Walk finding: "no, I'll keep my service, but when does my contract end?" got only "I
    haven't changed anything"."""
    turn = svc.opening(complained(db_session, "C00002", "en"),
                       "no, I'll keep my service, but when does my contract end?", "cancel")
    assert [r.response for r in turn.replies] == ["utter_contract_end"] and cases(db_session) == 0
