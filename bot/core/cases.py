"""Retention case bookkeeping: a conversation's case (found, opened, reopened), the revenue at
stake, the churn reasons stated, and the offers made on it (pending, accepted, declined)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.conversation import Conversation
from bot.core.process import Policy
from bot.core.reasons import REASONS
from bot.core.vocabulary import CaseStatus, OfferOutcome
from bot.storage.models import CaseOffer, Customer, RetentionCase, utcnow


def current_case(session: Session, conv: Conversation) -> RetentionCase | None:
    """The conversation's latest case (open or closed today), if any."""
    return session.scalar(
        select(RetentionCase).where(RetentionCase.conversation_id == conv.conversation_id)
        .order_by(RetentionCase.id.desc()).limit(1))


def open_case(session: Session, policy: Policy, conv: Conversation) -> RetentionCase:
    """Idempotent: a conversation has at most one open case."""
    case = current_case(session, conv)
    if case is not None and case.status != CaseStatus.CANCELLED:
        # One conversation is one case: talking about leaving again reopens it.
        if case.status != CaseStatus.OPEN:
            case.status, case.closed_at = CaseStatus.OPEN, None
        if case.customer_id is None and conv.customer_id is not None and conv.verified:
            case.customer_id = conv.customer_id
            set_revenue(session, case)
        return case
    case = RetentionCase(conversation_id=conv.conversation_id, channel=conv.channel,
                         language=conv.language, status=CaseStatus.OPEN,
                         customer_id=conv.customer_id if conv.verified else None,
                         holdout=policy.in_holdout(conv.conversation_id))
    set_revenue(session, case)
    session.add(case)
    session.flush()
    return case


def set_revenue(session: Session, case: RetentionCase) -> None:
    """The monthly revenue at stake: what the case's customer pays now."""
    if case.customer_id is not None:
        customer = session.get(Customer, case.customer_id)
        sub = customer.current_subscription if customer else None
        case.monthly_revenue_at_stake = sub.monthly_price if sub else None


def case_customer(session: Session, case: RetentionCase) -> Customer | None:
    return session.get(Customer, case.customer_id) if case.customer_id else None


def latest_cancelled_case(session: Session, customer_id: int) -> RetentionCase | None:
    """The customer's latest case closed as cancelled."""
    return session.scalar(
        select(RetentionCase).where(RetentionCase.customer_id == customer_id,
                                    RetentionCase.status == CaseStatus.CANCELLED)
        .order_by(RetentionCase.id.desc()).limit(1))


def record_reason(case: RetentionCase, reason: str, verbatim: str | None) -> None:
    """The first stated reason is the case's; later different ones are listed, the words kept once."""
    if reason not in REASONS:
        raise ValueError(f"unknown churn reason {reason!r}")
    if case.reason is None:
        case.reason = reason
    elif reason != case.reason:  # the first stated reason stays; later ones are listed
        later = [r for r in (case.later_reasons or "").split(",") if r]
        if reason not in later:
            case.later_reasons = ",".join([*later, reason])[:200]
    if verbatim and not case.reason_verbatim:
        case.reason_verbatim = verbatim[:2000]


def pending_offer(case: RetentionCase) -> CaseOffer | None:
    pending = [o for o in case.offers if o.outcome == OfferOutcome.PENDING]
    return pending[-1] if pending else None


def accepted_offer(case: RetentionCase) -> CaseOffer | None:
    accepted = [o for o in case.offers if o.outcome == OfferOutcome.ACCEPTED]
    return accepted[-1] if accepted else None


def decline_pending(case: RetentionCase) -> None:
    for offer in case.offers:
        if offer.outcome == OfferOutcome.PENDING:
            offer.outcome, offer.decided_at = OfferOutcome.DECLINED, utcnow()
