"""Cold retention (win-back) campaigns: contact again, by SMS, customers who cancelled in hot.

Seed 000: decisions taken in anger are often reconsidered, so once the customer has cooled
down *and* their problem has been solved, they are contacted again with a better alternative
than the one offered in hot, if it pays. The life of a cold case (``ColdCase``)::

    cancel() -> schedule_cold_case -> cooling | waiting_fix
    refresh (cool-down over and, where required, problem solved) -> due
    claim_due (atomic, one runner per case) -> claimed
    run_campaign: no consent / opted out / no offer that pays ... -> skipped (reason recorded)
                  SMS sent -> sent
    reply SI / YES -> accept_winback -> won_back (subscription reactivated, offer applied)
    reply NO -> decline_winback -> declined;  silence -> expire_unanswered -> no_answer

* **Cool-down and problem solved** (``data/retention.yml``, ``cold``): ``due_on`` = the
  cancellation day + the reason's cool-down. For the reasons that need their problem solved
  first, the customer's incidents of the matching kinds (``data/campaigns.yml``,
  ``problem_incidents``) opened before the cancellation decide it: all solved -> solved at the
  latest ``solved_at``; an open one, or none on record -> ``waiting_fix`` until the incidents
  are solved or a person marks it (``python -m bot.cli.campaigns solved --case ID``).
* **The offer**: the cold variant (``rank_offers(..., variant="cold")``) priced on the
  cancelled subscription at its list price, with the catalogue's eligibility and
  profitability gate. The hot offers of the same case do not block their own cold variant
  (the engine's per-offer cool-down would); among the eligible cold offers, one that was made
  in hot is preferred, so the customer gets a strictly better version of what they were
  offered. None eligible, or its expected value does not cover the SMS -> ``skipped``.
* **Sending**: only with marketing consent, never after an opt-out, never in the customer's
  quiet hours (their own time zone), at most ``cold.max_attempts`` contacts per case. Claims
  are atomic: ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, a compare-and-set
  ``UPDATE ... WHERE status = 'due'`` on SQLite, so two runners never text the same customer.
  The attempt is committed before the SMS goes out: a runner that dies mid-send leaves the
  case ``claimed`` (visible in ``status``) rather than texting twice.

The command line is ``bot.cli.campaigns`` (``python -m bot.cli.campaigns run|export|solved|status``).
"""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import re
import socket
import time as time_module
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.config.errors import PROJECT_ROOT, ConfigError, read_yaml
from bot.core.customers import customer_context, sms_block
from bot.core.language import fold
from bot.core.offers import KINDS, Catalogue, CustomerContext, RankedOffer, load_catalogue, rank_offers, segment_for
from bot.core.process import Policy, load_policy
from bot.core.reasons import INCIDENT_KINDS, REASONS
from bot.core.sms_texts import plain_sms_problem, template_placeholders
from bot.core.spreadsheet import defused
from bot.core.subscriptions import accept_offer, reactivate
from bot.core.tariffs import LANGUAGES, file_stamp
from bot.storage.models import CaseOffer, ColdCase, Customer, Incident, RetentionCase, utcnow

if TYPE_CHECKING:
    from bot.messaging.sms import SmsSender

logger = logging.getLogger(__name__)

DEFAULT_CAMPAIGNS = PROJECT_ROOT / "data" / "campaigns.yml"
STATUSES: tuple[str, ...] = ("cooling", "waiting_fix", "due", "claimed", "sent", "won_back", "declined",
                             "no_answer", "skipped")
WAITING_STATUSES = ("cooling", "waiting_fix")
OPEN_STATUSES = ("cooling", "waiting_fix", "due", "claimed", "sent")  # no outcome yet
PLACEHOLDERS = frozenset({"first_name", "company", "intro", "offer_text", "plan_name", "customer_ref"})
SKIP_KEY = "_skip_reason"  # in ColdCase.offer_params: why the case was skipped
_INTERNAL_KEYS = (SKIP_KEY, "_kind", "_expected_value", "_priced_on")
CENT = Decimal("0.01")

# Skip reasons recorded on the case.
NO_CONSENT = "no_marketing_consent"
OPTED_OUT = "sms_opted_out"
NO_PHONE = "no_phone"
ALREADY_ACTIVE = "customer_active_again"
UNPROFITABLE = "unprofitable_customer"
NO_OFFER = "no_eligible_offer"
NOT_WORTH_IT = "offer_does_not_pay"
MAX_ATTEMPTS = "max_attempts_reached"
QUIET = "quiet_hours"  # not a skip: the case stays due


class CampaignError(ValueError):
    """An operation that does not apply to the cold case in its current state."""


# --------------------------------------------------------------------------------------------
# Configuration (data/campaigns.yml)


@dataclass(frozen=True)
class CampaignConfig:
    company: str
    sms: Mapping[str, str]  # language -> template
    intro: Mapping[str, Mapping[str, str]]  # reason | "default" -> language -> sentence
    reply_words: Mapping[str, tuple[str, str]]  # language -> (accept, decline)
    problem_incidents: Mapping[str, tuple[str, ...]]  # reason -> incident kinds
    sms_segment_cost_eur: Decimal = Decimal("0.08")
    contact_unprofitable: bool = False
    no_answer_days: int = 7
    exclude_kinds: frozenset[str] = frozenset({"action_plan"})
    source: Path = DEFAULT_CAMPAIGNS

    def intro_for(self, reason: str, language: str) -> str:
        return (self.intro.get(reason) or self.intro["default"])[language]


def _languages(path: Path, raw: Any, entry: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ConfigError.at(path, "must be a mapping {es: ..., en: ...}", entry)
    unknown = sorted(set(map(str, raw)) - set(LANGUAGES))
    if unknown:
        raise ConfigError.at(path, f"unknown language(s): {', '.join(unknown)}", entry)
    out: dict[str, str] = {}
    for language in LANGUAGES:
        text = raw.get(language)
        if not isinstance(text, str) or not text.strip():
            raise ConfigError.at(path, "missing or empty", f"{entry}.{language}")
        text = " ".join(text.split())
        problem = plain_sms_problem(text)
        if problem:
            raise ConfigError.at(path, problem, f"{entry}.{language}")
        if "{" in text or "}" in text:
            raise ConfigError.at(path, "no placeholders here", f"{entry}.{language}")
        out[language] = text
    return out


def parse_campaigns(raw: Any, path: Path = DEFAULT_CAMPAIGNS) -> CampaignConfig:
    """Validate the campaigns file; raises ConfigError naming the file and the entry."""
    if not isinstance(raw, dict):
        raise ConfigError.at(path, "expected a mapping")
    known = {"company", "sms", "intro", "reply_words", "problem_incidents", "settings"}
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise ConfigError.at(path, f"unknown top-level key(s): {', '.join(unknown)}")
    company = raw.get("company")
    if not isinstance(company, str) or not company.strip():
        raise ConfigError.at(path, "missing or empty", "company")

    words = raw.get("reply_words")
    if not isinstance(words, dict):
        raise ConfigError.at(path, "missing or not a mapping", "reply_words")
    reply_words: dict[str, tuple[str, str]] = {}
    for language in LANGUAGES:
        pair = words.get(language)
        if not isinstance(pair, dict):
            raise ConfigError.at(path, "must be {accept: ..., decline: ...}", f"reply_words.{language}")
        values = []
        for key in ("accept", "decline"):
            word = pair.get(key)
            if not isinstance(word, str) or not re.fullmatch(r"[A-ZÁÉÍÓÚÑ]+", word):
                raise ConfigError.at(path, f"must be one word in capitals, quoted (got {word!r})",
                                     f"reply_words.{language}.{key}")
            values.append(word)
        if values[0] == values[1]:
            raise ConfigError.at(path, "accept and decline must differ", f"reply_words.{language}")
        reply_words[language] = (values[0], values[1])

    sms_raw = raw.get("sms")
    if not isinstance(sms_raw, dict):
        raise ConfigError.at(path, "missing or not a mapping {es: ..., en: ...}", "sms")
    unknown = sorted(set(map(str, sms_raw)) - set(LANGUAGES))
    if unknown:
        raise ConfigError.at(path, f"unknown language(s): {', '.join(unknown)}", "sms")
    sms: dict[str, str] = {}
    for language in LANGUAGES:
        entry = f"sms.{language}"
        template = sms_raw.get(language)
        if not isinstance(template, str) or not template.strip():
            raise ConfigError.at(path, "missing or empty", entry)
        template = " ".join(template.split())
        problem = plain_sms_problem(template)
        if problem:
            raise ConfigError.at(path, problem, entry)
        if "offer_text" not in template_placeholders(path, template, entry, PLACEHOLDERS):
            raise ConfigError.at(path, "must contain {offer_text}", entry)
        for word in reply_words[language]:
            if not re.search(rf"\b{word}\b", template):
                raise ConfigError.at(path, f"must ask to reply {word} (reply_words.{language})", entry)
        sms[language] = template

    intro_raw = raw.get("intro")
    if not isinstance(intro_raw, dict) or "default" not in intro_raw:
        raise ConfigError.at(path, "missing, not a mapping, or without 'default'", "intro")
    intro: dict[str, dict[str, str]] = {}
    for key, texts in intro_raw.items():
        if key != "default" and key not in REASONS:
            raise ConfigError.at(path, f"unknown churn reason (known: {', '.join(REASONS)})", f"intro.{key}")
        intro[str(key)] = _languages(path, texts, f"intro.{key}")

    incidents_raw = raw.get("problem_incidents") or {}
    if not isinstance(incidents_raw, dict):
        raise ConfigError.at(path, "must be a mapping reason -> [incident kinds]", "problem_incidents")
    problem_incidents: dict[str, tuple[str, ...]] = {}
    for reason, kinds in incidents_raw.items():
        entry = f"problem_incidents.{reason}"
        if reason not in REASONS:
            raise ConfigError.at(path, f"unknown churn reason (known: {', '.join(REASONS)})", entry)
        if not isinstance(kinds, list) or not kinds or any(k not in INCIDENT_KINDS for k in kinds):
            raise ConfigError.at(path, f"must be a list of incident kinds ({', '.join(INCIDENT_KINDS)})", entry)
        problem_incidents[str(reason)] = tuple(kinds)

    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        raise ConfigError.at(path, "must be a mapping", "settings")
    unknown = sorted(set(map(str, settings)) - {"sms_segment_cost_eur", "contact_unprofitable", "no_answer_days",
                                                 "exclude_kinds"})
    if unknown:
        raise ConfigError.at(path, f"unknown key(s): {', '.join(unknown)}", "settings")
    cost = settings.get("sms_segment_cost_eur", 0.08)
    if isinstance(cost, bool) or not isinstance(cost, (int, float)) or not 0 <= cost <= 5:
        raise ConfigError.at(path, f"must be a number between 0 and 5, got {cost!r}", "settings.sms_segment_cost_eur")
    unprofitable = settings.get("contact_unprofitable", False)
    if not isinstance(unprofitable, bool):
        raise ConfigError.at(path, f"must be true or false, got {unprofitable!r}", "settings.contact_unprofitable")
    days = settings.get("no_answer_days", 7)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 90:
        raise ConfigError.at(path, f"must be a whole number between 1 and 90, got {days!r}",
                             "settings.no_answer_days")
    exclude = settings.get("exclude_kinds", ["action_plan"])
    if not isinstance(exclude, list) or any(k not in KINDS for k in exclude):
        raise ConfigError.at(path, f"must be a list of offer kinds ({', '.join(KINDS)})", "settings.exclude_kinds")
    return CampaignConfig(
        company=company.strip(), sms=sms, intro=intro, reply_words=reply_words,
        problem_incidents=problem_incidents, sms_segment_cost_eur=Decimal(str(cost)),
        contact_unprofitable=unprofitable, no_answer_days=days, exclude_kinds=frozenset(exclude), source=path)


def reply_word(text: str, config: CampaignConfig | None = None) -> bool | None:
    """True when a reply is just the win-back SMS's accept word (``reply_words``), False for its
    decline word, None for anything else (read by ``bot.nlu.answers`` instead)."""
    config = config or load_campaigns()
    said = fold(" ".join(re.sub(r"[^\w]+", " ", text or "").split()))
    for accept, decline in config.reply_words.values():
        if said == fold(accept):
            return True
        if said == fold(decline):
            return False
    return None


def load_campaigns(path: Path | str = DEFAULT_CAMPAIGNS) -> CampaignConfig:
    """Load and validate ``data/campaigns.yml`` (cached until the file changes)."""
    path = Path(path)
    return _load_campaigns_cached(path, file_stamp(path))


@lru_cache(maxsize=8)
def _load_campaigns_cached(path: Path, stamp: tuple[int, int]) -> CampaignConfig:
    del stamp  # only part of the cache key
    return parse_campaigns(read_yaml(path), path)


# --------------------------------------------------------------------------------------------
# Scheduling: cool-down and the problem-solved rule


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time.max)


def problem_solved_at(session: Session, customer_id: int, reason: str, cancelled_on: date,
                      config: CampaignConfig | None = None) -> datetime | None:
    """When the problem behind ``reason`` was solved, from the customer's incidents of the
    matching kinds opened up to the cancellation day: all solved -> the latest ``solved_at``;
    one still open, or none on record -> None (a person has to mark it solved)."""
    config = config or load_campaigns()
    kinds = config.problem_incidents.get(reason, ())
    if not kinds:
        return None
    rows = session.execute(select(Incident.solved_at).where(
        Incident.customer_id == customer_id, Incident.kind.in_(kinds),
        Incident.opened_at <= _end_of(cancelled_on))).scalars().all()
    if not rows or any(solved is None for solved in rows):
        return None
    return max(rows)


def _cancelled_on(cold: ColdCase, policy: Policy) -> date:
    return cold.due_on - timedelta(days=policy.cold.cooldown_days.get(cold.reason, 0))


def schedule_cold_case(session: Session, case: RetentionCase, today: date | None = None,
                       policy: Policy | None = None, config: CampaignConfig | None = None) -> ColdCase | None:
    """Make a cancelled case a cold case (idempotent: the existing one is returned, and a
    customer with a cold case still open keeps that one: never two contacts at once).

    Only cases closed as ``cancelled`` with a known customer qualify; anything else gives None.
    ``today`` is the cancellation day (default: the day the case was closed). Flushes, never
    commits: it runs inside the caller's transaction (``RetentionService.cancel``).
    """
    if case.status != "cancelled" or case.customer_id is None:
        return None
    existing = session.scalar(select(ColdCase).where(ColdCase.case_id == case.id))
    if existing is not None:
        return existing
    pending = session.scalar(select(ColdCase).where(ColdCase.customer_id == case.customer_id,
                                                    ColdCase.status.in_(OPEN_STATUSES)).limit(1))
    if pending is not None:  # cancelled again while already waiting for a cold contact: one is enough
        logger.info("Case #%s: customer already has open cold case #%s.", case.id, pending.id)
        return pending
    policy = policy or load_policy()
    config = config or load_campaigns()
    day = today or (case.closed_at.date() if case.closed_at else date.today())
    reason = case.reason if case.reason in REASONS else "other"
    solved_at = None
    requires = reason in policy.cold.requires_problem_solved
    if requires:
        solved_at = problem_solved_at(session, case.customer_id, reason, day, config)
    cold = ColdCase(case_id=case.id, customer_id=case.customer_id, reason=reason,
                    status="waiting_fix" if requires and solved_at is None else "cooling",
                    due_on=day + timedelta(days=policy.cold.cooldown_days[reason]),
                    problem_solved_at=solved_at, offer_params={}, attempts=0)
    session.add(cold)
    session.flush()
    logger.info("Cold case #%s scheduled for case #%s (%s), due %s, %s.", cold.id, case.id, reason,
                cold.due_on.isoformat(), cold.status)
    return cold


def _move(session: Session, cold: ColdCase, expected: str | Iterable[str], **values: Any) -> bool:
    """Compare-and-set: apply ``values`` to ``cold`` only if its status in the database is
    still ``expected``, so that a concurrent runner's change (a claim, a send) is never
    overwritten by a decision taken on a stale read. False when someone got there first.
    ``cold`` is expired and re-read on next access."""
    statuses = (expected,) if isinstance(expected, str) else tuple(expected)
    result = session.execute(
        update(ColdCase).where(ColdCase.id == cold.id, ColdCase.status.in_(statuses)).values(**values)
        .execution_options(synchronize_session=False))
    session.expire(cold)
    return bool(result.rowcount == 1)


def mark_solved(session: Session, cold_case_id: int, when: datetime | None = None) -> ColdCase:
    """A person confirms the customer's problem is solved; ``refresh`` makes the case due once
    its cool-down is over. Raises CampaignError for an unknown case. Flushes."""
    cold = session.get(ColdCase, cold_case_id)
    if cold is None:
        raise CampaignError(f"no cold case #{cold_case_id}")
    when = when or utcnow()
    if not _move(session, cold, "waiting_fix", status="cooling", problem_solved_at=when):
        session.execute(update(ColdCase).where(ColdCase.id == cold.id).values(problem_solved_at=when)
                        .execution_options(synchronize_session=False))
        session.expire(cold)
    session.flush()
    return cold


def refresh(session: Session, today: date, policy: Policy | None = None,
            config: CampaignConfig | None = None) -> int:
    """Move cooling / waiting_fix cases to ``due`` when their cool-down is over and, where the
    reason requires it, their problem is solved (re-read from the incidents). Flushes; returns
    how many became due."""
    policy = policy or load_policy()
    config = config or load_campaigns()
    waiting = session.scalars(select(ColdCase).where(ColdCase.status.in_(WAITING_STATUSES))
                              .order_by(ColdCase.id)).all()
    became_due = 0
    for cold in waiting:
        status, solved_at = cold.status, cold.problem_solved_at
        requires = cold.reason in policy.cold.requires_problem_solved
        if requires and solved_at is None:
            solved_at = problem_solved_at(session, cold.customer_id, cold.reason, _cancelled_on(cold, policy), config)
        new_status = status
        if not requires or solved_at is not None:
            new_status = "due" if cold.due_on <= today else "cooling"
        if (new_status, solved_at) == (status, cold.problem_solved_at):
            continue
        if _move(session, cold, status, status=new_status, problem_solved_at=solved_at) and new_status == "due":
            became_due += 1
    session.flush()
    return became_due


# --------------------------------------------------------------------------------------------
# Quiet hours and claiming


def _utc(now: datetime | None) -> datetime:
    """``now`` as a naive UTC datetime (the database's convention)."""
    if now is None:
        return utcnow()
    if now.tzinfo is not None:
        return now.astimezone(timezone.utc).replace(tzinfo=None)
    return now


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("Unknown time zone %r on a customer; using %s.", name, fallback)
        return ZoneInfo(fallback)


def in_quiet_hours(policy: Policy, tz_name: str | None, now: datetime) -> bool:
    """True when it is quiet time (``cold.quiet_hours``) in the time zone ``tz_name``."""
    local = _utc(now).replace(tzinfo=timezone.utc).astimezone(_zone(tz_name, policy.handoff.timezone)).time()
    start, end = policy.cold.quiet_start, policy.cold.quiet_end
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window spans midnight


def _zones(session: Session, now: datetime, policy: Policy) -> tuple[list[str], list[str]]:
    """The time zones of customers with due cases: (those where one may text now, quiet ones).
    Quiet hours depend only on the zone, so the claim filters in SQL and can use LIMIT."""
    zones = session.scalars(select(Customer.timezone).join(ColdCase, ColdCase.customer_id == Customer.id)
                            .where(ColdCase.status == "due").distinct()).all()
    awake: list[str] = []
    quiet: list[str] = []
    for zone in zones:
        (quiet if in_quiet_hours(policy, zone, now) else awake).append(zone)
    return awake, quiet


def _due_in(zones: list[str], exclude: Collection[int]) -> Select:
    query = (select(ColdCase).join(Customer, Customer.id == ColdCase.customer_id)
             .where(ColdCase.status == "due", Customer.timezone.in_(zones)))
    if exclude:
        query = query.where(ColdCase.id.not_in(list(exclude)))
    return query.order_by(ColdCase.due_on, ColdCase.id)


def due_candidates(session: Session, now: datetime, policy: Policy | None = None,
                   exclude: Collection[int] = (), limit: int | None = None) -> tuple[list[int], list[int]]:
    """Ids of due cases, oldest first: (up to ``limit`` that may be texted now, those in their
    customers' quiet hours)."""
    policy = policy or load_policy()
    awake, quiet = _zones(session, now, policy)
    sendable_query = _due_in(awake, exclude).with_only_columns(ColdCase.id)
    if limit is not None:
        sendable_query = sendable_query.limit(limit)
    sendable = list(session.scalars(sendable_query)) if awake else []
    waiting = list(session.scalars(_due_in(quiet, ()).with_only_columns(ColdCase.id))) if quiet else []
    return sendable, waiting


def claim_due(session: Session, runner_id: str, limit: int | None, now: datetime,
              policy: Policy | None = None, exclude: Collection[int] = ()) -> list[ColdCase]:
    """Claim up to ``limit`` due cases (None: all), oldest first, outside their customers' quiet
    hours, for ``runner_id``, atomically: two runners never get the same case. ``exclude``: ids
    not to claim (cases this runner already tried). Commits.

    PostgreSQL (and other databases with row locks): ``SELECT ... FOR UPDATE SKIP LOCKED
    LIMIT n`` then the update, in one transaction: rows another runner is claiming are skipped,
    not waited for. SQLite (one writer at a time): a compare-and-set ``UPDATE ... WHERE id = :id
    AND status = 'due'`` per candidate, kept only when it changed a row.
    """
    if not runner_id or len(runner_id) > 64:
        raise ValueError("runner_id must be 1 to 64 characters")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    policy = policy or load_policy()
    now = _utc(now)
    claimed: list[int] = []
    if session.get_bind().dialect.name == "sqlite":
        while limit is None or len(claimed) < limit:
            ids, _ = due_candidates(session, now, policy, exclude, None if limit is None else limit - len(claimed))
            session.commit()  # no read transaction is held across the writes
            if not ids:
                break
            for cold_id in ids:  # each candidate ends claimed, by us or by another runner
                result = session.execute(
                    update(ColdCase).where(ColdCase.id == cold_id, ColdCase.status == "due")
                    .values(status="claimed", claimed_by=runner_id, claimed_at=now)
                    .execution_options(synchronize_session=False))
                session.commit()
                if result.rowcount == 1:
                    claimed.append(cold_id)
    else:
        awake, _ = _zones(session, now, policy)
        if awake:
            query = (_due_in(awake, exclude).with_for_update(skip_locked=True, of=ColdCase)
                     .execution_options(populate_existing=True))
            if limit is not None:
                query = query.limit(limit)
            for cold in session.scalars(query).all():
                cold.status, cold.claimed_by, cold.claimed_at = "claimed", runner_id, now
                claimed.append(cold.id)
        session.commit()
    if not claimed:
        return []
    return list(session.scalars(select(ColdCase).where(ColdCase.id.in_(claimed)).order_by(
        ColdCase.due_on, ColdCase.id).execution_options(populate_existing=True)).all())


# --------------------------------------------------------------------------------------------
# The cold offer and the message


def cold_context(session: Session, customer: Customer, case: RetentionCase, today: date,
                 catalogue: Catalogue) -> CustomerContext:
    """The offer engine's view of a customer who cancelled: their cancelled plan at list
    price (a discount ended with the contract, a free upgrade reverts), no running offer, and
    an offer history without this case's hot offers (their cold variants are the follow-up)."""
    ctx = customer_context(session, customer, today)
    sub = customer.current_subscription
    if sub is not None and sub.status == "cancelled":
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


def _skip(cold: ColdCase, reason: str) -> None:
    cold.status = "skipped"
    cold.outcome_at = utcnow()
    cold.offer_params = {**(cold.offer_params or {}), SKIP_KEY: reason}
    logger.info("Cold case #%s skipped: %s.", cold.id, reason)


def _contact_block(customer: Customer, cold: ColdCase, policy: Policy) -> str | None:
    """Why this customer may not be texted about this case now, or None."""
    blocked = sms_block(customer, "marketing")  # OPTED_OUT, NO_CONSENT or NO_PHONE
    if blocked:
        return blocked
    if cold.attempts >= policy.cold.max_attempts:
        return MAX_ATTEMPTS
    live = [s for s in customer.subscriptions if s.status in ("active", "paused")]
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


def _plan(session: Session, cold: ColdCase, today: date, policy: Policy, config: CampaignConfig,
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


# --------------------------------------------------------------------------------------------
# The runner


@dataclass
class CampaignSummary:
    runner_id: str
    dry_run: bool
    now: datetime
    became_due: int = 0
    expired: int = 0
    claimed: int = 0
    sent: int = 0
    quiet_hours: int = 0  # due but in the customer's quiet hours: left for a later run
    retry_later: int = 0  # delivery failed, attempts left: due again
    failed: int = 0  # delivery failed for good
    skipped: Counter[str] = field(default_factory=Counter)
    messages: list[PlannedMessage] = field(default_factory=list)  # sent, or would be sent

    def lines(self) -> list[str]:
        head = "DRY RUN: nothing sent, nothing changed. " if self.dry_run else ""
        out = [f"{head}runner {self.runner_id} at {self.now:%Y-%m-%d %H:%M} UTC",
               f"became due: {self.became_due}; expired without answer: {self.expired}; "
               f"in quiet hours: {self.quiet_hours}",
               f"{'would send' if self.dry_run else 'claimed'}: "
               f"{len(self.messages) if self.dry_run else self.claimed}; sent: {self.sent}; "
               f"retry later: {self.retry_later}; failed: {self.failed}; skipped: {sum(self.skipped.values())}"]
        out += [f"  skipped {reason}: {n}" for reason, n in sorted(self.skipped.items())]
        if self.messages:
            segments = [m.segments for m in self.messages]
            out.append(f"SMS segments per message: {min(segments)}-{max(segments)} "
                       f"(total {sum(segments)})")
        return out


SessionFactory = Callable[[], Session]


def default_runner_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"[:64]


def _housekeeping(factory: SessionFactory, now: datetime, policy: Policy, config: CampaignConfig,
                  summary: CampaignSummary) -> None:
    with factory() as session:
        summary.expired = expire_unanswered(session, now, config.no_answer_days, policy)
        summary.became_due = refresh(session, now.date(), policy, config)
        session.commit()


def _dry_run(factory: SessionFactory, now: datetime, limit: int | None, policy: Policy, config: CampaignConfig,
             catalogue: Catalogue, summary: CampaignSummary) -> None:
    with factory() as session:
        try:
            summary.expired = expire_unanswered(session, now, config.no_answer_days, policy)
            summary.became_due = refresh(session, now.date(), policy, config)
            sendable, quiet = due_candidates(session, now, policy)
            summary.quiet_hours = len(quiet)
            for cold_id in sendable:
                if limit is not None and len(summary.messages) >= limit:
                    break
                cold = session.get(ColdCase, cold_id)
                planned = _plan(session, cold, now.date(), policy, config, catalogue)
                if isinstance(planned, str):
                    summary.skipped[planned] += 1
                else:
                    summary.messages.append(planned)
        finally:
            session.rollback()


def _prepare(factory: SessionFactory, cold_id: int, runner_id: str, now: datetime, policy: Policy,
             config: CampaignConfig, catalogue: Catalogue) -> PlannedMessage | str | None:
    """Checks, offer and text for a claimed case; the attempt is committed before sending."""
    with factory() as session:
        cold = session.get(ColdCase, cold_id)
        if cold is None or cold.status != "claimed" or cold.claimed_by != runner_id:
            return None
        customer = session.get(Customer, cold.customer_id)
        if customer is not None and in_quiet_hours(policy, customer.timezone, now):
            # The run went on into the customer's quiet hours: leave the case for a later run.
            cold.status, cold.claimed_by, cold.claimed_at = "due", None, None
            session.commit()
            return QUIET
        planned = _plan(session, cold, now.date(), policy, config, catalogue)
        if isinstance(planned, str):
            _skip(cold, planned)
        else:
            cold.attempts += 1
        session.commit()
        return planned


async def _send_one(factory: SessionFactory, sender: SmsSender, cold_id: int, runner_id: str, now: datetime,
                    policy: Policy, config: CampaignConfig, catalogue: Catalogue, summary: CampaignSummary) -> str:
    """Text one claimed case; returns the outcome ("sent", "skipped", "retry", "failed")."""
    from bot.messaging.sms import SmsError, SmsNotAllowed, SmsRejected

    planned = await asyncio.to_thread(_prepare, factory, cold_id, runner_id, now, policy, config, catalogue)
    if planned is None:
        return "lost"
    if planned == QUIET:
        return QUIET
    if isinstance(planned, str):
        summary.skipped[planned] += 1
        return "skipped"
    sid: str | None = None
    skip: str | None = None
    try:
        result = await sender.send(customer_id=planned.customer_id, body=planned.body, purpose="marketing")
        sid = result.sids[0]
    except SmsNotAllowed as exc:
        skip = f"not_allowed: {exc.reason}"
    except SmsRejected as exc:
        skip = f"rejected_{exc.code or exc.status}"
    except SmsError as exc:  # SmsDeliveryFailed: Twilio kept failing
        logger.warning("Cold case #%s: %s", cold_id, exc)
    except Exception:  # never leave the case claimed because of one bad message
        logger.exception("Cold case #%s: unexpected error while sending", cold_id)
    outcome = await asyncio.to_thread(_record, factory, cold_id, now, policy, sid=sid, skip=skip)
    if outcome == "sent":
        summary.sent += 1
        summary.messages.append(planned)
    elif outcome == "skipped":
        summary.skipped[skip or "error"] += 1
    elif outcome == "retry":
        summary.retry_later += 1
    else:
        summary.failed += 1
    return outcome


def _record(factory: SessionFactory, cold_id: int, now: datetime, policy: Policy, *,
            sid: str | None = None, skip: str | None = None) -> str:
    """Store the outcome of a send: "sent", "skipped", "retry" (due again) or "failed"."""
    with factory() as session:
        cold = session.get(ColdCase, cold_id)
        assert cold is not None
        if sid is not None:
            cold.status, cold.sent_at, cold.message_sid = "sent", now, sid[:64]
            outcome = "sent"
        elif skip is not None:
            _skip(cold, skip)
            outcome = "skipped"
        elif cold.attempts < policy.cold.max_attempts:
            cold.status, cold.claimed_by, cold.claimed_at = "due", None, None
            outcome = "retry"
        else:
            _skip(cold, "delivery_failed")
            outcome = "failed"
        session.commit()
        return outcome


async def run_campaign(session_factory: SessionFactory, sender: SmsSender | None = None,
                       runner_id: str | None = None, now: datetime | None = None, dry_run: bool = False,
                       limit: int | None = None, *, policy: Policy | None = None,
                       config: CampaignConfig | None = None, catalogue: Catalogue | None = None,
                       batch_size: int = 10) -> CampaignSummary:
    """One campaign run: expire unanswered SMS, make cases due, claim, and text each customer.

    ``dry_run`` sends nothing and changes nothing (every change is rolled back) and lists the
    messages that would go out. Cases are claimed ``batch_size`` at a time (so that runners
    started together share the work), at most ``limit`` in all. Database work runs in worker
    threads, so the event loop never blocks; the SMS go through ``sender`` (which checks
    consent again).
    """
    policy = policy or load_policy()
    config = config or load_campaigns()
    catalogue = catalogue or load_catalogue()
    runner_id = runner_id or default_runner_id()
    now = _utc(now)
    summary = CampaignSummary(runner_id=runner_id, dry_run=dry_run, now=now)
    if dry_run:
        await asyncio.to_thread(_dry_run, session_factory, now, limit, policy, config, catalogue, summary)
        return summary
    if sender is None:
        raise ValueError("a sender is needed unless dry_run")
    if batch_size < 1 or (limit is not None and limit < 1):
        raise ValueError("batch_size and limit must be at least 1")
    await asyncio.to_thread(_housekeeping, session_factory, now, policy, config, summary)
    started = time_module.monotonic()

    def clock() -> datetime:
        """``now`` moved on by the time this run has taken: a long run must stop texting a
        customer whose quiet hours begin while it is still going."""
        return now + timedelta(seconds=time_module.monotonic() - started)

    def claim(size: int, seen: frozenset[int]) -> list[int]:
        with session_factory() as session:
            return [c.id for c in claim_due(session, runner_id, size, clock(), policy, seen)]

    def quiet_count() -> int:
        with session_factory() as session:
            return len(due_candidates(session, clock(), policy)[1])

    retried: set[int] = set()  # put back for a later run: not claimed again in this one
    while limit is None or summary.claimed < limit:
        size = batch_size if limit is None else min(batch_size, limit - summary.claimed)
        claimed_ids = await asyncio.to_thread(claim, size, frozenset(retried))
        if not claimed_ids:
            break
        summary.claimed += len(claimed_ids)
        for cold_id in claimed_ids:
            outcome = await _send_one(session_factory, sender, cold_id, runner_id, clock(), policy, config,
                                      catalogue, summary)
            if outcome == "retry":
                retried.add(cold_id)
    summary.quiet_hours = await asyncio.to_thread(quiet_count)
    logger.info("Campaign run %s: %s", runner_id, "; ".join(summary.lines()[1:]))
    return summary


# --------------------------------------------------------------------------------------------
# Replies and outcomes


def pending_winback(session: Session, customer_id: int) -> ColdCase | None:
    """The customer's cold SMS awaiting an answer (status ``sent``), the latest one."""
    return session.scalar(select(ColdCase).where(
        ColdCase.customer_id == customer_id, ColdCase.status == "sent", ColdCase.outcome_at.is_(None))
        .order_by(ColdCase.sent_at.desc(), ColdCase.id.desc()).limit(1))


def accept_winback(session: Session, cold_case: ColdCase, today: date | None = None) -> str:
    """The customer said yes to the cold SMS: reactivate the subscription (status active, no
    cancellation date), apply the cold offer (``bot.core.subscriptions.accept_offer``) on a new
    ``CaseOffer(variant="cold")`` of the original case, and return the reference.

    Idempotent: a second call returns the same reference. Raises CampaignError when the case
    has no SMS awaiting an answer. Flushes, never commits.
    """
    if cold_case.status == "won_back" and cold_case.reference:
        return str(cold_case.reference)
    if cold_case.status != "sent" or not cold_case.offer_id:
        raise CampaignError(f"cold case #{cold_case.id} is {cold_case.status}: no offer awaiting an answer")
    if not _move(session, cold_case, "sent", status="won_back", outcome_at=utcnow()):
        if cold_case.status == "won_back" and cold_case.reference:
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
    for key in _INTERNAL_KEYS:
        params.pop(key, None)
    if not kind:
        offer = load_catalogue().get(cold_case.offer_id)
        kind = offer.kind if offer is not None else "credit"
    offer_row = CaseOffer(case=case, position=max((o.position for o in case.offers), default=0) + 1,
                          offer_id=cold_case.offer_id, kind=kind, variant="cold",
                          cost=cold_case.offer_cost or Decimal(0), expected_value=expected, params=params,
                          outcome="pending", presented_at=cold_case.sent_at or utcnow())
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
    if cold_case.status in ("sent", "no_answer"):
        _move(session, cold_case, ("sent", "no_answer"), status="declined", outcome_at=utcnow())
    if cold_case.status != "declined":
        raise CampaignError(f"cold case #{cold_case.id} is {cold_case.status}: nothing to decline")
    logger.info("Cold case #%s declined.", cold_case.id)


def expire_unanswered(session: Session, now: datetime, days: int = 7, policy: Policy | None = None) -> int:
    """SMS sent more than ``days`` ago without an answer: ``no_answer``, or due again while
    the case has attempts left (``cold.max_attempts``). Flushes; returns how many."""
    policy = policy or load_policy()
    cutoff = _utc(now) - timedelta(days=days)
    stale = session.scalars(select(ColdCase).where(
        ColdCase.status == "sent", ColdCase.outcome_at.is_(None), ColdCase.sent_at <= cutoff)).all()
    moved = 0
    for cold in stale:
        if cold.attempts < policy.cold.max_attempts:
            moved += _move(session, cold, "sent", status="due", claimed_by=None, claimed_at=None)
        else:
            moved += _move(session, cold, "sent", status="no_answer", outcome_at=_utc(now))
    session.flush()
    return moved


# --------------------------------------------------------------------------------------------
# Call-centre export and status

CSV_COLUMNS = ("cold_case_id", "customer_ref", "name", "phone", "language", "reason", "offer_id", "offer",
               "due_on")


def export_due_csv(session: Session, path_or_file: str | Path | IO[str], today: date,
                   policy: Policy | None = None, config: CampaignConfig | None = None,
                   catalogue: Catalogue | None = None) -> int:
    """Write the due cold cases (after ``refresh``, which is flushed) as CSV for the call
    centre, with full contact details and the cold offer priced for ``today``; cases without
    an eligible offer are left out (the runner records why). Returns the number of rows."""
    policy = policy or load_policy()
    config = config or load_campaigns()
    catalogue = catalogue or load_catalogue()
    refresh(session, today, policy, config)
    due = session.scalars(select(ColdCase).where(ColdCase.status == "due")
                          .order_by(ColdCase.due_on, ColdCase.id)).all()
    rows: list[list[str]] = []
    for cold in due:
        customer = session.get(Customer, cold.customer_id)
        case = session.get(RetentionCase, cold.case_id)
        if customer is None:
            continue
        offer, why = choose_cold_offer(session, cold, today, catalogue, config)
        if offer is None:
            logger.info("Cold case #%s left out of the export: %s.", cold.id, why)
            continue
        language = message_language(case, customer)
        rows.append([str(cold.id), customer.ref, defused(customer.full_name), customer.phone or "", language,
                     cold.reason, offer.offer_id, defused(offer.describe(language)), cold.due_on.isoformat()])

    def write(fh: IO[str]) -> None:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)

    if isinstance(path_or_file, (str, Path)):
        with open(path_or_file, "w", encoding="utf-8", newline="") as fh:
            write(fh)
    else:
        write(path_or_file)
    return len(rows)


def status_counts(session: Session) -> dict[str, int]:
    counts = dict(session.execute(select(ColdCase.status, func.count()).group_by(ColdCase.status)).all())
    return {status: int(counts.get(status, 0)) for status in STATUSES}
