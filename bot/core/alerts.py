"""Key events in, alerts out: who an event hit, what we do for each of them, once.

``ingest`` takes one event (from ``POST /api/events`` or the CLI), finds the customers it
affects (an outage: every customer with a live subscription in its postcodes; the other types:
the one customer named), and for each creates one :class:`Alert` and runs the event type's
actions (``data/key_events.yml``):

* ``compensation``: a credit per the broken commitment, capped per event and per customer and
  month, and only for customers who are profitable enough (seed 003, points 6 and 7);
* ``task``: the alert is due for a person within the priority's due hours;
* ``note``: what the assistant says when the customer next writes or calls (:func:`take_notice`);
* ``sms``: queued; :func:`send_pending` texts it with service consent, outside quiet hours.

Posting the same event id again changes nothing (the stored result is returned).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Mapping

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.core.customers import monthly_margin, sms_block
from bot.core.i18n import format_day, format_eur
from bot.core.key_events import EventType, KeyEventsConfig, load_key_events
from bot.core.vocabulary import LIVE_SUBSCRIPTION, AlertActionStatus, AlertStatus
from bot.storage.models import Alert, AlertAction, Customer, Incident, KeyEvent, Subscription, utcnow

logger = logging.getLogger(__name__)

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
_POSTCODE = re.compile(r"^[0-9A-Za-z -]{3,10}$")
_REF = re.compile(r"^C\d{5}$")
_AMOUNT = re.compile(r"^\d{1,5}(\.\d{1,2})?$")
MAX_POSTCODES = 500
MAX_AGE_DAYS = 90  # an event older than this is history, not something to act on


class EventError(ValueError):
    """An event that cannot be taken in; the message says which field and why (a 4xx)."""


@dataclass(frozen=True)
class EventIn:
    external_id: str
    type: str
    started_at: datetime
    ended_at: datetime | None = None
    postcodes: tuple[str, ...] = ()
    customer_ref: str | None = None
    amount: Decimal | None = None
    description: str = ""


@dataclass
class IngestResult:
    event_id: int
    external_id: str
    duplicate: bool
    reach: int
    actions: dict[str, int] = field(default_factory=dict)  # "sms:pending" -> count

    def as_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "id": self.external_id, "duplicate": self.duplicate,
                "reach": self.reach, "actions": dict(sorted(self.actions.items()))}


# ------------------------------------------------------------------------------ input

def _moment(raw: Any, name: str) -> datetime:
    if not isinstance(raw, str) or len(raw) > 40:
        raise EventError(f"{name}: give an ISO 8601 date-time, e.g. 2026-12-03T08:00:00Z")
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if moment.tzinfo is not None:  # stored as naive UTC, like every time in the database
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    except (ValueError, OverflowError) as exc:
        raise EventError(f"{name}: not an ISO 8601 date-time ({raw!r})") from exc
    return moment


def _amount(raw: Any) -> Decimal | None:
    """Euros as a JSON number or a plain decimal string ("32.90", "32,90"); anything Python
    would also read as a number ("1_0.5", "1e3", " 7", "NaN") is refused, not guessed at."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise EventError("amount: a number of euros, e.g. 32.90")
    text = raw.replace(",", ".") if isinstance(raw, str) else str(raw)
    if isinstance(raw, str) and not _AMOUNT.fullmatch(text):
        raise EventError("amount: a number of euros, e.g. 32.90")
    try:
        amount = Decimal(text).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError) as exc:
        raise EventError("amount: a number of euros, e.g. 32.90") from exc
    if not amount.is_finite() or not 0 < amount < 100000:
        raise EventError("amount: a number of euros between 0 and 100000")
    return amount


def parse_event(raw: Any, config: KeyEventsConfig | None = None, now: datetime | None = None) -> EventIn:
    """Validate an event as posted (JSON object); raises :class:`EventError` naming the field."""
    config = config or load_key_events()
    now = now or utcnow()
    if not isinstance(raw, dict):
        raise EventError("the body must be a JSON object")
    known = {"id", "type", "started_at", "ended_at", "postcodes", "customer", "amount", "description"}
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise EventError(f"unknown field(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    event_id = raw.get("id")
    if not isinstance(event_id, str) or not _ID.fullmatch(event_id):
        raise EventError("id: required, 1-100 letters, digits or _ . : - (your own id of the event)")
    kind = raw.get("type")
    if kind not in config.events:
        raise EventError(f"type: must be one of {', '.join(sorted(config.events))}")
    event_type = config.events[kind]
    started = _moment(raw.get("started_at"), "started_at")
    ended = _moment(raw["ended_at"], "ended_at") if raw.get("ended_at") is not None else None
    if ended is not None and ended < started:
        raise EventError("ended_at: before started_at")
    if started > now + timedelta(days=1):
        raise EventError("started_at: in the future")
    if started < now - timedelta(days=MAX_AGE_DAYS):
        raise EventError(f"started_at: more than {MAX_AGE_DAYS} days ago (send current events)")
    if ended is not None and ended > now + timedelta(days=1):
        raise EventError("ended_at: in the future (send the end when it has happened)")
    postcodes: tuple[str, ...] = ()
    ref = None
    if event_type.scope == "area":
        codes = raw.get("postcodes")
        if (not isinstance(codes, list) or not codes or len(codes) > MAX_POSTCODES
                or any(not isinstance(c, str) or not _POSTCODE.fullmatch(c) for c in codes)):
            raise EventError(f"postcodes: a {kind} needs a list of 1-{MAX_POSTCODES} postcodes")
        postcodes = tuple(sorted({c.strip().upper() for c in codes}))
    else:
        ref = raw.get("customer")
        if not isinstance(ref, str) or not _REF.fullmatch(ref):
            raise EventError(f"customer: a {kind} needs the customer number, e.g. C00042")
    amount = _amount(raw.get("amount"))
    if event_type.needs_amount and amount is None:
        what = "to refund" if event_type.compensation.refund_amount else "its texts tell the customer"
        raise EventError(f"amount: a {kind} needs the amount ({what}), e.g. \"amount\": 32.90")
    description = raw.get("description") or ""
    if not isinstance(description, str) or len(description) > 2000:
        raise EventError("description: text of at most 2000 characters")
    try:
        description.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") no database can store
        raise EventError("description: not valid Unicode text") from None
    return EventIn(external_id=event_id, type=kind, started_at=started, ended_at=ended,
                   postcodes=postcodes, customer_ref=ref, amount=amount, description=description)


# ------------------------------------------------------------------------------ ingestion

def affected_customers(session: Session, event: EventIn) -> list[Customer]:
    """The customers the event hits: an area's customers with a live subscription, or the one named."""
    if event.postcodes:
        live = select(Subscription.customer_id).where(Subscription.status.in_(LIVE_SUBSCRIPTION))
        return list(session.scalars(select(Customer).where(
            Customer.postcode.in_(event.postcodes), Customer.id.in_(live)).order_by(Customer.id)))
    customer = session.scalar(select(Customer).where(Customer.ref == event.customer_ref))
    if customer is None:
        raise EventError(f"customer: no customer {event.customer_ref}")
    return [customer]


def _days(event: EventIn, now: datetime) -> int:
    """Started days the event lasted (an open outage: until now)."""
    end = event.ended_at or now
    return max(1, (end - event.started_at + timedelta(hours=23, minutes=59)).days)


def _credited_this_month(session: Session, customer_id: int, now: datetime) -> Decimal:
    start = datetime(now.year, now.month, 1)
    total = session.scalar(
        select(func.coalesce(func.sum(AlertAction.amount), 0)).join(Alert)
        .where(Alert.customer_id == customer_id, AlertAction.action == "compensation",
               AlertAction.status == AlertActionStatus.DONE, AlertAction.created_at >= start))
    return Decimal(str(total or 0))


def _compensation(session: Session, customer: Customer, event_type: EventType, days: int,
                  config: KeyEventsConfig, now: datetime) -> tuple[str, Decimal | None, str | None]:
    """(status, credit, why not) of the compensation action for this customer."""
    if monthly_margin(customer) < config.min_margin_for_credit:
        return AlertActionStatus.SKIPPED, None, "profitability gate: margin below min_margin_for_credit"
    credit = event_type.compensation.credit(days)
    room = config.monthly_credit_cap - _credited_this_month(session, customer.id, now)
    credit = min(credit, max(room, Decimal("0")))
    if credit <= 0:
        return AlertActionStatus.SKIPPED, None, "monthly_credit_cap reached"
    return AlertActionStatus.DONE, credit, None


def _alert_for(session: Session, event: EventIn, row: KeyEvent, customer: Customer,
               event_type: EventType, config: KeyEventsConfig, now: datetime) -> Alert:
    days = _days(event, now)
    credit: tuple[str, Decimal | None, str | None] | None = None
    if "compensation" in event_type.actions:  # first: its cap query must not see this alert half-made
        credit = _compensation(session, customer, event_type, days, config, now)
    task = "task" in event_type.actions
    alert = Alert(event=row, customer_id=customer.id, type=event.type, priority=event_type.priority,
                  status=AlertStatus.OPEN if task else AlertStatus.DONE, created_at=now,
                  closed_at=None if task else now,
                  due_at=now + timedelta(hours=config.due_hours[event_type.priority]) if task else None,
                  params={"day": event.started_at.date().isoformat(), "days": days,
                          "amount": str(event.amount) if event.amount is not None else None,
                          "credit": str(credit[1]) if credit and credit[1] is not None else None})
    session.add(alert)
    for action in sorted(event_type.actions):
        status, amount, detail = AlertActionStatus.DONE, None, None
        if action == "compensation" and credit is not None:
            status, amount, detail = credit
        elif action == "task":
            status = AlertActionStatus.OPEN
        elif action == "sms":
            detail = sms_block(customer, "service")
            status = AlertActionStatus.SKIPPED if detail else AlertActionStatus.PENDING
        session.add(AlertAction(alert=alert, action=action, status=status, amount=amount, detail=detail,
                                created_at=now, done_at=now if status == AlertActionStatus.DONE else None))
    session.flush()  # the monthly cap of the next customer... and of this one's next event
    if event_type.incident:
        session.add(Incident(customer_id=customer.id, kind=event_type.incident, opened_at=event.started_at,
                             solved_at=event.ended_at, description=f"{event.type} {event.external_id}"))
    return alert


def _end(session: Session, row: KeyEvent, ended_at: datetime) -> None:
    """An event posted again with its end: the incidents it recorded are solved then (cold
    campaigns read that); the compensations stay what they were when it was taken in."""
    if ended_at < row.started_at:
        raise EventError("ended_at: before started_at")
    row.ended_at = ended_at
    for incident in session.scalars(select(Incident).where(
            Incident.description == f"{row.type} {row.external_id}", Incident.solved_at.is_(None))):
        incident.solved_at = ended_at
    session.flush()


def _result(session: Session, row: KeyEvent, duplicate: bool) -> IngestResult:
    counts = session.execute(
        select(AlertAction.action, AlertAction.status, func.count()).join(Alert)
        .where(Alert.event_id == row.id).group_by(AlertAction.action, AlertAction.status))
    return IngestResult(row.id, row.external_id, duplicate, row.reach,
                        {f"{a}:{s}": int(n) for a, s, n in counts})


def ingest(session: Session, event: EventIn, config: KeyEventsConfig | None = None, *,
           source: str = "api", now: datetime | None = None) -> IngestResult:
    """Take one event in, once: alerts and actions for every affected customer."""
    config = config or load_key_events()
    now = now or utcnow()
    existing = session.scalar(select(KeyEvent).where(KeyEvent.external_id == event.external_id))
    if existing is not None:
        if existing.type != event.type:
            raise EventError(f"id: {event.external_id} was already used for a {existing.type} event")
        if event.ended_at is not None and existing.ended_at is None:
            _end(session, existing, event.ended_at)  # the same event, now over
        return _result(session, existing, duplicate=True)
    customers = affected_customers(session, event)
    event_type = config.events[event.type]
    row = KeyEvent(external_id=event.external_id, type=event.type, postcodes=list(event.postcodes) or None,
                   customer_id=customers[0].id if event.customer_ref else None, amount=event.amount,
                   started_at=event.started_at, ended_at=event.ended_at, description=event.description,
                   source=source, reach=len(customers), received_at=now)
    session.add(row)
    session.flush()
    for customer in customers:
        _alert_for(session, event, row, customer, event_type, config, now)
    session.flush()
    logger.info("Key event %s (%s) reached %d customer(s).", event.external_id, event.type, len(customers))
    return _result(session, row, duplicate=False)


# ------------------------------------------------------------------------------ the texts

def render(template: str, alert: Alert, customer: Customer, event_type: EventType, language: str,
           company: str = "", extra: Mapping[str, str] | None = None) -> str:
    """An event text (SMS or note) for this customer, in ``language``."""
    params = alert.params or {}
    day = date.fromisoformat(params["day"]) if params.get("day") else alert.created_at.date()
    credit = params.get("credit")
    values = {"first_name": customer.first_name, "company": company,
              "day": format_day(day, language), "days": str(params.get("days") or 1),
              "amount": format_eur(params["amount"], language) if params.get("amount") else "",
              "credit": format_eur(credit, language) if credit else "", "payment_link": "",
              **(extra or {})}
    values["credit_sentence"] = (event_type.credit_sentence[language].format(**values) if credit else "")
    return " ".join(template.format(**values).split())


def _recent_alerts(session: Session, customer_id: int, config: KeyEventsConfig, now: datetime,
                   with_note: bool = True) -> list[Alert]:
    since = now - timedelta(days=config.note_days)
    alerts = session.scalars(select(Alert).where(Alert.customer_id == customer_id, Alert.created_at >= since)
                             .order_by(Alert.created_at.desc(), Alert.id.desc()))
    known = [a for a in alerts
             if a.type in config.events and (not with_note or "note" in config.events[a.type].actions)]
    order = {"high": 0, "medium": 1, "low": 2}
    return sorted(known, key=lambda a: order.get(a.priority, 3))


def _tell(alert: Alert, config: KeyEventsConfig, language: str, now: datetime) -> str:
    """The alert's note for the customer, who counts as told from now on (once, not every session)."""
    alert.noticed_at = now
    event_type = config.events[alert.type]
    return render(event_type.note[language], alert, alert.customer, event_type, language)


def take_notice(session: Session, customer_id: int, language: str, config: KeyEventsConfig | None = None,
                now: datetime | None = None) -> str | None:
    """What the assistant says first to a customer an event hit and who was not told yet, or None.

    The alert is marked as told: the customer hears it once, not at every session."""
    config = config or load_key_events()
    now = now or utcnow()
    for alert in _recent_alerts(session, customer_id, config, now):
        if alert.noticed_at is None:
            return _tell(alert, config, language, now)
    return None


@dataclass(frozen=True)
class Remedy:
    """A recent key event that explains why the customer wants to leave."""

    reason: str  # the event type's churn reason
    note: str | None  # what to tell them, None when they were already told
    credited: bool  # a compensation credit was applied already (no second credit offer)


def remedy_for(session: Session, customer_id: int, reason: str | None, language: str,
               config: KeyEventsConfig | None = None, now: datetime | None = None) -> Remedy | None:
    """The recent event behind a cancellation: one whose reason is ``reason``, or (no reason
    stated) the most important recent one. The customer is marked as told about it."""
    config = config or load_key_events()
    now = now or utcnow()
    for alert in _recent_alerts(session, customer_id, config, now):
        event_type = config.events[alert.type]
        if reason is not None and event_type.reason != reason:
            continue
        note = _tell(alert, config, language, now) if alert.noticed_at is None else None
        return Remedy(event_type.reason, note, bool((alert.params or {}).get("credit")))
    return None


def credited_for(session: Session, customer_id: int, reason: str, config: KeyEventsConfig | None = None,
                 now: datetime | None = None) -> bool:
    """Whether a recent key event of ``reason`` already credited this customer a compensation."""
    config = config or load_key_events()
    now = now or utcnow()
    return any(config.events[a.type].reason == reason and (a.params or {}).get("credit")
               for a in _recent_alerts(session, customer_id, config, now, with_note=False))


def claim_sms(session: Session, action_id: int) -> bool:
    """Take a pending SMS for sending; False when another runner took it first."""
    done = session.execute(update(AlertAction).where(AlertAction.id == action_id,
                                                     AlertAction.status == AlertActionStatus.PENDING)
                           .values(status=AlertActionStatus.SENDING, attempts=AlertAction.attempts + 1))
    return bool(done.rowcount)


def key_event_sms_sent(since: datetime) -> Select:
    """The key-event SMS sent since ``since``, one row (the customer's id) per SMS: the one rule of
    which texts count as sent to a customer (the daily limit of ``bot.core.alert_sms``, the quiet
    days before a proactive SMS of ``bot.core.proactive``)."""
    return select(Alert.customer_id).join(AlertAction).where(
        AlertAction.action == "sms", AlertAction.status == AlertActionStatus.SENT, AlertAction.done_at >= since)
