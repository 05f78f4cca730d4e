"""The offer engine: eligibility, the profitability gate, pricing and ranking of the catalogue's
offers for a customer and a churn reason, and the customer's value segment. The catalogue model is
``bot.core.offer_model``, its loading ``bot.core.offer_loader``, each kind's behaviour
(parameters, pricing, benefit) ``bot.core.offer_kinds``.

Economics (all amounts EUR, Decimal, rounded to cents):

* ``retained_revenue`` = monthly revenue after the offer x ``expected_retention_months`` of the
  offer. "After the offer" is what the customer pays once it is in place for good: the new
  plan's price for a downgrade, the current revenue for everything else (a discount's saving
  is counted in its cost instead).
* ``cost`` = the margin the company gives up because of the offer, per kind (see
  ``bot.core.offer_kinds``).
* ``expected_value`` = acceptance likelihood x retained revenue - cost. The cost is not
  weighted by the likelihood: it is committed once offered, and this keeps the ranking
  conservative.

Gates, in order: eligibility (tenure, plan, value segment, cooldown, running offer), the
profitability gate (seed 003 point 6: a customer with margin <= 0 or segment "unprofitable"
only gets zero-cost tools; nobody gets an offer costing more than ``max_cost_margin_months``
months of their margin), and no offer with a negative expected value. Survivors are ranked by
expected value, ties by offer id. The cold variant (second attempt, seed 000) is validated to be
strictly better for the customer than the hot one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from bot.core.offer_kinds import KIND_BEHAVIOURS, Quote
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import (
    SEGMENTS,
    VARIANTS,
    Catalogue,
    CustomerContext,
    Offer,
    RankedOffer,
    SegmentThresholds,
    add_months,
    as_decimal,
    cents,
)
from bot.core.reasons import REASONS, is_reason
from bot.core.tariffs import Plan


def ineligibility(offer: Offer, ctx: CustomerContext, today: date) -> str | None:
    """Why ``offer`` cannot be made to this customer today, or None when it can."""
    if ctx.tenure_months < offer.min_tenure_months:
        return f"needs {offer.min_tenure_months} months of tenure"
    if offer.plans is not None and ctx.plan_code not in offer.plans:
        return f"not available on plan {ctx.plan_code}"
    if offer.segments is not None and ctx.value_segment not in offer.segments:
        return f"not available to the {ctx.value_segment} segment"
    for offer_id, when in ctx.offers_history:
        if offer_id == offer.id and today < add_months(when, offer.cooldown_months):
            return f"already offered on {when.isoformat()} (cooldown {offer.cooldown_months} months)"
    if (not offer.stackable and ctx.running_offer_until is not None
            and ctx.running_offer_until >= today):
        return f"an offer is running until {ctx.running_offer_until.isoformat()}"
    return None


def profitability_gate(catalogue: Catalogue, ctx: CustomerContext, cost: Decimal) -> str | None:
    """Why an offer costing ``cost`` must not be made to this customer, or None when it may."""
    if cost <= 0:
        return None
    if ctx.monthly_margin <= 0 or ctx.value_segment == "unprofitable":
        return "unprofitable customer: zero-cost offers only"
    months = catalogue.settings.max_cost_margin_months
    cap = cents(months * ctx.monthly_margin)
    if cost > cap:
        return f"cost {cost} exceeds {months} months of margin ({cap})"
    return None


def evaluate_offer(catalogue: Catalogue, offer: Offer, ctx: CustomerContext, *,
                   variant: str = "hot", today: date | None = None) -> RankedOffer | None:
    """Price ``offer`` for this customer, ignoring eligibility and gates; None when it does not
    apply to the customer's plan (no cheaper or richer plan to move to)."""
    today = today or date.today()
    p = offer.params_for(variant)
    current = plan_of(catalogue, ctx)
    revenue, margin = ctx.monthly_revenue, ctx.monthly_margin
    names: dict[str, Mapping[str, str]] = {"plan_name": current.name,
                                           "current_plan_name": current.name}
    params: dict[str, Any] = {"old_price": cents(revenue), "start_date": today,
                              "current_plan": current.code}
    retention = offer.expected_retention_months
    kind = offer.kind
    priced = KIND_BEHAVIOURS[kind].price(p, Quote(catalogue.plans, current, revenue, margin, retention, today))
    if priced is None:
        return None
    cost = priced.cost
    params.update(priced.params)
    if priced.target is not None:
        names["plan_name"] = priced.target.name
    monthly_after = revenue if priced.monthly_after is None else priced.monthly_after

    probability = offer.acceptance[variant]
    retained = cents(monthly_after * retention)
    expected = cents(Decimal(repr(probability)) * retained - cost)
    return RankedOffer(
        offer_id=offer.id, kind=kind, variant=variant, acceptance_probability=probability,
        retained_revenue=retained, cost=cents(cost), expected_value=expected, params=params,
        texts=offer.text, plan_names=names,
    )


def plan_of(catalogue: Catalogue, ctx: CustomerContext) -> Plan:
    plan = catalogue.plans.get(ctx.plan_code)
    if plan is None:
        raise ValueError(f"unknown plan code {ctx.plan_code!r} for customer {ctx.customer_id}")
    return plan


def rank_offers(catalogue: Catalogue, ctx: CustomerContext, reason: str, *,
                variant: str = "hot", today: date | None = None,
                exclude: Iterable[str] = ()) -> list[RankedOffer]:
    """The offers this customer may get for ``reason``, best expected value first.

    Raises ValueError for an unknown reason, variant, value segment or plan code.
    """
    if not is_reason(reason):
        raise ValueError(f"unknown churn reason {reason!r}; expected one of {REASONS}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    if ctx.value_segment not in SEGMENTS:
        raise ValueError(f"unknown value segment {ctx.value_segment!r}; expected one of "
                         f"{SEGMENTS}")
    plan_of(catalogue, ctx)
    today = today or date.today()
    excluded = set(exclude)
    ranked: list[RankedOffer] = []
    for offer in catalogue.for_reason(reason):
        if offer.id in excluded or ineligibility(offer, ctx, today):
            continue
        candidate = evaluate_offer(catalogue, offer, ctx, variant=variant, today=today)
        if candidate is None or profitability_gate(catalogue, ctx, candidate.cost):
            continue
        if candidate.expected_value < 0:
            continue
        ranked.append(candidate)
    ranked.sort(key=lambda r: (-r.expected_value, r.offer_id))
    return ranked


def best_offer(catalogue: Catalogue, ctx: CustomerContext, reason: str, *,
               variant: str = "hot", today: date | None = None,
               exclude: Iterable[str] = ()) -> RankedOffer | None:
    """The top of ``rank_offers``, or None when nothing may be offered."""
    ranked = rank_offers(catalogue, ctx, reason, variant=variant, today=today, exclude=exclude)
    return ranked[0] if ranked else None


def segment_for(monthly_revenue: Decimal | float, monthly_margin: Decimal | float,
                thresholds: SegmentThresholds | Catalogue | None = None) -> str:
    """The customer's value segment: "high", "medium", "low" or "unprofitable" (margin <= 0).

    Without ``thresholds``, those of the default data file (settings.segments) are used.
    """
    if thresholds is None:
        thresholds = load_catalogue().segment_thresholds
    elif isinstance(thresholds, Catalogue):
        thresholds = thresholds.segment_thresholds
    revenue, margin = as_decimal(monthly_revenue), as_decimal(monthly_margin)
    if margin <= 0:
        return "unprofitable"
    if revenue >= thresholds.high_min_revenue and margin >= thresholds.high_min_margin:
        return "high"
    if revenue >= thresholds.medium_min_revenue and margin >= thresholds.medium_min_margin:
        return "medium"
    return "low"
