"""Hot-retention rules on a real (SQLite) database with the real offer catalogue."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.action_plans import find_by_token, render_text, write_plan
from bot.core.conversation import Conversation, Turn
from bot.core.customers import find_customer
from bot.core.offer_sequence import MAX_SAVE_ATTEMPTS
from bot.core.process import load_policy
from bot.core.retention import RetentionService
from bot.core.subscriptions import expire_offers
from bot.storage.models import ActionPlan, CaseOffer, RetentionCase

TODAY = date(2026, 11, 23)


def conv(session: Session, ref: str | None, stage: str | None = None, cid: str = "conv-1",
         language: str = "es") -> Conversation:
    customer = find_customer(session, ref=ref) if ref else None
    return Conversation(conversation_id=cid, language=language, channel="web",
                        customer_id=customer.id if customer else None,
                        verified=customer is not None, stage=stage)


def responses(turn: Turn) -> list[str]:
    return [r.response for r in turn.replies]


@pytest.fixture()
def svc(db_session: Session) -> RetentionService:
    return RetentionService(db_session, today=TODAY)


def test_cancel_with_reason_in_one_message_gets_matched_offer(svc: RetentionService,
                                                               db_session: Session) -> None:
    turn = svc.start(conv(db_session, "C00001"), reason="price", verbatim="me doy de baja, es caro")
    assert responses(turn)[:2] == ["utter_empathy_cancel", "utter_ack_price"]
    assert "utter_ask_reason" not in responses(turn)  # never asked again
    assert turn.stage == "offer"
    case = db_session.scalar(select(RetentionCase))
    assert case.reason == "price" and case.reason_verbatim == "me doy de baja, es caro"
    assert case.monthly_revenue_at_stake > 0
    assert [o.outcome for o in case.offers] == ["pending"]
    text = turn.replies[-1].params["offer_text"]
    assert "€" in text and "{" not in text


def test_accepting_applies_offer_once_with_reference(svc: RetentionService,
                                                     db_session: Session) -> None:
    c = conv(db_session, "C00001")
    svc.start(c, reason="price", verbatim="caro")
    customer = find_customer(db_session, ref="C00001")
    before = Decimal(customer.current_subscription.monthly_price)
    turn = svc.accept(conv(db_session, "C00001", stage="offer"))
    assert responses(turn) == ["utter_offer_accepted"]
    reference = turn.replies[0].params["reference"]
    case = db_session.scalar(select(RetentionCase))
    assert case.status == "retained" and case.reference == reference
    sub = customer.current_subscription
    offer = case.offers[0]
    if offer.kind == "discount":
        assert Decimal(sub.monthly_price) < before
    assert sub.running_offer_id == offer.offer_id
    after_first = Decimal(sub.monthly_price)
    # The same "yes" delivered twice (a retried webhook) applies nothing twice.
    again = svc.accept(conv(db_session, "C00001", stage="offer"))
    assert again.replies[0].params["reference"] == reference
    assert Decimal(sub.monthly_price) == after_first
    assert db_session.scalar(select(func.count()).select_from(RetentionCase)) == 1


def test_decline_gives_one_alternative_then_cancels(svc: RetentionService,
                                                    db_session: Session) -> None:
    svc.start(conv(db_session, "C00002"), reason="price", verbatim="es muy caro")
    first = svc.decline(conv(db_session, "C00002", stage="offer"))
    assert responses(first) == ["utter_offer_alternative", "utter_offer"]
    second = svc.decline(conv(db_session, "C00002", stage="offer"))
    assert responses(second) == ["utter_cancel_confirmed"]
    case = db_session.scalar(select(RetentionCase))
    assert len(case.offers) == MAX_SAVE_ATTEMPTS
    assert [o.outcome for o in case.offers] == ["declined", "declined"]
    assert case.status == "cancelled" and case.confirmation_number.startswith("BAJA-")
    sub = find_customer(db_session, ref="C00002").current_subscription
    assert sub.status == "cancelled" and sub.cancel_effective_date == TODAY + timedelta(days=2)
    params = second.replies[0].params
    assert params["confirmation"] == case.confirmation_number and params["effective_date"]


def test_firm_cancel_at_once_and_retry_is_idempotent(svc: RetentionService,
                                                     db_session: Session) -> None:
    svc.start(conv(db_session, "C00002"), reason=None)
    turn = svc.cancel(conv(db_session, "C00002", stage="ask_reason"))
    assert responses(turn) == ["utter_cancel_confirmed"]
    confirmation = turn.replies[0].params["confirmation"]
    retry = svc.cancel(conv(db_session, "C00002", stage="closed"))
    assert responses(retry) == ["utter_already_cancelled"]
    assert retry.replies[0].params["confirmation"] == confirmation
    assert db_session.scalar(select(func.count()).select_from(RetentionCase)) == 1


def cancelled_cases(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RetentionCase)
                          .where(RetentionCase.status == "cancelled"))


def test_unsure_first_firm_cancel_asks_once_and_yes_cancels(svc: RetentionService,
                                                             db_session: Session) -> None:
    # e.g. an abort command ("cancel that request now") read as cancel_firm at 0.6
    turn = svc.firm_cancel(conv(db_session, "C00002"), confidence=0.6)
    assert responses(turn) == ["utter_confirm_cancel"] and turn.stage == "confirm_cancel"
    assert db_session.scalar(select(func.count()).select_from(RetentionCase)) == 0
    done = svc.accept(conv(db_session, "C00002", stage="confirm_cancel"))
    assert responses(done) == ["utter_cancel_confirmed"]
    customer = find_customer(db_session, ref="C00002")
    assert customer.current_subscription.status == "cancelled"


def test_unsure_first_firm_cancel_answered_no_changes_nothing(svc: RetentionService,
                                                              db_session: Session) -> None:
    svc.firm_cancel(conv(db_session, "C00002"), confidence=0.55)
    turn = svc.decline(conv(db_session, "C00002", stage="confirm_cancel"))
    assert responses(turn) == ["utter_keep_service"]
    customer = find_customer(db_session, ref="C00002")
    assert customer.current_subscription.status != "cancelled"
    assert cancelled_cases(db_session) == 0
    assert db_session.scalar(select(func.count()).select_from(RetentionCase)) == 0


def test_typed_first_firm_cancel_is_read_back_however_sure_the_model_is(
        svc: RetentionService, db_session: Session) -> None:
    turn = svc.firm_cancel(conv(db_session, "C00002"), confidence=0.97)
    assert responses(turn) == ["utter_confirm_cancel"] and turn.stage == "confirm_cancel"
    assert cancelled_cases(db_session) == 0
    assert find_customer(db_session, ref="C00002").current_subscription.status != "cancelled"


def test_pressed_cancel_button_is_processed_at_once(svc: RetentionService,
                                                    db_session: Session) -> None:
    assert responses(svc.firm_cancel(conv(db_session, "C00003"), confidence=1.0)) == ["utter_confirm_cancel"]
    turn = svc.firm_cancel(conv(db_session, "C00002", cid="conv-2"), confidence=1.0, pressed=True)
    assert responses(turn) == ["utter_cancel_confirmed"]
    assert cancelled_cases(db_session) == 1


def test_business_can_let_a_sure_first_firm_cancel_through(db_session: Session) -> None:
    policy = replace(load_policy(), confirm_first_cancel_below=0.7)
    svc = RetentionService(db_session, today=TODAY, policy=policy)
    assert responses(svc.firm_cancel(conv(db_session, "C00003"), confidence=0.6)) == ["utter_confirm_cancel"]
    turn = svc.firm_cancel(conv(db_session, "C00002", cid="conv-2"), confidence=0.93)
    assert responses(turn) == ["utter_cancel_confirmed"]
    assert cancelled_cases(db_session) == 1


def test_insisting_inside_a_retention_conversation_never_asks_again(svc: RetentionService,
                                                                    db_session: Session) -> None:
    svc.start(conv(db_session, "C00001"), reason="price", verbatim="caro")
    turn = svc.firm_cancel(conv(db_session, "C00001", stage="offer"), confidence=0.4)
    assert responses(turn) == ["utter_cancel_confirmed"]
    retry = svc.firm_cancel(conv(db_session, "C00001", stage="closed"), confidence=0.4)
    assert responses(retry) == ["utter_already_cancelled"]


def test_insisting_while_offer_pending_cancels(svc: RetentionService, db_session: Session) -> None:
    svc.start(conv(db_session, "C00001"), reason="price", verbatim="caro")
    turn = svc.start(conv(db_session, "C00001", stage="offer"))
    assert responses(turn) == ["utter_cancel_confirmed"]


def test_unverified_visitor_cannot_cancel_or_accept(svc: RetentionService,
                                                    db_session: Session) -> None:
    anon = conv(db_session, None)
    turn = svc.start(anon, reason="price", verbatim="caro")
    assert turn.stage == "verify_ref" and "utter_need_verification" in responses(turn)
    assert svc.cancel(anon).stage == "verify_ref"
    assert svc.accept(conv(db_session, None, stage="offer")).replies[0].response in (
        "utter_anything_else", "utter_need_verification")
    case = db_session.scalar(select(RetentionCase))
    assert case.customer_id is None and case.offers == [] and case.status == "open"


def test_anonymous_just_cancel_it_asks_who_first_then_reads_back_then_cancels(
        svc: RetentionService, db_session: Session) -> None:
    asked = svc.firm_cancel(conv(db_session, None), confidence=0.9)
    assert responses(asked) == ["utter_need_verification", "utter_ask_verify_ref"]
    assert asked.slots["pending_request"] == "confirm_cancel"
    verified = replace(conv(db_session, "C00002"), pending="confirm_cancel")
    read_back = svc.after_verification(verified)
    assert responses(read_back) == ["utter_confirm_cancel"] and read_back.stage == "confirm_cancel"
    assert find_customer(db_session, ref="C00002").current_subscription.status == "active"
    done = svc.answer(conv(db_session, "C00002", stage="confirm_cancel"), "sí, hazlo", "affirm")
    assert responses(done) == ["utter_cancel_confirmed"]  # no reason question, no offer
    case = db_session.scalar(select(RetentionCase))
    assert case.status == "cancelled" and case.offers == []
    assert find_customer(db_session, ref="C00002").current_subscription.status == "cancelled"


def test_anonymous_yes_to_the_read_back_is_processed_right_after_verification(
        svc: RetentionService, db_session: Session) -> None:
    identity = svc.accept(conv(db_session, None, stage="confirm_cancel"))
    assert identity.stage == "verify_ref" and "utter_need_verification" in responses(identity)
    verified = conv(db_session, "C00002")
    assert svc.cancel_requested(verified)
    done = svc.after_verification(verified)
    assert responses(done) == ["utter_cancel_confirmed"]
    assert find_customer(db_session, ref="C00002").current_subscription.status == "cancelled"
    assert not svc.cancel_requested(verified)


def test_anonymous_wish_to_leave_still_gets_the_reason_question_after_verification(
        svc: RetentionService, db_session: Session) -> None:
    svc.start(conv(db_session, None), reason=None)
    verified = conv(db_session, "C00002")
    assert not svc.cancel_requested(verified)
    assert responses(svc.after_verification(verified)) == ["utter_ask_reason"]


def test_unclear_reason_one_follow_up_then_other_with_words(svc: RetentionService,
                                                            db_session: Session) -> None:
    svc.start(conv(db_session, "C00002"))
    first = svc.clarify(conv(db_session, "C00002", stage="ask_reason"), "pues no sé, cosas")
    assert responses(first) == ["utter_ask_reason_again"]
    second = svc.clarify(conv(db_session, "C00002", stage="clarify_reason"), "mi cuñado dice")
    assert responses(second)[0] == "utter_reason_other_noted"
    case = db_session.scalar(select(RetentionCase))
    assert case.reason == "other"
    assert "pues no sé, cosas" in case.reason_verbatim and "mi cuñado dice" in case.reason_verbatim


def test_unprofitable_customer_gets_no_costly_offer(svc: RetentionService,
                                                    db_session: Session) -> None:
    javier = find_customer(db_session, ref="C00003")
    from bot.core.customers import profile_of

    assert profile_of(javier, TODAY).value_segment == "unprofitable"
    for reason in ("price", "competitor", "service_failure", "billing_error"):
        case_conv = conv(db_session, "C00003", cid=f"conv-{reason}")
        svc.start(case_conv, reason=reason, verbatim=reason)
    costs = db_session.scalars(select(CaseOffer.cost)).all()
    assert all(Decimal(c) == 0 for c in costs)


def test_reason_without_cancel_wish_is_recognised(svc: RetentionService,
                                                  db_session: Session) -> None:
    turn = svc.set_reason(conv(db_session, "C00005"), "service_failure", "la fibra se cae")
    assert responses(turn)[0] == "utter_ack_service_failure"
    case = db_session.scalar(select(RetentionCase))
    assert case.reason == "service_failure" and case.status == "open"


def test_low_usage_action_plan_is_written_with_checkins(svc: RetentionService,
                                                        db_session: Session) -> None:
    c = conv(db_session, "C00004")
    svc.start(c, reason="low_usage", verbatim="no lo uso")
    case = db_session.scalar(select(RetentionCase))
    marta = find_customer(db_session, ref="C00004")
    plan = write_plan(db_session, case, marta, "ver series en la tele",
                      "no sé cómo funciona la app", "es", today=TODAY)
    assert plan.customer_commitments and plan.company_commitments and plan.gift
    assert [c.due_date for c in plan.checkins] == [TODAY + timedelta(days=d) for d in (14, 30, 60)]
    text = render_text(plan)
    assert "Tú te comprometes a:" in text and "Nosotros nos comprometemos a:" in text
    assert find_by_token(db_session, plan.token) is plan
    assert case.status == "retained"
    # Writing it again (a retried message) returns the same plan.
    assert write_plan(db_session, case, marta, "x", "y", "es") is plan
    assert db_session.scalar(select(func.count()).select_from(ActionPlan)) == 1


def test_expired_discount_goes_back_to_list_price(svc: RetentionService,
                                                  db_session: Session) -> None:
    svc.start(conv(db_session, "C00001"), reason="price", verbatim="caro")
    svc.accept(conv(db_session, "C00001", stage="offer"))
    sub = find_customer(db_session, ref="C00001").current_subscription
    assert sub.running_offer_until is not None
    assert expire_offers(db_session, sub.running_offer_until + timedelta(days=1)) == 1
    assert Decimal(sub.monthly_price) == Decimal(sub.list_price)
    assert sub.running_offer_id is None


def test_declining_the_only_worthwhile_offer_cancels_without_a_worse_alternative(
        svc: RetentionService, db_session: Session) -> None:
    # Lucía (competitor): after the loyalty discount, the other discounts are worth less to her
    # and no other kind fits, so "no" processes the cancellation she asked for: no
    # "I have another option" followed by a cancellation in the same reply.
    svc.start(conv(db_session, "C00001"), reason="competitor", verbatim="me voy a otra")
    declined = svc.decline(conv(db_session, "C00001", stage="offer"))
    assert responses(declined) == ["utter_cancel_confirmed"]


def test_a_second_offer_of_the_same_kind_is_never_worse_for_the_customer(
        svc: RetentionService, db_session: Session) -> None:
    from bot.core.offer_kinds import customer_benefit

    for ref, reason in (("C00002", "price"), ("C00002", "competitor"), ("C00005", "service_failure"),
                        ("C00004", "low_usage"), ("C00006", "billing_error")):
        cid = f"worse-{ref}-{reason}"
        svc.start(conv(db_session, ref, cid=cid), reason=reason, verbatim="motivo")
        svc.decline(conv(db_session, ref, stage="offer", cid=cid))
        case = db_session.scalar(select(RetentionCase).where(RetentionCase.conversation_id == cid))
        if len(case.offers) == 2:
            first, second = case.offers
            assert first.kind != second.kind or customer_benefit(second.kind, second.params) >= \
                customer_benefit(first.kind, first.params), (ref, reason)


def test_a_pause_shorter_than_the_stated_absence_is_not_offered(
        svc: RetentionService, db_session: Session) -> None:
    turn = svc.start(conv(db_session, "C00002"), reason="temporary",
                     verbatim="me voy seis meses a trabajar fuera")
    case = db_session.scalar(select(RetentionCase))
    pauses = [o for o in case.offers if o.kind == "pause"]
    assert all(int(o.params["pause_months"]) >= 6 for o in pauses), [o.params for o in pauses]
    assert turn.stage in ("offer", "confirm_cancel")


@pytest.mark.parametrize("said", ["I'm moving abroad for six months", "me voy a vivir al extranjero",
                                  "nos mudamos a otro país",
                                  "hi, no more nubia for us, we're moving back to the UK for good"])
def test_no_move_to_the_new_home_for_someone_leaving_the_country(svc: RetentionService, db_session: Session,
                                                                 said: str) -> None:
    """Walk finding: "moving abroad for six months" was offered the service at the new home."""
    svc.start(conv(db_session, "C00007"), reason="relocation", verbatim=said)
    case = db_session.scalar(select(RetentionCase))
    assert all(o.kind != "transfer" for o in case.offers), [o.offer_id for o in case.offers]


def test_no_pause_for_someone_moving_abroad_for_good(svc: RetentionService, db_session: Session) -> None:
    """Walk finding: "me voy a vivir al extranjero" was offered a one-month pause "at the new home"."""
    turn = svc.start(conv(db_session, "C00004"), reason="relocation", verbatim="me voy a vivir al extranjero")
    case = db_session.scalar(select(RetentionCase))
    assert case.offers == [] and turn.stage == "confirm_cancel", [o.offer_id for o in case.offers]


def test_moving_house_in_the_country_still_gets_the_move(svc: RetentionService, db_session: Session) -> None:
    svc.start(conv(db_session, "C00007"), reason="relocation", verbatim="me mudo a Valencia el mes que viene")
    case = db_session.scalar(select(RetentionCase))
    assert [o.kind for o in case.offers] == ["transfer"]


def test_the_intent_model_alone_never_cancels(svc: RetentionService, db_session: Session) -> None:
    # Heard on the phone at the reason question: the model reads "cancel_firm", the words say
    # "no, I'm staying for now" (without commas): nothing may be cancelled.
    svc.start(conv(db_session, "C00003"))
    turn = svc.answer(conv(db_session, "C00003", stage="clarify_reason"), "no mejor no me quedo de momento",
                      "cancel_firm")
    assert "utter_cancel_confirmed" not in responses(turn)
    # With an open case, a message the model calls cancel_firm but whose words do not ask to
    # cancel gets the read-back, not the cancellation.
    read_back = svc.firm_cancel(conv(db_session, "C00003"), confidence=0.9, text="vale, lo hablo y te digo")
    assert responses(read_back) == ["utter_confirm_cancel"]
    assert find_customer(db_session, ref="C00003").current_subscription.status == "active"
    done = svc.firm_cancel(conv(db_session, "C00003"), confidence=0.9, text="cancélalo ya")
    assert responses(done) == ["utter_cancel_confirmed"]


def test_a_customer_already_cancelled_gets_the_confirmation_not_new_offers(
        svc: RetentionService, db_session: Session) -> None:
    svc.start(conv(db_session, "C00002", cid="first"), reason="price", verbatim="caro")
    svc.cancel(conv(db_session, "C00002", cid="first"))
    again = svc.start(conv(db_session, "C00002", cid="later-sms"), reason="competitor", verbatim="me voy")
    assert responses(again) == ["utter_already_cancelled"]
    assert again.replies[0].params["confirmation"].startswith("BAJA-")


def test_an_old_cancelled_record_is_not_the_customer_leaving_now(svc: RetentionService, db_session: Session) -> None:
    """Found walking make run: demo (or imported) history adds a customer's older cancelled
    subscription after the live one; they were told "your cancellation is already processed"."""
    from datetime import datetime

    from bot.storage.models import Subscription

    customer = find_customer(db_session, ref="C00004")
    live = customer.current_subscription
    old_case = RetentionCase(conversation_id="demo-old", customer_id=customer.id, status="cancelled",
                             confirmation_number="BAJA-OLD00001", cancel_effective_date=date(2025, 3, 1))
    db_session.add_all([old_case, Subscription(customer_id=customer.id, plan_code=live.plan_code,
                                               list_price=live.list_price, monthly_price=live.monthly_price,
                                               status="cancelled", started_at=date(2023, 1, 1),
                                               cancel_requested_at=datetime(2025, 2, 1),
                                               cancel_effective_date=date(2025, 3, 1))])
    db_session.commit()
    db_session.refresh(customer)
    turn = svc.start(conv(db_session, "C00004", cid="now"), reason="price", verbatim="es caro")
    assert "utter_already_cancelled" not in responses(turn) and turn.stage == "offer"
    undo = svc.undo(conv(db_session, "C00004", cid="now-2"))
    assert responses(undo) == ["utter_nothing_to_undo"]
    assert [s.status for s in customer.subscriptions].count("active") == 1  # nothing reactivated


def test_a_plain_no_is_no_cancellation_when_the_customer_never_said_they_want_to_leave(
        svc: RetentionService, db_session: Session) -> None:
    """Probe finding: "el internet me va fatal desde el corte, ¿qué vais a hacer?" was read as
    leaving; a "no" to the technician then cancelled the service."""
    complaint = replace(conv(db_session, "C00005"), asked_to_leave=False)
    svc.start(complaint, reason="service_failure", verbatim="el internet me va fatal, que vais a hacer?")
    turn = svc.decline(replace(complaint, stage="offer"))
    while turn.stage == "offer":  # every offer declined with a plain "no"
        turn = svc.decline(replace(complaint, stage="offer"))
    assert "utter_cancel_confirmed" not in responses(turn) and turn.stage == "confirm_cancel"
    assert find_customer(db_session, ref="C00005").current_subscription.status == "active"
    asked = conv(db_session, "C00006", cid="asked")  # said "quiero darme de baja": the "no" cancels
    svc.start(asked, reason="price", verbatim="quiero darme de baja, es caro")
    turn = svc.decline(replace(asked, stage="offer"))
    while turn.stage == "offer":
        turn = svc.decline(replace(asked, stage="offer"))
    assert "utter_cancel_confirmed" in responses(turn)


@pytest.mark.parametrize("said, intent", [
    ("¿puedo pausar la línea tres meses?", "reason_service_failure"),
    ("can I pause my fibre for three months while I'm abroad?", "other_request"),
    ("me voy una temporada, ¿me congeláis la cuenta mientras?", "cancel+reason_temporary"),
    ("put my broadband on hold for the summer please", "other_request"),
])
def test_a_pause_request_is_offered_the_pause_not_a_complaint_question(
        svc: RetentionService, db_session: Session, said: str, intent: str) -> None:
    """Walk finding: "¿puedo pausar la línea tres meses?" got "are you thinking of cancelling
    because of this?", the English one "I can't help with that here"."""
    turn = svc.opening(conv(db_session, "C00001"), said, intent)
    assert turn is not None and responses(turn)[0] == "utter_pause_request"
    assert "utter_empathy_cancel" not in responses(turn) and turn.stage != "confirm_cancel"
    case = db_session.scalar(select(RetentionCase))
    assert case.reason == "temporary"
    if "three" in said or "tres" in said:
        # longer than the catalogue's pause for this customer: a person is offered, no cancellation
        assert case.offers == [] and responses(turn)[-1] == "utter_pause_by_person"
        assert svc.yes_to_a_person(conv(db_session, "C00001"), "utter_pause_by_person").handoff == "asked"
    else:
        assert [o.kind for o in case.offers] == ["pause"] and turn.stage == "offer"
    assert db_session.scalar(select(func.count()).select_from(CaseOffer).where(
        CaseOffer.outcome == "accepted")) == 0  # nothing applied


@pytest.mark.parametrize("said", ["quiero darme de baja, no una pausa", "my phone was stolen, suspend my line",
                                  "no quiero pausar nada, todo está bien",
                                  "sospecho que me han hackeado, congelad la cuenta ya",
                                  "there are charges I don't recognise, freeze my account"])
def test_leaving_a_sim_block_or_a_no_is_not_a_pause_request(svc: RetentionService, db_session: Session,
                                                            said: str) -> None:
    turn = svc.opening(conv(db_session, "C00001"), said, "other_request")
    assert turn is None or "utter_pause_request" not in responses(turn)


def test_no_to_anything_else_after_the_talk_is_a_goodbye(svc: RetentionService, db_session: Session) -> None:
    """Walk finding (voice, after an undo): "no that's all thanks" got "anything else?" again."""
    c = conv(db_session, "C00001")
    svc.start(c, reason="price", verbatim="caro")
    svc.accept(conv(db_session, "C00001", stage="offer"))
    turn = svc.decline(conv(db_session, "C00001"))
    assert responses(turn) == ["utter_goodbye"]
    assert db_session.scalar(select(RetentionCase)).status == "retained"  # the accepted offer stands
