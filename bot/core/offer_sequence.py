"""The offer sequence of a retention case: at most two save attempts, which offer comes next
(ranked by the engine, minus what makes no sense after what was said and declined, minus a
second compensation), and recording it on the case."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from bot.core.alerts import Remedy, credited_for
from bot.core.cases import case_customer
from bot.core.customer_statements import moving_abroad, stated_months
from bot.core.customers import customer_context
from bot.core.offer_engine import rank_offers
from bot.core.offer_kinds import customer_benefit
from bot.core.offer_model import Catalogue, RankedOffer
from bot.core.vocabulary import OfferOutcome
from bot.storage.models import CaseOffer, RetentionCase

MAX_SAVE_ATTEMPTS = 2


def offer_params_json(offer: RankedOffer) -> dict[str, Any]:
    """What is stored with the case: the priced parameters and the text shown, per language."""
    out = offer.json_params()
    out["_text"] = {"es": offer.describe("es"), "en": offer.describe("en")}
    return out


def compensated(remedy: Remedy | None) -> tuple[str, ...]:
    """Offer kinds not to make again: a credit when the event's compensation was credited."""
    return ("credit",) if remedy is not None and remedy.credited else ()


def sensible(case: RetentionCase, ranked: list[RankedOffer]) -> list[RankedOffer]:
    """Offers that make sense after what was said and declined.

    A pause shorter than the time the customer said they will be away does not solve
    their problem, nor does taking the service to the new home of someone who leaves the
    country, nor a pause for someone who moves abroad for good (no stated duration); an offer
    of the kind they declined must be at least as good for them.
    """
    months = stated_months(case.reason_verbatim or "")
    abroad = moving_abroad(case.reason_verbatim or "")
    declined = [o for o in case.offers if o.outcome == OfferOutcome.DECLINED]

    def ok(offer: RankedOffer) -> bool:
        if months and offer.kind == "pause" and int(offer.params.get("pause_months") or 0) < months:
            return False
        if abroad and offer.kind == "transfer":
            return False
        if abroad and not months and case.reason == "relocation" and offer.kind == "pause":
            return False  # leaving the country for good: a month's pause only delays the cancellation
        return all(offer.kind != d.kind or customer_benefit(offer.kind, offer.params)
                   >= customer_benefit(d.kind, d.params) for d in declined)
    return [offer for offer in ranked if ok(offer)]


def next_offers(session: Session, catalogue: Catalogue, today: date, case: RetentionCase,
                reason: str | None = None, skip_kinds: tuple[str, ...] = ()) -> list[RankedOffer]:
    """The offers that may come next on this case, best first (none for a holdout case)."""
    customer = case_customer(session, case)
    ranked: list[RankedOffer] = []
    if customer is not None and case.reason is not None and credited_for(session, customer.id, case.reason):
        skip_kinds = (*skip_kinds, "credit")  # the event's compensation was the credit: not a second one
    # Holdout cases (the control group) get no offer, only the choice to cancel or stay.
    if customer is not None and case.reason is not None and not case.holdout:
        ctx = customer_context(session, customer, today)
        already = {o.offer_id for o in case.offers}
        ranked = rank_offers(catalogue, ctx, reason or case.reason, today=today, exclude=already)
        ranked = [o for o in sensible(case, ranked) if o.kind not in skip_kinds]
    return ranked


def record_offer(session: Session, case: RetentionCase, offer: RankedOffer) -> None:
    """The offer made, pending on the case. Flushes."""
    session.add(CaseOffer(
        case=case, position=len(case.offers) + 1, offer_id=offer.offer_id, kind=offer.kind,
        variant=offer.variant, cost=offer.cost, expected_value=offer.expected_value,
        params=offer_params_json(offer), outcome=OfferOutcome.PENDING))
    session.flush()
