"""Proactive retention: contact the customers most at risk before they ask to leave.

A run (``python -m bot.cli.proactive run``) scores the customers with a live subscription with
the churn-risk model and, for the at-risk ones not in a run within ``recontact_after_days``,
records one :class:`ProactiveContact` each: ``holdout`` (the control group, never contacted),
``skipped`` (why: no consent, opted out, unprofitable, no offer...) or ``due`` with the offer
the engine finds for the reason of their top risk driver. Due contacts are texted outside quiet
hours, once (a conditional claim). The reply is read by the assistant (``winback`` stage:
"sí" applies the offer with a reference, "no" is recorded).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.config.errors import ConfigError, read_yaml
from bot.config.settings import PROJECT_ROOT
from bot.core.alerts import key_event_sms_sent
from bot.core.customers import customer_context, sms_block
from bot.core.language import LANGUAGES
from bot.core.offer_engine import rank_offers
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import Catalogue, RankedOffer
from bot.core.reasons import REASONS
from bot.core.sms_texts import language_texts, template_placeholders
from bot.core.subscriptions import apply_offer, reference
from bot.core.vocabulary import AlertActionStatus, ContactStatus
from bot.storage.models import Alert, AlertAction, ColdCase, Customer, ProactiveContact, utcnow

logger = logging.getLogger(__name__)

DEFAULT_PROACTIVE = PROJECT_ROOT / "data" / "proactive.yml"
PLACEHOLDERS = frozenset({"first_name", "company", "intro", "offer_text"})
REPLY_WORDS = {"es": ("SI", "NO", "STOP"), "en": ("YES", "NO", "STOP")}
#: how long a sent contact waits for an answer before it counts as no answer
ANSWER_DAYS = 7


@dataclass(frozen=True)
class ProactiveConfig:
    min_probability: float
    max_contacts_per_run: int
    holdout_share: float
    min_margin: Decimal
    recontact_after_days: int
    exclude_kinds: frozenset[str]
    min_days_since_other_sms: int
    drivers: Mapping[str, str]  # driver -> reason ("default" too)
    sms: Mapping[str, str]
    intro: Mapping[str, Mapping[str, str]]
    source: Path = DEFAULT_PROACTIVE

    def reason_for(self, drivers: tuple[str, ...]) -> str:
        for driver in drivers:
            if driver in self.drivers:
                return self.drivers[driver]
        return self.drivers["default"]

    def in_holdout(self, customer_ref: str, scored_on: date) -> bool:
        digest = hashlib.sha256(f"proactive|{customer_ref}|{scored_on:%Y-%m}".encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < self.holdout_share


def _number(path: Path, raw: Any, entry: str, low: float, high: float) -> float:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not low <= raw <= high:
        raise ConfigError.at(path, f"must be a number from {low} to {high}", entry)
    return float(raw)


def _texts(path: Path, raw: Any, entry: str, *, sms: bool) -> dict[str, str]:
    def placeholders(language: str, text: str, where: str) -> None:
        if sms:
            used = template_placeholders(path, text, where, PLACEHOLDERS)
            if "offer_text" not in used:
                raise ConfigError.at(path, "must contain {offer_text}", where)
            missing = [w for w in REPLY_WORDS[language] if w not in text.split() and f"{w}." not in text.split()]
            if missing:
                raise ConfigError.at(path, f"must contain the reply words {', '.join(missing)}", where)
        elif "{" in text:
            raise ConfigError.at(path, "no placeholders here", where)

    return language_texts(path, raw, entry, placeholders, exact=True)


def parse_proactive(raw: Any, path: Path = DEFAULT_PROACTIVE) -> ProactiveConfig:
    """Validate the proactive-campaign file; ConfigError names the file and the entry."""
    from bot.risk.features import FEATURES

    if not isinstance(raw, dict) or set(raw) != {"settings", "drivers", "sms", "intro"}:
        raise ConfigError.at(path, "expected exactly the sections settings, drivers, sms, intro")
    s = raw["settings"]
    if not isinstance(s, dict):
        raise ConfigError.at(path, "must be a mapping", "settings")
    kinds = s.get("exclude_kinds", [])
    if not isinstance(kinds, list) or any(not isinstance(k, str) for k in kinds):
        raise ConfigError.at(path, "must be a list of offer kinds", "settings.exclude_kinds")
    drivers = raw["drivers"]
    if not isinstance(drivers, dict) or "default" not in drivers:
        raise ConfigError.at(path, "must map risk drivers to reasons, with a default", "drivers")
    for driver, reason in drivers.items():
        if driver != "default" and driver not in FEATURES:
            raise ConfigError.at(path, f"unknown risk driver (known: {', '.join(FEATURES)})", f"drivers.{driver}")
        if reason not in REASONS:
            raise ConfigError.at(path, f"must be one of {', '.join(REASONS)}", f"drivers.{driver}")
    intro = raw["intro"]
    if not isinstance(intro, dict) or "default" not in intro:
        raise ConfigError.at(path, "must have a default sentence", "intro")
    for key in intro:
        if key != "default" and key not in REASONS:
            raise ConfigError.at(path, f"must be a churn reason or default ({', '.join(REASONS)})", f"intro.{key}")
    def setting(name: str, low: float, high: float, default: Any = None) -> float:
        return _number(path, s.get(name, default), f"settings.{name}", low, high)

    return ProactiveConfig(
        min_probability=setting("min_probability", 0.0, 1.0),
        max_contacts_per_run=int(setting("max_contacts_per_run", 1, 10000)),
        holdout_share=setting("holdout_share", 0.0, 0.5),
        min_margin=Decimal(str(setting("min_margin", -1000, 1000, 0))),
        recontact_after_days=int(setting("recontact_after_days", 1, 3650)),
        min_days_since_other_sms=int(setting("min_days_since_other_sms", 0, 365, 7)),
        exclude_kinds=frozenset(kinds), drivers=dict(drivers),
        sms=_texts(path, raw["sms"], "sms", sms=True),
        intro={key: _texts(path, value, f"intro.{key}", sms=False) for key, value in intro.items()},
        source=path)


def load_proactive(path: Path | str | None = None) -> ProactiveConfig:
    p = Path(path or DEFAULT_PROACTIVE)
    try:
        stamp = (p.stat().st_mtime_ns, p.stat().st_size)
    except OSError:
        stamp = (0, 0)
    return _cached(p, stamp)


@lru_cache(maxsize=4)
def _cached(path: Path, stamp: tuple[int, int]) -> ProactiveConfig:
    return parse_proactive(read_yaml(path), path)


# ------------------------------------------------------------------------------ a run

@dataclass
class RunSummary:
    at_risk: int = 0
    due: int = 0
    holdout: int = 0
    skipped: int = 0
    already: int = 0  # in a run within recontact_after_days
    next_run: int = 0  # at risk but over max_contacts_per_run
    ids: list[int] = field(default_factory=list)  # the contacts recorded in this run

    def as_json(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if k != "ids"}


def _block(customer: Customer, margin: Decimal, config: ProactiveConfig) -> str | None:
    blocked = sms_block(customer, "marketing")
    if blocked:
        return blocked
    if margin <= config.min_margin:
        return "unprofitable_customer"
    return None


def texted_lately(session: Session, today: date, days: int) -> set[int]:
    """Customers we texted about something else (a key event, a win-back) in the last ``days``."""
    if days <= 0:
        return set()
    since = datetime.combine(today - timedelta(days=days), datetime.min.time())
    alerts = session.scalars(key_event_sms_sent(since))
    cold = session.scalars(select(ColdCase.customer_id).where(ColdCase.sent_at >= since))
    return set(alerts) | set(cold)


def _credited_lately(session: Session, today: date, days: int = 30) -> set[int]:
    since = datetime.combine(today - timedelta(days=days), datetime.min.time())
    return set(session.scalars(select(Alert.customer_id).join(AlertAction).where(
        AlertAction.action == "compensation", AlertAction.status == AlertActionStatus.DONE,
        AlertAction.created_at >= since)))


def _offer(session: Session, customer: Customer, reason: str, today: date, catalogue: Catalogue,
           config: ProactiveConfig) -> RankedOffer | None:
    try:
        ctx = customer_context(session, customer, today)
        excluded = [o.id for o in catalogue.offers if o.kind in config.exclude_kinds]
        ranked = rank_offers(catalogue, ctx, reason, variant="hot", today=today, exclude=excluded)
    except ValueError as exc:
        logger.warning("No proactive offer for %s: %s", customer.ref, exc)
        return None
    return ranked[0] if ranked else None


def plan_run(session: Session, model: Any, today: date, config: ProactiveConfig | None = None,
             catalogue: Catalogue | None = None) -> RunSummary:
    """Score, choose and record this run's contacts (holdout, skipped, due). Flushes, never commits."""
    from bot.risk.from_db import snapshots

    config = config or load_proactive()
    catalogue = catalogue or load_catalogue()
    rows = snapshots(session, today)
    scored = sorted(zip(rows, model.score(rows)), key=lambda pair: -pair[1].probability)
    since = datetime.combine(today - timedelta(days=config.recontact_after_days), datetime.min.time())
    recent = set(session.scalars(select(ProactiveContact.customer_id).where(ProactiveContact.created_at >= since)))
    texted = texted_lately(session, today, config.min_days_since_other_sms)
    credited = _credited_lately(session, today)
    summary = RunSummary()
    customers = {c.ref: c for c in session.scalars(select(Customer).where(
        Customer.ref.in_([r.customer_id for r, _ in scored])))}
    for row, score in scored:
        if score.probability < config.min_probability:
            break
        summary.at_risk += 1
        customer = customers[row.customer_id]
        if customer.id in recent:
            summary.already += 1
            continue
        if summary.due + summary.holdout + summary.skipped >= config.max_contacts_per_run:
            summary.next_run += 1  # over this run's limit: a later run takes them
            continue
        reason = config.reason_for(score.drivers)
        contact = ProactiveContact(customer_id=customer.id, scored_on=today, probability=round(score.probability, 4),
                                   drivers=list(score.drivers), model_version=str(model.meta.get("model_version")),
                                   reason=reason, holdout=config.in_holdout(customer.ref, today),
                                   status=ContactStatus.HOLDOUT,
                                   offer_params={})
        session.add(contact)
        session.flush()
        summary.ids.append(contact.id)
        if contact.holdout:
            summary.holdout += 1
            continue
        why = _block(customer, Decimal(str(row.values["monthly_margin"])), config) or (
            "texted_recently" if customer.id in texted else None)
        offer = None if why else _offer(session, customer, reason, today, catalogue, config)
        if offer is not None and offer.kind == "credit" and customer.id in credited:
            why = "compensated_recently"  # a key event credited them: not a second credit
        if why or offer is None:
            contact.status, contact.skip_reason = ContactStatus.SKIPPED, why or "no_eligible_offer"
            summary.skipped += 1
            continue
        params = offer.json_params()
        params["_text"] = {language: offer.describe(language) for language in LANGUAGES}
        contact.status, contact.offer_id, contact.offer_kind = ContactStatus.DUE, offer.offer_id, offer.kind
        contact.offer_params, contact.offer_cost = params, offer.cost
        summary.due += 1
    session.flush()
    return summary


def render(config: ProactiveConfig, contact: ProactiveContact, customer: Customer, company: str) -> str:
    language = customer.language if customer.language in LANGUAGES else LANGUAGES[0]
    intro = (config.intro.get(contact.reason) or config.intro["default"])[language]
    offer_text = str((contact.offer_params.get("_text") or {}).get(language) or "")
    values = {"first_name": customer.first_name, "company": company, "intro": intro, "offer_text": offer_text}
    return " ".join(config.sms[language].format_map(values).split())


def claim(session: Session, contact_id: int) -> bool:
    done = session.execute(update(ProactiveContact).where(ProactiveContact.id == contact_id,
                                                          ProactiveContact.status == ContactStatus.DUE)
                           .values(status=ContactStatus.SENDING))
    return bool(done.rowcount)


# ------------------------------------------------------------------------------ the answer

def pending_contact(session: Session, customer_id: int, now: datetime | None = None) -> ProactiveContact | None:
    """The proactive SMS this customer may be answering (sent in the last ``ANSWER_DAYS``)."""
    since = (now or utcnow()) - timedelta(days=ANSWER_DAYS)
    return session.scalar(select(ProactiveContact).where(
        ProactiveContact.customer_id == customer_id, ProactiveContact.status == ContactStatus.SENT,
        ProactiveContact.sent_at >= since).order_by(ProactiveContact.sent_at.desc()).limit(1))


def accept(session: Session, contact: ProactiveContact, today: date | None = None) -> str:
    """Yes to the proactive offer: applied to the subscription once; returns the reference."""
    if contact.status == ContactStatus.ACCEPTED and contact.reference:
        return str(contact.reference)
    customer = session.get(Customer, contact.customer_id)
    params = {k: v for k, v in (contact.offer_params or {}).items() if not k.startswith("_")}
    apply_offer(customer.current_subscription if customer else None, str(contact.offer_id),
                str(contact.offer_kind), params, today or date.today())
    contact.status, contact.outcome_at = ContactStatus.ACCEPTED, utcnow()
    contact.reference = reference("PRO")
    session.flush()
    return str(contact.reference)


def decline(session: Session, contact: ProactiveContact) -> None:
    contact.status, contact.outcome_at = ContactStatus.DECLINED, utcnow()


def offer_text(contact: ProactiveContact, language: str) -> str:
    texts = (contact.offer_params or {}).get("_text") or {}
    return str(texts.get(language) or texts.get(LANGUAGES[0]) or "")
