"""The offer kinds as one table of behaviours: per kind (``KIND_BEHAVIOURS``), its parameters and
their rules, the text placeholders it provides, the plan targets it accepts, how it is priced for a
customer and what it is worth to them. A new kind is a new entry here (and its effect on the
subscription in ``bot.core.subscriptions.OFFER_EFFECTS``), not another branch.

Cost of each kind (the margin the company gives up): discount: revenue x pct x months; credit:
the credit; pause: the margin lost while the service is suspended (revenue lost minus the cost to
serve saved, so 0 for a customer who loses money); downgrade: the margin lost per month x expected
months (the revenue difference net of the cost-to-serve saving) plus any credit; upgrade: the
cost-to-serve difference x months; technician, transfer, escalation: their fixed cost params plus
any credit; action_plan: the reconciliation gift.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from bot.core.offer_model import ZERO, add_months, cents
from bot.core.tariffs import Plan, downgrade_candidates, upgrade_candidates


@dataclass(frozen=True)
class Param:
    """One parameter of a kind, as data/offers.yml may set it."""

    type: str  # "int" | "money" | "pct" | "target"
    required: bool = True
    better: int = 0  # +1: higher is better for the customer; -1: lower is better; 0: n/a
    low: Decimal | None = None
    low_open: bool = False  # True: value must be > low, else >= low
    high: Decimal | None = None
    high_open: bool = False
    shows: tuple[str, ...] = ()  # placeholders through which a text shows this parameter


@dataclass(frozen=True)
class Quote:
    """What a kind's pricing sees: the plans, the customer's plan and money, and the day."""

    plans: Mapping[str, Plan]
    current: Plan
    revenue: Decimal  # what the customer pays per month
    margin: Decimal  # revenue - cost to serve (may be negative)
    retention_months: int  # the offer's expected_retention_months
    today: date


@dataclass(frozen=True)
class Priced:
    """A kind's price for one customer: its cost and the parameters it adds to the offer."""

    cost: Decimal
    params: dict[str, Any]
    monthly_after: Decimal | None = None  # what the customer pays afterwards; None: the current revenue
    target: Plan | None = None  # the plan moved to (its name is the text's {plan_name})


Pricing = Callable[[Mapping[str, Any], Quote], Priced | None]
Benefit = Callable[[Mapping[str, Any]], Decimal]


@dataclass(frozen=True)
class KindBehaviour:
    params: Mapping[str, Param]  # the parameters of the hot and cold variants
    placeholders: frozenset[str]  # the text placeholders this kind provides (besides the common ones)
    price: Pricing  # None when the offer does not apply to the customer's plan
    benefit: Benefit  # what the offer is worth to the customer, comparable within the kind
    targets: tuple[str, ...] = ()  # plan targets besides a plan code (downgrade, upgrade)
    optional_credit: bool = False  # {credit} may be used only when every variant grants one


def target_plan(plans: Mapping[str, Plan], current: Plan, target: str, revenue: Decimal) -> Plan | None:
    """The plan a downgrade or upgrade moves to: a target (cheaper, cheapest, next_tier) or a plan code."""
    plans = dict(plans)
    if target == "cheaper":
        found = [p for p in downgrade_candidates(plans, current) if p.monthly_price < revenue]
        return found[0] if found else None
    if target == "cheapest":
        found = downgrade_candidates(plans, current)
        return min(found, key=lambda p: (p.monthly_price, p.tier)) if found else None
    if target == "next_tier":
        found = upgrade_candidates(plans, current)
        return found[0] if found else None
    plan = plans[target]
    return None if plan.code == current.code else plan


# --------------------------------------------------------------------------------------------
# Pricing per kind


def _price_discount(p: Mapping[str, Any], q: Quote) -> Priced:
    pct, months = p["discount_pct"], p["months"]
    return Priced(cents(q.revenue * pct / 100 * months),
                  {"discount_pct": pct, "months": months, "end_date": add_months(q.today, months),
                   "new_price": cents(q.revenue * (100 - pct) / 100)})


def _price_pause(p: Mapping[str, Any], q: Quote) -> Priced:
    months = p["pause_months"]
    return Priced(cents(max(q.margin, ZERO) * months),
                  {"pause_months": months, "resume_date": add_months(q.today, months)})


def _price_downgrade(p: Mapping[str, Any], q: Quote) -> Priced | None:
    target = target_plan(q.plans, q.current, p["target"], q.revenue)
    if target is None or target.monthly_price >= q.revenue:
        return None
    margin_after = target.monthly_price - target.monthly_cost
    cost = cents(max(q.margin - margin_after, ZERO) * q.retention_months + p["credit_eur"])
    return Priced(cost, {"target_plan": target.code, "new_price": target.monthly_price,
                         "monthly_saving": cents(q.revenue - target.monthly_price),
                         "credit": p["credit_eur"], "lost": sorted(q.current.services - target.services)},
                  monthly_after=target.monthly_price, target=target)


def _price_upgrade(p: Mapping[str, Any], q: Quote) -> Priced | None:
    target = target_plan(q.plans, q.current, p["target"], q.revenue)
    if target is None or target.tier <= q.current.tier:
        return None
    months = p["months"]
    cost = cents(max(target.monthly_cost - q.current.monthly_cost, ZERO) * months)
    return Priced(cost, {"target_plan": target.code, "months": months, "new_price": cents(q.revenue),
                         "end_date": add_months(q.today, months)}, target=target)


def _price_credit(p: Mapping[str, Any], q: Quote) -> Priced:
    return Priced(p["credit_eur"], {"credit": p["credit_eur"]})


def _price_technician(p: Mapping[str, Any], q: Quote) -> Priced:
    return Priced(p["visit_cost_eur"] + p["credit_eur"],
                  {"within_hours": p["within_hours"], "visit_cost": p["visit_cost_eur"], "credit": p["credit_eur"]})


def _price_transfer(p: Mapping[str, Any], q: Quote) -> Priced:
    return Priced(p["cost_eur"] + p["credit_eur"], {"within_days": p["within_days"], "credit": p["credit_eur"]})


def _price_escalation(p: Mapping[str, Any], q: Quote) -> Priced:
    return Priced(p["cost_eur"] + p["credit_eur"], {"callback_hours": p["callback_hours"], "credit": p["credit_eur"]})


def _price_action_plan(p: Mapping[str, Any], q: Quote) -> Priced:
    return Priced(p["gift_eur"], {"gift": p["gift_eur"]})


# --------------------------------------------------------------------------------------------
# What an offer is worth to the customer, per kind


def _value(params: Mapping[str, Any], key: str) -> Decimal:
    try:
        return Decimal(str(params.get(key) or 0))
    except (ArithmeticError, ValueError):
        return ZERO


def _credit_benefit(params: Mapping[str, Any]) -> Decimal:
    return _value(params, "credit")


def _discount_benefit(params: Mapping[str, Any]) -> Decimal:
    return (_value(params, "old_price") - _value(params, "new_price")) * _value(params, "months")


def _downgrade_benefit(params: Mapping[str, Any]) -> Decimal:
    return _value(params, "monthly_saving") * 12 + _value(params, "credit")


def _benefit_of(key: str) -> Benefit:
    return lambda params: _value(params, key)


# --------------------------------------------------------------------------------------------
# The table

_ONE = Decimal(1)
_MONTHS = Param("int", better=+1, low=_ONE, shows=("months", "end_date"))
_EXTRA_CREDIT = Param("money", required=False, better=+1, low=ZERO, shows=("credit", "bonus"))
_FIXED_COST = Param("money", required=False, low=ZERO)

#: placeholders every kind's text may use
COMMON_PLACEHOLDERS = frozenset({"old_price", "plan_name", "current_plan_name", "start_date"})

KIND_BEHAVIOURS: dict[str, KindBehaviour] = {
    "discount": KindBehaviour(
        params={"discount_pct": Param("pct", better=+1, low=ZERO, low_open=True, high=Decimal(100),
                                      high_open=True, shows=("discount_pct", "new_price")),
                "months": _MONTHS},
        placeholders=frozenset({"discount_pct", "months", "new_price", "end_date"}),
        price=_price_discount, benefit=_discount_benefit),
    "pause": KindBehaviour(
        params={"pause_months": Param("int", better=+1, low=_ONE, shows=("pause_months", "resume_date"))},
        placeholders=frozenset({"pause_months", "resume_date"}),
        price=_price_pause, benefit=_benefit_of("pause_months")),
    "downgrade": KindBehaviour(
        params={"target": Param("target"), "credit_eur": _EXTRA_CREDIT},
        placeholders=frozenset({"new_price", "monthly_saving", "bonus", "loses"}),
        price=_price_downgrade, benefit=_downgrade_benefit, targets=("cheaper", "cheapest"), optional_credit=True),
    "upgrade": KindBehaviour(
        params={"target": Param("target"), "months": _MONTHS},
        placeholders=frozenset({"months", "end_date", "new_price"}),
        price=_price_upgrade, benefit=_benefit_of("months"), targets=("next_tier",)),
    "credit": KindBehaviour(
        params={"credit_eur": Param("money", better=+1, low=ZERO, low_open=True, shows=("credit",))},
        placeholders=frozenset({"credit"}),
        price=_price_credit, benefit=_credit_benefit),
    "technician": KindBehaviour(
        params={"within_hours": Param("int", better=-1, low=_ONE, shows=("within_hours",)),
                "visit_cost_eur": Param("money", low=ZERO), "credit_eur": _EXTRA_CREDIT},
        placeholders=frozenset({"within_hours", "bonus"}),
        price=_price_technician, benefit=_credit_benefit, optional_credit=True),
    "transfer": KindBehaviour(
        params={"within_days": Param("int", better=-1, low=_ONE, shows=("within_days",)),
                "cost_eur": _FIXED_COST, "credit_eur": _EXTRA_CREDIT},
        placeholders=frozenset({"within_days", "bonus"}),
        price=_price_transfer, benefit=_credit_benefit, optional_credit=True),
    "escalation": KindBehaviour(
        params={"callback_hours": Param("int", better=-1, low=_ONE, shows=("callback_hours",)),
                "cost_eur": _FIXED_COST, "credit_eur": _EXTRA_CREDIT},
        placeholders=frozenset({"callback_hours", "bonus"}),
        price=_price_escalation, benefit=_credit_benefit, optional_credit=True),
    "action_plan": KindBehaviour(
        params={"gift_eur": Param("money", better=+1, low=ZERO, shows=("gift",))},
        placeholders=frozenset({"gift"}),
        price=_price_action_plan, benefit=_benefit_of("gift")),
}
KINDS: tuple[str, ...] = tuple(KIND_BEHAVIOURS)


def customer_benefit(kind: str, params: Mapping[str, Any]) -> Decimal:
    """What an offer is worth to the customer, comparable between two offers of one kind.

    Used so that a second offer is never worse for the customer than the one they declined
    (15 % for 6 months after 15 % for 12 is worse; a shorter pause is worse). A kind not in the
    table is worth its credit.
    """
    behaviour = KIND_BEHAVIOURS.get(kind)
    return (behaviour.benefit if behaviour is not None else _credit_benefit)(params)
