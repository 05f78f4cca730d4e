"""Replies to a win-back SMS and their outcomes: the reply words, won back (subscription
reactivated, offer applied), declined, or no answer in time."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.campaign_cases import INTERNAL_KEYS, CampaignError, move_case, naive_utc
from bot.core.campaign_config import CampaignConfig, load_campaigns
from bot.core.language import fold
from bot.core.offer_loader import load_catalogue
from bot.core.process import Policy, load_policy
from bot.core.subscriptions import accept_offer, reactivate
from bot.core.vocabulary import ColdStatus, OfferOutcome
from bot.storage.models import CaseOffer, ColdCase, Customer, RetentionCase, utcnow

logger = logging.getLogger(__name__)


def reply_word(text: str, config: CampaignConfig | None = None) -> bool | None:
    """True when a reply is just the win-back SMS's accept word (``reply_words``), False for its
    decline word, None for anything else (read by ``bot.core.answers`` instead)."""
    config = config or load_campaigns()
    said = fold(" ".join(re.sub(r"[^\w]+", " ", text or "").split()))
    for accept, decline in config.reply_words.values():
        if said == fold(accept):
            return True
        if said == fold(decline):
            return False
    return None


def pending_winback(session: Session, customer_id: int) -> ColdCase | None:
    """The customer's cold SMS awaiting an answer (status ``sent``), the latest one."""
    return session.scalar(select(ColdCase).where(
        ColdCase.customer_id == customer_id, ColdCase.status == ColdStatus.SENT, ColdCase.outcome_at.is_(None))
        .order_by(ColdCase.sent_at.desc(), ColdCase.id.desc()).limit(1))


def accept_winback(session: Session, cold_case: ColdCase, today: date | None = None) -> str:
    """The customer said yes to the cold SMS: reactivate the subscription (status active, no
    cancellation date), apply the cold offer (``bot.core.subscriptions.accept_offer``) on a new
    ``CaseOffer(variant="cold")`` of the original case, and return the reference.

    Idempotent: a second call returns the same reference. Raises CampaignError when the case
    has no SMS awaiting an answer. Flushes, never commits.
    """
    if cold_case.status == ColdStatus.WON_BACK and cold_case.reference:
        return str(cold_case.reference)
    if cold_case.status != ColdStatus.SENT or not cold_case.offer_id:
        raise CampaignError(f"cold case #{cold_case.id} is {cold_case.status}: no offer awaiting an answer")
    if not move_case(session, cold_case, ColdStatus.SENT, status=ColdStatus.WON_BACK, outcome_at=utcnow()):
        if cold_case.status == ColdStatus.WON_BACK and cold_case.reference:
            return str(cold_case.reference)
        raise CampaignError(f"cold case #{cold_case.id} is {cold_case.status}: no offer awaiting an answer")
    case = session.get(RetentionCase, cold_case.case_id)
    customer = session.get(Customer, cold_case.customer_id)
    sub = customer.current_subscription if customer is not None else None
    if case is None or sub is None:
        raise CampaignError(f"cold case #{cold_case.id}: the case or the subscription is gone")
    reactivate(sub)
    params = dict(cold_case.offer_params or {})
    kind = str(params.pop("_kind", "") or "")
    expected = Decimal(str(params.pop("_expected_value", "0") or "0"))
    for key in INTERNAL_KEYS:
        params.pop(key, None)
    if not kind:
        offer = load_catalogue().get(cold_case.offer_id)
        kind = offer.kind if offer is not None else "credit"
    offer_row = CaseOffer(case=case, position=max((o.position for o in case.offers), default=0) + 1,
                          offer_id=cold_case.offer_id, kind=kind, variant="cold",
                          cost=cold_case.offer_cost or Decimal(0), expected_value=expected, params=params,
                          outcome=OfferOutcome.PENDING, presented_at=cold_case.sent_at or utcnow())
    session.add(offer_row)
    session.flush()
    accept_offer(case, customer, offer_row, today or date.today())
    cold_case.reference = case.reference
    session.flush()
    logger.info("Cold case #%s won back (%s), reference %s.", cold_case.id, cold_case.offer_id, case.reference)
    return str(case.reference)


def decline_winback(session: Session, cold_case: ColdCase) -> None:
    """The customer said no to the cold SMS (also after it expired). Idempotent. Raises
    CampaignError when there is nothing to decline (e.g. already won back)."""
    if cold_case.status in (ColdStatus.SENT, ColdStatus.NO_ANSWER):
        move_case(session, cold_case, (ColdStatus.SENT, ColdStatus.NO_ANSWER), status=ColdStatus.DECLINED,
                  outcome_at=utcnow())
    if cold_case.status != ColdStatus.DECLINED:
        raise CampaignError(f"cold case #{cold_case.id} is {cold_case.status}: nothing to decline")
    logger.info("Cold case #%s declined.", cold_case.id)


def expire_unanswered(session: Session, now: datetime, days: int = 7, policy: Policy | None = None) -> int:
    """SMS sent more than ``days`` ago without an answer: ``no_answer``, or due again while
    the case has attempts left (``cold.max_attempts``). Flushes; returns how many."""
    policy = policy or load_policy()
    cutoff = naive_utc(now) - timedelta(days=days)
    stale = session.scalars(select(ColdCase).where(
        ColdCase.status == ColdStatus.SENT, ColdCase.outcome_at.is_(None), ColdCase.sent_at <= cutoff)).all()
    moved = 0
    for cold in stale:
        if cold.attempts < policy.cold.max_attempts:
            moved += move_case(session, cold, ColdStatus.SENT, status=ColdStatus.DUE, claimed_by=None, claimed_at=None)
        else:
            moved += move_case(session, cold, ColdStatus.SENT, status=ColdStatus.NO_ANSWER, outcome_at=naive_utc(now))
    session.flush()
    return moved
