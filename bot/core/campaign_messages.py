"""The cold offer and the win-back SMS: the offer engine's view of a customer who cancelled, the
chosen cold offer, the message text and its cost in SMS segments, and the plan for one case."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from bot.core.campaign_cases import ALREADY_ACTIVE, MAX_ATTEMPTS, NO_OFFER, NOT_WORTH_IT, UNPROFITABLE
from bot.core.campaign_config import CampaignConfig, load_campaigns
from bot.core.customers import customer_context, sms_block
from bot.core.offer_engine import rank_offers, segment_for
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import Catalogue, CustomerContext, RankedOffer
from bot.core.process import Policy
from bot.core.tariffs import LANGUAGES
from bot.core.vocabulary import LIVE_SUBSCRIPTION, SubscriptionStatus
from bot.storage.models import ColdCase, Customer, RetentionCase

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")


def cold_context(session: Session, customer: Customer, case: RetentionCase, today: date,
                 catalogue: Catalogue) -> CustomerContext:
    """The offer engine's view of a customer who cancelled: their cancelled plan at list
    price (a discount ended with the contract, a free upgrade reverts), no running offer, and
    an offer history without this case's hot offers (their cold variants are the follow-up)."""
    ctx = customer_context(session, customer, today)
    sub = customer.current_subscription
    if sub is not None and sub.status == SubscriptionStatus.CANCELLED:
        plan_code = sub.revert_plan_code or sub.plan_code
        plan = catalogue.plans.get(plan_code)
        revenue = Decimal(str(sub.list_price or sub.monthly_price))
        cost = Decimal(str(plan.monthly_cost)) if plan is not None else Decimal(0)
        margin = (revenue - cost - Decimal(str(customer.extra_monthly_cost or 0))).quantize(CENT)
        ctx = replace(ctx, plan_code=plan_code, monthly_revenue=revenue, monthly_margin=margin,
                      value_segment=segment_for(revenue, margin, catalogue), running_offer_until=None)
    hot = Counter((o.offer_id, o.presented_at.date()) for o in case.offers)
    history = []
    for entry in ctx.offers_history:
        if hot[entry] > 0:
            hot[entry] -= 1
            continue
        history.append(entry)
    return replace(ctx, offers_history=tuple(history))


def sms_segments(text: str) -> int:
    """How many SMS segments ``text`` takes (GSM-7: 160/153 characters, else UCS-2: 70/67)."""
    gsm = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
           "abcdefghijklmnopqrstuvwxyzäöñüà")
    extended = "^{}\\[~]|€"
    if all(ch in gsm or ch in extended for ch in text):
        length = sum(2 if ch in extended else 1 for ch in text)
        return 1 if length <= 160 else -(-length // 153)
    length = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)
    return 1 if length <= 70 else -(-length // 67)


def choose_cold_offer(session: Session, cold: ColdCase, today: date, catalogue: Catalogue | None = None,
                      config: CampaignConfig | None = None) -> tuple[RankedOffer | None, str | None]:
    """The cold offer for this case, or (None, why not)."""
    catalogue = catalogue or load_catalogue()
    config = config or load_campaigns()
    customer = session.get(Customer, cold.customer_id)
    case = session.get(RetentionCase, cold.case_id)
    if customer is None or case is None:
        return None, NO_OFFER
    try:
        ctx = cold_context(session, customer, case, today, catalogue)
        if ctx.monthly_margin <= 0 and not config.contact_unprofitable:
            return None, UNPROFITABLE
        excluded = [o.id for o in catalogue.offers if o.kind in config.exclude_kinds]
        ranked = rank_offers(catalogue, ctx, cold.reason, variant="cold", today=today, exclude=excluded)
    except ValueError as exc:  # e.g. a plan no longer in the catalogue
        logger.warning("No cold offer for cold case #%s: %s", cold.id, exc)
        return None, NO_OFFER
    if not ranked:
        return None, NO_OFFER
    made_in_hot = {o.offer_id for o in case.offers}
    best = next((r for r in ranked if r.offer_id in made_in_hot), ranked[0])
    return best, None


def _offer_params(offer: RankedOffer, today: date) -> dict[str, Any]:
    params = offer.json_params()
    params["_text"] = {language: offer.describe(language) for language in LANGUAGES}
    params["_kind"] = offer.kind
    params["_expected_value"] = str(offer.expected_value)
    params["_priced_on"] = today.isoformat()
    return params


def message_language(case: RetentionCase | None, customer: Customer) -> str:
    """The language of the cancellation conversation, else the customer's."""
    for language in (case.language if case else None, customer.language):
        if language in LANGUAGES:
            return str(language)
    return LANGUAGES[0]


def render_message(config: CampaignConfig, customer: Customer, reason: str, offer_text: str,
                   language: str, plan_name: str = "") -> str:
    """The cold SMS in ``language``."""
    values = {"first_name": customer.first_name, "company": config.company,
              "intro": config.intro_for(reason, language), "offer_text": offer_text,
              "plan_name": plan_name, "customer_ref": customer.ref}
    return " ".join(config.sms[language].format_map(values).split())


def winback_offer_text(cold: ColdCase, language: str) -> str:
    """The cold offer as the customer read it (for the reply's confirmation)."""
    texts = (cold.offer_params or {}).get("_text") or {}
    return str(texts.get(language) or texts.get(LANGUAGES[0]) or "")


def _contact_block(customer: Customer, cold: ColdCase, policy: Policy) -> str | None:
    """Why this customer may not be texted about this case now, or None."""
    blocked = sms_block(customer, "marketing")  # OPTED_OUT, NO_CONSENT or NO_PHONE
    if blocked:
        return blocked
    if cold.attempts >= policy.cold.max_attempts:
        return MAX_ATTEMPTS
    live = [s for s in customer.subscriptions if s.status in LIVE_SUBSCRIPTION]
    if live:
        return ALREADY_ACTIVE
    return None


@dataclass(frozen=True)
class PlannedMessage:
    cold_case_id: int
    customer_id: int
    customer_ref: str
    language: str
    offer_id: str
    body: str

    @property
    def segments(self) -> int:
        return sms_segments(self.body)


def plan_message(session: Session, cold: ColdCase, today: date, policy: Policy, config: CampaignConfig,
          catalogue: Catalogue) -> PlannedMessage | str:
    """Price the offer (stored on the case) and write the SMS; or the skip reason."""
    customer = session.get(Customer, cold.customer_id)
    case = session.get(RetentionCase, cold.case_id)
    if customer is None or case is None:
        return NO_OFFER
    blocked = _contact_block(customer, cold, policy)
    if blocked:
        return blocked
    offer, why = choose_cold_offer(session, cold, today, catalogue, config)
    if offer is None:
        return why or NO_OFFER
    language = message_language(case, customer)
    plan = catalogue.plans.get(offer.params.get("current_plan", ""))
    body = render_message(config, customer, cold.reason, offer.describe(language), language,
                          plan.name[language] if plan else "")
    contact_cost = config.sms_segment_cost_eur * sms_segments(body)
    if offer.expected_value <= contact_cost:
        return NOT_WORTH_IT
    cold.offer_id, cold.offer_cost = offer.offer_id, offer.cost
    cold.offer_params = _offer_params(offer, today)
    return PlannedMessage(cold.id, customer.id, customer.ref, language, offer.offer_id, body)
