"""Plan changes instead of leaving: the plan the customer names, the other plans to choose from,
the chosen one read back with its price, dropping one service of a bundle, and the change itself
(a plan change, never a cancellation)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from bot.core.conversation import Conversation, Turn, ask_identity
from bot.core.customer_text import normalise
from bot.core.i18n import format_eur
from bot.core.subscriptions import reference as new_reference
from bot.core.tariffs import Plan, load_plans
from bot.core.vocabulary import Stage, SubscriptionStatus
from bot.storage.models import Customer, Subscription

#: words that name a plan of data/plans.yml in what customers say, by plan code
_PLAN_WORDS: dict[str, tuple[str, ...]] = {
    "movil_basico": ("solo movil", "solo el movil", "movil basico", "basic mobile", "mobile only",
                     "just mobile", "20 gb"),
    "fibra_300": ("300",),
    "fibra_600": ("600",),
    "fibra_1g": ("1 gb", "1gb", "1 giga", "1g", "1000", "un giga", "1 gig"),
    "fibra_movil": ("fibra y movil", "fibra + movil", "fibre and mobile", "fibre + mobile",
                    "50 gb", "con movil", "y movil", "with mobile", "and mobile"),
    "fibra_movil_tv": ("tv", "tele", "television", "todo incluido", "everything", "ilimitado",
                       "unlimited"),
}


def choose_plan(text: str, plans: dict[str, Any]) -> str | None:
    """The one plan the customer names ("la de 300", "fibra 1 Gb", "la más barata"), or None."""
    norm = normalise(text)
    if re.search(r"\b(mas barat[ao]|cheapest|la barata|the cheap one)\b", norm):
        return min(plans.values(), key=lambda p: p.monthly_price).code
    named = [code for code, words in _PLAN_WORDS.items() if code in plans and any(
        re.search(r"(?<![a-z0-9])" + re.escape(w) + r"(?![a-z0-9])", norm) for w in words)]
    if len(named) > 1 and "fibra_1g" in named and "fibra_movil_tv" in named:
        named.remove("fibra_1g")  # "1 Gb + TV" is the bundle
    if len(named) > 1 and "fibra_600" in named and "fibra_movil" in named:
        named.remove("fibra_600")
    return named[0] if len(named) == 1 else None


def plan_list(session: Session, conv: Conversation) -> str:
    """The other plans with their prices, one per line, for the customer to choose from: the
    price they would pay (their running discount goes with them), as the read-back will quote it."""
    current = current_plan_code(session, conv)
    customer = session.get(Customer, conv.customer_id) if current and conv.customer_id else None
    sub = customer.current_subscription if customer else None
    lines = [f"- {p.display_name(conv.language)}: {format_eur(new_monthly_price(sub, p), conv.language)}"
             f"{'/mes' if conv.language == 'es' else '/month'}"
             for p in load_plans().values() if p.code != current]
    return "\n".join(lines)


def plan_options(session: Session, conv: Conversation) -> Turn:
    """The customer wants another plan (not to leave): the options, then their choice."""
    return Turn(stage=Stage.CHOOSE_PLAN).say("utter_change_plan", plan_list=plan_list(session, conv))


def propose_plan(session: Session, conv: Conversation, code: str) -> Turn:
    """Read the chosen plan back with its price; yes changes it (stage plan_change)."""
    plans = load_plans()
    target, current = plans[code], plans.get(current_plan_code(session, conv) or "")
    if current is not None and current.code == code:
        return Turn(stage=Stage.CLOSED).say("utter_plan_already", plan_name=target.display_name(conv.language))
    lang = conv.language
    customer = session.get(Customer, conv.customer_id) if conv.customer_id else None
    sub = customer.current_subscription if customer else None
    return Turn(stage=Stage.PLAN_CHANGE, slots={"plan_change_to": code}).say(
        "utter_confirm_plan_change", new_plan=target.display_name(lang),
        new_price=format_eur(new_monthly_price(sub, target), lang),
        old_price=format_eur(sub.monthly_price, lang) if sub is not None else "-")


def current_plan_code(session: Session, conv: Conversation) -> str | None:
    if not conv.verified or conv.customer_id is None:
        return None
    customer = session.get(Customer, conv.customer_id)
    sub = customer.current_subscription if customer else None
    return sub.plan_code if sub is not None else None


def partial(session: Session, conv: Conversation, drop: str) -> Turn:
    """Drop one service of a bundle: the matching plan with its new price, or a person."""
    if not conv.verified or conv.customer_id is None:
        return ask_identity(Turn(slots={"pending_request": f"drop:{drop}"}))
    customer = session.get(Customer, conv.customer_id)
    sub = customer.current_subscription if customer else None
    plans = load_plans()
    current = plans.get(sub.plan_code) if sub is not None else None
    if current is None or sub is None or sub.status == SubscriptionStatus.CANCELLED:
        return Turn(handoff="partial")
    if drop not in current.services or len(current.services) == 1:
        return Turn(stage=None).say("utter_partial_not_in_plan")
    target = plans.get(current.without.get(drop, ""))
    if target is None:
        return Turn(handoff="partial")
    lang = conv.language
    return Turn(stage=Stage.PLAN_CHANGE, slots={"plan_change_to": target.code}).say(
        "utter_offer_plan_change", current_plan=current.display_name(lang),
        new_plan=target.display_name(lang), new_price=format_eur(new_monthly_price(sub, target), lang),
        old_price=format_eur(sub.monthly_price, lang))


def new_monthly_price(sub: Subscription | None, target: Plan) -> Decimal:
    """What the customer will pay on ``target``: its price less the discount running on the
    subscription, which goes with them. The price quoted is the price charged."""
    if sub is not None and sub.discount_pct:
        return (target.monthly_price * (100 - sub.discount_pct) / 100).quantize(Decimal("0.01"))
    return target.monthly_price


def change_plan(session: Session, conv: Conversation, target_code: str | None = None) -> Turn:
    """Yes to the proposed plan: change it now (a plan change, never a cancellation)."""
    if not conv.verified or conv.customer_id is None:
        return ask_identity(Turn())
    customer = session.get(Customer, conv.customer_id)
    sub = customer.current_subscription if customer else None
    plans = load_plans()
    target = plans.get(target_code or "")
    if sub is None or target is None:
        return Turn(stage=None).say("utter_anything_else")
    sub.plan_code = target.code
    sub.list_price = target.monthly_price
    sub.monthly_price = new_monthly_price(sub, target)
    sub.revert_plan_code = None
    reference = new_reference("PLAN")
    return Turn(stage=Stage.CLOSED, slots={"plan_change_to": None}).say(
        "utter_plan_changed", new_plan=target.display_name(conv.language),
        new_price=format_eur(sub.monthly_price, conv.language), reference=reference)
