"""Cancelling and undoing a cancellation: the firm request (at once, or read back first), the
cancellation itself (effective date, confirmation number, the cold case for a later win-back),
the answer when it was already processed, and the undo before the effective date."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.answer_signals import signals
from bot.core.cases import case_customer, current_case, decline_pending, latest_cancelled_case, open_case
from bot.core.conversation import Conversation, Turn, ask_identity
from bot.core.customers import profile_of
from bot.core.process import Policy
from bot.core.subscriptions import reference as new_reference
from bot.core.vocabulary import LIVE_SUBSCRIPTION, CaseStatus, ColdStatus, Stage, SubscriptionStatus
from bot.storage.models import ColdCase, Customer, utcnow

CANCEL_NOTICE_DAYS = 2  # Spain: the operator must end the service within two working days


def format_case_date(day: date | None, language: str) -> str:
    """An effective date as the cancellation messages say it ("" when there is none)."""
    if day is None:
        return ""
    return day.strftime("%d/%m/%Y") if language == "es" else day.strftime("%d %b %Y")


def closed_cancellation(session: Session, conv: Conversation) -> Turn | None:
    """The cancellation already processed, in this conversation or (for a verified
    customer whose service is cancelled) in an earlier one: no new save attempt."""
    case = current_case(session, conv)
    if (case is None or case.status != CaseStatus.CANCELLED) and conv.verified and conv.customer_id:
        customer = session.get(Customer, conv.customer_id)
        sub = customer.current_subscription if customer is not None else None  # live first
        if sub is not None and sub.status == SubscriptionStatus.CANCELLED:
            case = latest_cancelled_case(session, conv.customer_id) or case
    if case is not None and case.status == CaseStatus.CANCELLED:
        return Turn(stage=Stage.CLOSED).say(
            "utter_already_cancelled", confirmation=case.confirmation_number,
            effective_date=format_case_date(case.cancel_effective_date, conv.language))
    return None


def firm_cancel(session: Session, policy: Policy, today: date, conv: Conversation, confidence: float = 1.0,
                pressed: bool = False, text: str | None = None) -> Turn:
    """The customer insists on cancelling ("just cancel it"), with the model's confidence.

    Inside a retention conversation (an open case) it is processed at once, whatever the
    confidence: the customer already said they want to leave. As the first word on leaving,
    a typed or spoken request read with less confidence than the policy's
    ``cancellation.confirm_first_request_below`` (1.0, the default: every one) gets one
    confirmation question (stage ``confirm_cancel``: yes cancels, no changes nothing), so
    that a misunderstood message (an abort command, "cancel my card") never ends a service.
    A ``pressed`` button is the customer's explicit choice and is processed at once.
    """
    case = current_case(session, conv)
    opened = case is not None and case.status in (CaseStatus.OPEN, CaseStatus.CANCELLED)
    if text is not None and not pressed and not signals(text) & {"cancel_word", "leave"}:
        # the intent model says "cancel" but the words do not: never at once
        opened = False
    below = policy.confirm_first_cancel_below
    if (not opened and conv.stage != Stage.CONFIRM_CANCEL and not pressed
            and (below >= 1.0 or confidence < below)):
        if not conv.verified:  # who they are first, then the read-back about their account
            return ask_identity(Turn(slots={"pending_request": "confirm_cancel"}))
        return Turn(stage=Stage.CONFIRM_CANCEL).say("utter_confirm_cancel")
    return cancel(session, policy, today, conv)


def cancel(session: Session, policy: Policy, today: date, conv: Conversation) -> Turn:
    """Process the cancellation now: effective date, confirmation number, next steps."""
    closed = closed_cancellation(session, conv)
    if closed is not None:
        return closed
    case = open_case(session, policy, conv)
    if not conv.verified or case.customer_id is None:
        case.cancel_requested_at = case.cancel_requested_at or utcnow()
        return ask_identity(Turn(slots={"case_id": float(case.id)}))
    decline_pending(case)
    customer = case_customer(session, case)
    assert customer is not None
    sub = customer.current_subscription
    effective = today + timedelta(days=CANCEL_NOTICE_DAYS)
    if sub is not None and sub.status != SubscriptionStatus.CANCELLED:
        sub.status = SubscriptionStatus.CANCELLED
        sub.cancel_requested_at = utcnow()
        sub.cancel_effective_date = effective
    case.status, case.closed_at = CaseStatus.CANCELLED, utcnow()
    case.cancel_effective_date = effective
    case.confirmation_number = new_reference("BAJA")
    if case.reason is None:
        case.reason = "other"
    # Every hot cancellation becomes a cold (win-back) case, contacted after the cool-down.
    from bot.core.campaign_scheduling import schedule_cold_case

    schedule_cold_case(session, case, today, policy)
    prof = profile_of(customer, today)
    plan_name = prof.plan_name_en if conv.language == "en" else prof.plan_name_es
    return Turn(stage=Stage.CLOSED, slots={"case_id": float(case.id)}).say(
        "utter_cancel_confirmed", plan_name=plan_name, confirmation=case.confirmation_number,
        effective_date=format_case_date(effective, conv.language))


def undo(session: Session, today: date, conv: Conversation) -> Turn:
    """Undo a cancellation before its effective date, as the confirmation promises."""
    if not conv.verified or conv.customer_id is None:
        turn = ask_identity(Turn(slots={"pending_request": "undo"}))
        return turn
    customer = session.get(Customer, conv.customer_id)
    live = customer is not None and any(s.status in LIVE_SUBSCRIPTION for s in customer.subscriptions)
    sub = customer.last_cancelled if customer is not None and not live else None
    if sub is None:
        return Turn(stage=None, slots={"pending_request": None}).say("utter_nothing_to_undo")
    if sub.cancel_effective_date is not None and sub.cancel_effective_date < today:
        return Turn(stage=None, slots={"pending_request": None}).say("utter_undo_too_late")
    sub.status, sub.cancel_requested_at, sub.cancel_effective_date = SubscriptionStatus.ACTIVE, None, None
    case = latest_cancelled_case(session, customer.id)
    if case is not None:
        case.status, case.cancel_undone_at, case.closed_at = CaseStatus.RETAINED, utcnow(), utcnow()
        for cold in session.scalars(select(ColdCase).where(ColdCase.case_id == case.id)):
            cold.status = ColdStatus.SKIPPED  # nobody to win back
    prof = profile_of(customer, today)
    return Turn(stage=Stage.CLOSED, slots={"pending_request": None}).say(
        "utter_cancel_undone", plan_name=prof.plan_name_en if conv.language == "en"
        else prof.plan_name_es)
