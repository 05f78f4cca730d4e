"""The one place that applies an accepted offer to a subscription, ends it when its time is
over (``expire_offers``), and brings a cancelled subscription back.

Each offer kind's effect on the subscription is one entry of ``OFFER_EFFECTS``: a new kind is a
new entry here (and its parameters and pricing in ``bot.core.offer_kinds``), not another branch
in several modules. Used by the hot retention flow (``bot.core.retention``) and by cold
win-backs (``bot.core.campaign_replies``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.vocabulary import CaseStatus, OfferOutcome, SubscriptionStatus
from bot.storage.models import CaseOffer, Customer, RetentionCase, Subscription, utcnow

#: how long an offer without an end date is remembered as the running one
DEFAULT_OFFER_DAYS = 90

Effect = Callable[[Subscription, dict[str, Any], Optional[date]], Optional[date]]


def reference(prefix: str) -> str:
    """A customer-facing reference such as ``RET-1A2B3C4D``."""
    return f"{prefix}-{secrets.token_hex(4).upper()}"


def _discount(sub: Subscription, params: dict[str, Any], end: Optional[date]) -> Optional[date]:
    sub.list_price = sub.list_price or sub.monthly_price
    sub.monthly_price = Decimal(str(params["new_price"]))
    sub.discount_pct = int(Decimal(str(params["discount_pct"])))
    sub.discount_until = end
    return end


def _pause(sub: Subscription, params: dict[str, Any], end: Optional[date]) -> Optional[date]:
    sub.status = SubscriptionStatus.PAUSED
    sub.paused_until = date.fromisoformat(params["resume_date"])
    return sub.paused_until


def _downgrade(sub: Subscription, params: dict[str, Any], end: Optional[date]) -> Optional[date]:
    if params.get("target_plan"):
        sub.plan_code = params["target_plan"]
        sub.list_price = sub.monthly_price = Decimal(str(params["new_price"]))
    return end


def _upgrade(sub: Subscription, params: dict[str, Any], end: Optional[date]) -> Optional[date]:
    if params.get("target_plan"):  # free for `months`; expire_offers() puts the customer back
        sub.revert_plan_code = sub.plan_code
        sub.plan_code = params["target_plan"]
    return end


def _no_change(sub: Subscription, params: dict[str, Any], end: Optional[date]) -> Optional[date]:
    return end  # credits, gifts, a specialist: the subscription itself stays as it is


#: what each offer kind does to the subscription (kinds not listed change nothing in it)
OFFER_EFFECTS: dict[str, Effect] = {
    "discount": _discount, "pause": _pause, "downgrade": _downgrade, "upgrade": _upgrade,
}


def apply_offer(sub: Subscription | None, offer_id: str, kind: str, params: dict[str, Any], today: date) -> None:
    """Change the subscription as the offer says (``OFFER_EFFECTS``) and remember it as running."""
    end = date.fromisoformat(params["end_date"]) if params.get("end_date") else None
    if sub is not None:
        end = OFFER_EFFECTS.get(kind, _no_change)(sub, params, end)
        sub.running_offer_id = offer_id
        sub.running_offer_until = end or (today + timedelta(days=DEFAULT_OFFER_DAYS))


def accept_offer(case: RetentionCase, customer: Customer, offer: CaseOffer, today: date) -> None:
    """Apply an accepted offer to the customer's subscription and close the case, once."""
    if offer.outcome == OfferOutcome.ACCEPTED:
        return
    apply_offer(customer.current_subscription, offer.offer_id, offer.kind, offer.params, today)
    offer.outcome, offer.decided_at = OfferOutcome.ACCEPTED, utcnow()
    case.accepted_offer_id = offer.offer_id
    case.offer_cost = offer.cost
    case.reference = case.reference or reference("RET")
    case.status = CaseStatus.HANDED_OFF if offer.kind == "escalation" else CaseStatus.RETAINED
    case.closed_at = utcnow()


def reactivate(sub: Subscription) -> None:
    """A cancelled subscription comes back as it was before any offer (a won-back customer)."""
    if sub.status != SubscriptionStatus.CANCELLED:
        return
    sub.status = SubscriptionStatus.ACTIVE
    sub.cancel_effective_date = None
    sub.cancel_requested_at = None
    sub.plan_code = sub.revert_plan_code or sub.plan_code  # the offer was priced on this plan
    sub.monthly_price = sub.list_price or sub.monthly_price
    sub.discount_pct = sub.discount_until = sub.paused_until = sub.revert_plan_code = None
    sub.running_offer_id = sub.running_offer_until = None


def expire_offers(session: Session, today: date | None = None) -> int:
    """End offers whose time is over: discounts, pauses and free upgrades. Returns how many."""
    today = today or date.today()
    rows = session.scalars(select(Subscription).where(
        Subscription.running_offer_until.is_not(None), Subscription.running_offer_until < today,
        Subscription.status != SubscriptionStatus.CANCELLED)).all()
    for sub in rows:
        if sub.discount_until is not None and sub.discount_until < today:
            sub.monthly_price, sub.discount_pct, sub.discount_until = sub.list_price, None, None
        if sub.status == SubscriptionStatus.PAUSED and sub.paused_until is not None and sub.paused_until <= today:
            sub.status, sub.paused_until = "active", None
        if sub.revert_plan_code:
            sub.plan_code, sub.revert_plan_code = sub.revert_plan_code, None
        sub.running_offer_id = sub.running_offer_until = None
    return len(rows)
