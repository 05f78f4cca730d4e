"""Key events as data (``data/key_events.yml``, seed 004): each event type's impact, lifecycle
stage, priority, actions and compensation rules, validated at start-up.

Errors name the file and the entry (``data/key_events.yml: events.outage.priority: must be one
of high, medium, low``). How events are taken in and acted on is ``bot.core.alerts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from bot.config.errors import ConfigError, read_yaml
from bot.config.settings import PROJECT_ROOT
from bot.core.reasons import INCIDENT_KINDS, REASONS
from bot.core.sms_texts import language_texts, template_placeholders

DEFAULT_KEY_EVENTS = PROJECT_ROOT / "data" / "key_events.yml"

PRIORITIES = ("high", "medium", "low")
IMPACTS = PRIORITIES
LIFECYCLE_STAGES = ("onboarding", "usage", "billing", "after_sales", "renewal")
SCOPES = ("area", "customer")
ACTIONS = ("sms", "compensation", "task", "note")
#: the event types a company needs from day one (the issue's list); more may be added
REQUIRED_TYPES = ("outage", "double_charge", "billing_error", "missed_technician_visit", "price_rise",
                  "payment_failed", "contract_end_soon", "repeated_support_contacts", "usage_drop")
PLACEHOLDERS = frozenset({"first_name", "day", "days", "amount", "credit", "company",
                          "credit_sentence", "payment_link"})
_OPTIONAL_KEYS = {"incident"}
_EVENT_KEYS = {"impact", "risk", "lifecycle_stage", "priority", "reason", "scope", "actions",
               "commitment", "compensation", "sms", "note", "credit_sentence"}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Compensation:
    """What breaking the event's commitment is worth to one customer (EUR)."""

    fixed: Decimal = Decimal("0")
    per_day: Decimal = Decimal("0")
    cap: Decimal | None = None
    refund_amount: bool = False

    def credit(self, days: int) -> Decimal:
        """The compensation for an event that lasted ``days`` started days (before any monthly cap)."""
        amount = self.fixed + self.per_day * max(days, 1 if self.per_day else 0)
        if self.cap is not None:
            amount = min(amount, self.cap)
        return amount.quantize(CENT)


@dataclass(frozen=True)
class EventType:
    name: str
    impact: str
    risk: str
    lifecycle_stage: str
    priority: str
    reason: str
    scope: str
    actions: frozenset[str]
    commitment: Mapping[str, str]
    compensation: Compensation
    sms: Mapping[str, str]
    note: Mapping[str, str]
    credit_sentence: Mapping[str, str]
    incident: str | None = None  # the incident it records on each customer (cold campaigns, risk)

    @property
    def needs_amount(self) -> bool:
        """An event of this type must carry its ``amount``: it is refunded, or a text says it
        (a text would otherwise read "your payment of 2 December ()")."""
        texts = [*self.sms.values(), *self.note.values(), *self.credit_sentence.values()]
        return self.compensation.refund_amount or any("{amount}" in t for t in texts)


@dataclass(frozen=True)
class KeyEventsConfig:
    events: Mapping[str, EventType]
    due_hours: Mapping[str, int]
    monthly_credit_cap: Decimal
    min_margin_for_credit: Decimal
    note_days: int
    max_sms_per_day: int = 2
    source: Path = DEFAULT_KEY_EVENTS


def _money(path: Path, raw: Any, entry: str, *, allow_none: bool = False) -> Decimal | None:
    if raw is None and allow_none:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ConfigError.at(path, "must be an amount in EUR (a number >= 0)", entry)
    try:
        value = Decimal(str(raw))
    except InvalidOperation as exc:
        raise ConfigError.at(path, "must be an amount in EUR (a number >= 0)", entry) from exc
    if not value.is_finite() or value < 0:
        raise ConfigError.at(path, "must be an amount in EUR (a number >= 0)", entry)
    return value.quantize(CENT)


def _choice(path: Path, raw: Any, entry: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise ConfigError.at(path, f"must be one of {', '.join(choices)} (got {raw!r})", entry)
    return str(raw)


def _texts(path: Path, raw: Any, entry: str, *, sms: bool, may_be_empty: bool = False) -> dict[str, str]:
    def known_placeholders(language: str, text: str, where: str) -> None:
        template_placeholders(path, text, where, PLACEHOLDERS)

    return language_texts(path, raw, entry, known_placeholders, sms=sms, may_be_empty=may_be_empty)


def _compensation(path: Path, raw: Any, entry: str) -> Compensation:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError.at(path, "must be a mapping (fixed, per_day, cap, refund_amount)", entry)
    unknown = sorted(set(map(str, raw)) - {"fixed", "per_day", "cap", "refund_amount"})
    if unknown:
        raise ConfigError.at(path, f"unknown key(s): {', '.join(unknown)}", entry)
    refund = raw.get("refund_amount", False)
    if not isinstance(refund, bool):
        raise ConfigError.at(path, "must be true or false", f"{entry}.refund_amount")
    return Compensation(fixed=_money(path, raw.get("fixed", 0), f"{entry}.fixed") or Decimal("0"),
                        per_day=_money(path, raw.get("per_day", 0), f"{entry}.per_day") or Decimal("0"),
                        cap=_money(path, raw.get("cap"), f"{entry}.cap", allow_none=True),
                        refund_amount=refund)


def _event_type(path: Path, name: str, raw: Any) -> EventType:
    entry = f"events.{name}"
    if not isinstance(raw, dict):
        raise ConfigError.at(path, "must be a mapping", entry)
    missing = sorted(_EVENT_KEYS - set(raw))
    if missing:
        raise ConfigError.at(path, f"missing key(s): {', '.join(missing)}", entry)
    unknown = sorted(set(map(str, raw)) - _EVENT_KEYS - _OPTIONAL_KEYS)
    if unknown:
        raise ConfigError.at(path, f"unknown key(s): {', '.join(unknown)}", entry)
    incident = raw.get("incident")
    if incident is not None and incident not in INCIDENT_KINDS:
        raise ConfigError.at(path, f"must be one of {', '.join(INCIDENT_KINDS)} or left out", f"{entry}.incident")
    actions = raw["actions"]
    if not isinstance(actions, list) or any(a not in ACTIONS for a in actions):
        raise ConfigError.at(path, f"must be a list of {', '.join(ACTIONS)} (may be empty)", f"{entry}.actions")
    risk = raw["risk"]
    if not isinstance(risk, str) or not risk.strip():
        raise ConfigError.at(path, "must say in words what is at risk", f"{entry}.risk")
    compensation = _compensation(path, raw["compensation"], f"{entry}.compensation")
    if "compensation" in actions and not (compensation.fixed or compensation.per_day):
        raise ConfigError.at(path, "the compensation action needs a fixed or per_day amount",
                             f"{entry}.compensation")
    event = EventType(
        name=name, impact=_choice(path, raw["impact"], f"{entry}.impact", IMPACTS), risk=risk.strip(),
        lifecycle_stage=_choice(path, raw["lifecycle_stage"], f"{entry}.lifecycle_stage", LIFECYCLE_STAGES),
        priority=_choice(path, raw["priority"], f"{entry}.priority", PRIORITIES),
        reason=_choice(path, raw["reason"], f"{entry}.reason", REASONS),
        scope=_choice(path, raw["scope"], f"{entry}.scope", SCOPES), actions=frozenset(actions),
        commitment=_texts(path, raw["commitment"], f"{entry}.commitment", sms=False),
        compensation=compensation,
        sms=_texts(path, raw["sms"], f"{entry}.sms", sms=True),
        note=_texts(path, raw["note"], f"{entry}.note", sms=False, may_be_empty="note" not in actions),
        credit_sentence=_texts(path, raw["credit_sentence"], f"{entry}.credit_sentence", sms=True,
                               may_be_empty="compensation" not in actions),
        incident=incident)
    if "payment_link" in str(event.sms) and name != "payment_failed":
        raise ConfigError.at(path, "{payment_link} is only available to payment_failed", f"{entry}.sms")
    return event


def _settings(path: Path, raw: Any) -> tuple[dict[str, int], Decimal, Decimal, int, int]:
    if not isinstance(raw, dict):
        raise ConfigError.at(path, "must be a mapping", "settings")
    due = raw.get("due_hours")
    if not isinstance(due, dict) or set(due) != set(PRIORITIES):
        raise ConfigError.at(path, f"must give hours for each of {', '.join(PRIORITIES)}", "settings.due_hours")
    for priority, hours in due.items():
        if isinstance(hours, bool) or not isinstance(hours, int) or hours <= 0:
            raise ConfigError.at(path, "must be a whole number of hours > 0", f"settings.due_hours.{priority}")
    note_days = raw.get("note_days", 14)
    if isinstance(note_days, bool) or not isinstance(note_days, int) or note_days <= 0:
        raise ConfigError.at(path, "must be a whole number of days > 0", "settings.note_days")
    max_sms = raw.get("max_sms_per_day", 2)
    if isinstance(max_sms, bool) or not isinstance(max_sms, int) or max_sms <= 0:
        raise ConfigError.at(path, "must be a whole number of SMS > 0", "settings.max_sms_per_day")
    cap = _money(path, raw.get("monthly_credit_cap"), "settings.monthly_credit_cap")
    gate = raw.get("min_margin_for_credit", 0)
    try:
        margin = Decimal(str(gate))
    except InvalidOperation as exc:
        raise ConfigError.at(path, "must be a number (EUR/month)", "settings.min_margin_for_credit") from exc
    if isinstance(gate, bool) or not margin.is_finite():
        raise ConfigError.at(path, "must be a number (EUR/month)", "settings.min_margin_for_credit")
    assert cap is not None
    return dict(due), cap, margin, note_days, max_sms


def parse_key_events(raw: Any, path: Path = DEFAULT_KEY_EVENTS) -> KeyEventsConfig:
    """Validate the key-events file; raises ConfigError naming the file and the entry."""
    if not isinstance(raw, dict):
        raise ConfigError.at(path, "expected a mapping with settings and events")
    unknown = sorted(set(map(str, raw)) - {"settings", "events"})
    if unknown:
        raise ConfigError.at(path, f"unknown top-level key(s): {', '.join(unknown)}")
    due, cap, margin, note_days, max_sms = _settings(path, raw.get("settings"))
    events_raw = raw.get("events")
    if not isinstance(events_raw, dict):
        raise ConfigError.at(path, "must be a mapping of event types", "events")
    missing = [name for name in REQUIRED_TYPES if name not in events_raw]
    if missing:
        raise ConfigError.at(path, f"missing event type(s): {', '.join(missing)}", "events")
    events = {str(name): _event_type(path, str(name), body) for name, body in events_raw.items()}
    return KeyEventsConfig(events=events, due_hours=due, monthly_credit_cap=cap,
                           min_margin_for_credit=margin, note_days=note_days, max_sms_per_day=max_sms,
                           source=path)


def load_key_events(path: Path | str | None = None) -> KeyEventsConfig:
    """The key-events file (default ``data/key_events.yml``), reloaded when it changes."""
    p = Path(path or DEFAULT_KEY_EVENTS)
    try:
        stat = p.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = (0, 0)
    return _load_cached(p, stamp)


@lru_cache(maxsize=4)
def _load_cached(path: Path, stamp: tuple[int, int]) -> KeyEventsConfig:
    return parse_key_events(read_yaml(path), path)
