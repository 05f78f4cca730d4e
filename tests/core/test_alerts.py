"""Key events -> alerts -> actions, on a real migrated and seeded database.

What a company sees: an outage posted for a postcode reaches its customers with a live
subscription and nobody else, once; each alert runs its actions once (compensation within
the caps and the profitability gate, a task due by priority, a note, a queued SMS that is
texted with consent and outside quiet hours through the real ``twilio`` library).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.alert_sms import send_pending
from bot.core.alerts import EventError, ingest, parse_event, remedy_for, take_notice
from bot.core.key_events import load_key_events
from bot.messaging.sms import SmsSender
from bot.storage.models import Alert, AlertAction, Customer, Incident, KeyEvent, Subscription
from tests.support.db_fixtures import committing_sessions
from tests.support.twilio_standin import TwilioApiStandIn

NOW = datetime(2026, 12, 3, 11, 0)  # 12:00 in Madrid: not quiet hours
CONFIG = load_key_events()


def outage(event_id: str = "NET-1", postcodes: list[str] | None = None, **extra: object) -> dict:
    return {"id": event_id, "type": "outage", "postcodes": postcodes or ["28013"],
            "started_at": "2026-12-01T08:00:00Z", "ended_at": "2026-12-02T20:00:00Z", **extra}


def customer(session: Session, ref: str) -> Customer:
    found = session.scalar(select(Customer).where(Customer.ref == ref))
    assert found is not None
    return found


def take_in(session: Session, raw: dict, now: datetime = NOW):  # type: ignore[no-untyped-def]
    result = ingest(session, parse_event(raw, CONFIG, now), CONFIG, now=now)
    session.commit()
    return result


def actions_of(session: Session, ref: str, event_id: str) -> dict[str, AlertAction]:
    alert = session.scalar(select(Alert).join(KeyEvent).where(
        KeyEvent.external_id == event_id, Alert.customer_id == customer(session, ref).id))
    assert alert is not None
    return {a.action: a for a in alert.actions}


def test_outage_reaches_only_live_customers_of_its_postcodes_once(db_session: Session) -> None:
    in_area = list(db_session.scalars(select(Customer).where(Customer.postcode == "28013")))
    gone = in_area[-1]
    for sub in gone.subscriptions:
        sub.status = "cancelled"
    db_session.commit()
    expected = {c.id for c in in_area if c.id != gone.id}
    assert len(expected) >= 2

    first = take_in(db_session, outage())
    alerted = set(db_session.scalars(select(Alert.customer_id)))
    assert alerted == expected and first.reach == len(expected) and not first.duplicate
    assert gone.id not in alerted

    again = take_in(db_session, outage())  # the network system posts it twice
    assert again.duplicate and again.event_id == first.event_id
    assert db_session.scalar(select(func.count()).select_from(Alert)) == len(expected)
    assert db_session.scalar(select(func.count()).select_from(AlertAction)
                             .where(AlertAction.action == "compensation")) == len(expected)
    assert db_session.scalar(select(func.count()).select_from(Incident).where(
        Incident.description == "outage NET-1")) == len(expected)


def test_each_priority_gets_its_task_due_time_and_actions(db_session: Session) -> None:
    take_in(db_session, outage())  # high
    take_in(db_session, {"id": "BILL-9", "type": "billing_error", "customer": "C00002", "amount": 12.5,
                         "started_at": "2026-12-02T00:00:00Z"})  # medium
    take_in(db_session, {"id": "CRM-3", "type": "contract_end_soon", "customer": "C00004",
                         "started_at": "2026-12-02T00:00:00Z"})  # low
    take_in(db_session, {"id": "USE-1", "type": "usage_drop", "customer": "C00005",
                         "started_at": "2026-12-02T00:00:00Z"})  # no action at all
    due = CONFIG.due_hours
    for ref, event_id, priority in [("C00001", "NET-1", "high"), ("C00002", "BILL-9", "medium"),
                                    ("C00004", "CRM-3", "low")]:
        acts = actions_of(db_session, ref, event_id)
        alert = next(iter(acts.values())).alert
        assert alert.priority == priority and alert.status == "open"
        assert alert.due_at == NOW + timedelta(hours=due[priority])
        assert acts["task"].status == "open"
        assert set(acts) == set(CONFIG.events[alert.type].actions)
    usage = db_session.scalar(select(Alert).where(Alert.type == "usage_drop"))
    assert usage is not None and usage.actions == [] and usage.status == "done" and usage.due_at is None


def test_compensation_per_day_cap_monthly_cap_and_profitability_gate(db_session: Session) -> None:
    javier = customer(db_session, "C00003")  # seeded with a negative margin: costs us money
    javier.postcode = "28013"
    db_session.commit()
    take_in(db_session, outage())  # 1 Dec 08:00 -> 2 Dec 20:00: two started days
    per_day = CONFIG.events["outage"].compensation.per_day
    lucia = actions_of(db_session, "C00001", "NET-1")["compensation"]
    assert lucia.status == "done" and lucia.amount == per_day * 2
    gated = actions_of(db_session, "C00003", "NET-1")["compensation"]
    assert gated.status == "skipped" and gated.amount is None and "profitability" in gated.detail

    long_one = outage("NET-2", started_at="2026-11-20T08:00:00Z", ended_at="2026-12-02T20:00:00Z")
    take_in(db_session, long_one)  # 13 days: the per-event cap applies
    cap = CONFIG.events["outage"].compensation.cap
    assert actions_of(db_session, "C00001", "NET-2")["compensation"].amount == cap
    for event_id in ("NET-3", "NET-4", "NET-5"):  # more outages this month: the monthly cap
        take_in(db_session, outage(event_id))
    credited = db_session.scalar(select(func.sum(AlertAction.amount)).join(Alert).where(
        Alert.customer_id == customer(db_session, "C00001").id, AlertAction.action == "compensation"))
    assert Decimal(credited) == CONFIG.monthly_credit_cap
    last = actions_of(db_session, "C00001", "NET-5")["compensation"]
    assert last.status == "skipped" and "monthly_credit_cap" in last.detail


def test_double_charge_note_in_each_language_and_once(db_session: Session) -> None:
    take_in(db_session, {"id": "BILL-1", "type": "double_charge", "customer": "C00001", "amount": 32.9,
                         "started_at": "2026-12-03T00:00:00Z"})
    lucia = customer(db_session, "C00001")
    note = take_notice(db_session, lucia.id, "es", CONFIG, NOW)
    assert note is not None
    assert "el 3 de diciembre se te cobró dos veces" in note and "32,90 €" in note and "5,00 €" in note
    assert take_notice(db_session, lucia.id, "es", CONFIG, NOW) is None  # told once

    take_in(db_session, {"id": "BILL-2", "type": "double_charge", "customer": "C00002", "amount": 19,
                         "started_at": "2026-12-03T00:00:00Z"})
    john = customer(db_session, "C00002")
    english = take_notice(db_session, john.id, "en", CONFIG, NOW)
    assert english is not None and "charged twice on 3 December" in english and "€19.00" in english


def test_remedy_matches_the_reason_and_says_the_credit(db_session: Session) -> None:
    take_in(db_session, outage())
    lucia = customer(db_session, "C00001")
    assert remedy_for(db_session, lucia.id, "price", "es", CONFIG, NOW) is None
    remedy = remedy_for(db_session, lucia.id, "service_failure", "es", CONFIG, NOW)
    assert remedy is not None and remedy.credited and remedy.reason == "service_failure"
    assert remedy.note is not None and "corte de servicio" in remedy.note and "6,00 €" in remedy.note
    again = remedy_for(db_session, lucia.id, None, "es", CONFIG, NOW)  # no reason given: the event's
    assert again is not None and again.reason == "service_failure" and again.note is None
    assert remedy_for(db_session, lucia.id, None, "es", CONFIG, NOW + timedelta(days=30)) is None


@pytest.mark.parametrize(("raw", "field"), [
    ({"type": "outage", "postcodes": ["28013"], "started_at": "2026-12-01T08:00:00Z"}, "id"),
    ({"id": "x", "type": "meteor", "started_at": "2026-12-01T08:00:00Z"}, "type"),
    ({"id": "x", "type": "outage", "started_at": "2026-12-01T08:00:00Z"}, "postcodes"),
    ({"id": "x", "type": "outage", "postcodes": ["<script>"], "started_at": "2026-12-01T08:00:00Z"}, "postcodes"),
    ({"id": "x", "type": "outage", "postcodes": ["28013"], "started_at": "yesterday"}, "started_at"),
    ({"id": "x", "type": "outage", "postcodes": ["28013"], "started_at": "2026-12-02T08:00:00Z",
      "ended_at": "2026-12-01T08:00:00Z"}, "ended_at"),
    ({"id": "x", "type": "double_charge", "customer": "C00001", "started_at": "2026-12-01T08:00:00Z"}, "amount"),
    # a failed payment's SMS says the amount: without it the text read "your payment of 2 December ()"
    ({"id": "x", "type": "payment_failed", "customer": "C00001", "started_at": "2026-12-01T08:00:00Z"}, "amount"),
    ({"id": "x", "type": "double_charge", "customer": "C00001", "amount": True,
      "started_at": "2026-12-01T08:00:00Z"}, "amount"),
    ({"id": "x", "type": "billing_error", "customer": "42", "amount": 3, "started_at": "2026-12-01T08:00:00Z"},
     "customer"),
    ({"id": "x", "type": "price_rise", "customer": "C00001", "started_at": "2026-12-01", "evil": 1}, "evil"),
    (["not", "an", "object"], "JSON object"),
    *[({"id": "x", "type": "double_charge", "customer": "C00001", "amount": bad,
        "started_at": "2026-12-01T08:00:00Z"}, "amount") for bad in ("1_0.5", "1e3", " 7", "NaN", "12.345", [3])],
])
def test_bad_events_are_refused_naming_the_field(db_session: Session, raw: object, field: str) -> None:
    with pytest.raises(EventError, match=field):
        parse_event(raw, CONFIG, NOW)
    assert db_session.scalar(select(func.count()).select_from(KeyEvent)) == 0


def test_unknown_customer_and_reused_id_are_refused(db_session: Session) -> None:
    with pytest.raises(EventError, match="no customer C99999"):
        take_in(db_session, {"id": "B", "type": "price_rise", "customer": "C99999",
                             "started_at": "2026-12-01T00:00:00Z"})
    db_session.rollback()
    take_in(db_session, outage("SAME"))
    with pytest.raises(EventError, match="already used"):
        take_in(db_session, {"id": "SAME", "type": "price_rise", "customer": "C00001",
                             "started_at": "2026-12-01T00:00:00Z"})


# ----------------------------------------------------------------------------- SMS

@pytest.fixture()
def standin() -> Iterator[TwilioApiStandIn]:
    with TwilioApiStandIn() as running:
        yield running


def sender_for(standin: TwilioApiStandIn) -> SmsSender:
    return SmsSender(standin.account_sid, standin.auth_token, "+15005550006", api_base_url=standin.base_url,
                     backoff_seconds=0)


def test_outage_sms_with_consent_outside_quiet_hours_once(db_session: Session, standin: TwilioApiStandIn,
                                                          monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)  # the sender looks the customer up again
    in_area = list(db_session.scalars(select(Customer).where(Customer.postcode == "28013").order_by(Customer.id)))
    no_consent, opted_out = in_area[1], in_area[2]
    no_consent.consent_sms_service = False
    opted_out.sms_opted_out_at = NOW - timedelta(days=3)
    db_session.commit()
    take_in(db_session, outage())

    night = datetime(2026, 12, 3, 22, 30)  # 23:30 in Madrid
    quiet = asyncio.run(send_pending(committing_sessions(db_session), sender_for(standin), night, config=CONFIG))
    assert quiet.sent == 0 and quiet.quiet_hours == len(in_area) - 2 and standin.messages == []

    day = asyncio.run(send_pending(committing_sessions(db_session), sender_for(standin), NOW, config=CONFIG))
    texted = {m["To"] for m in standin.messages}
    assert day.sent == len(in_area) - 2
    assert texted == {c.phone for c in in_area} - {no_consent.phone, opted_out.phone}
    lucia_sms = next(m["Body"] for m in standin.messages if m["To"] == in_area[0].phone)
    assert "corte de servicio en tu zona del 1 de diciembre" in lucia_sms and "6,00 €" in lucia_sms
    assert "STOP" in lucia_sms

    again = asyncio.run(send_pending(committing_sessions(db_session), sender_for(standin), NOW, config=CONFIG))
    assert again.sent == 0 and len(standin.messages) == day.sent  # once
    skipped = actions_of(db_session, no_consent.ref, "NET-1")["sms"]
    db_session.refresh(skipped)
    assert skipped.status == "skipped" and "consent" in skipped.detail


def test_at_most_two_key_event_sms_a_day_to_one_customer(db_session: Session, standin: TwilioApiStandIn,
                                                         monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    lucia = customer(db_session, "C00001")
    for n in (1, 2, 3):  # three outages of the same area on one day
        take_in(db_session, outage(f"NET-{n}", ["28013"]))
    asyncio.run(send_pending(committing_sessions(db_session), sender_for(standin), NOW, config=CONFIG))
    to_lucia = [m for m in standin.messages if m["To"] == lucia.phone]
    assert CONFIG.max_sms_per_day == 2 and len(to_lucia) == 2
    third = actions_of(db_session, "C00001", "NET-3")["sms"]
    db_session.refresh(third)
    assert third.status == "skipped" and third.detail == "sms_daily_limit"
    assert actions_of(db_session, "C00001", "NET-3")["note"].status == "done"  # the assistant still knows
    tomorrow = NOW + timedelta(hours=25)
    take_in(db_session, outage("NET-4", ["28013"]), now=tomorrow)
    asyncio.run(send_pending(committing_sessions(db_session), sender_for(standin), tomorrow, config=CONFIG))
    assert len([m for m in standin.messages if m["To"] == lucia.phone]) == 3


def test_failed_payment_sms_carries_a_link_that_works_once(db_session: Session, standin: TwilioApiStandIn,
                                                           monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    from bot.core.payment_links import find_valid, use_link

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("PUBLIC_WEB_URL", "https://nubia.example")
    take_in(db_session, {"id": "PAY-1", "type": "payment_failed", "customer": "C00002", "amount": 29.9,
                         "started_at": "2026-12-02T06:00:00Z"})
    asyncio.run(send_pending(committing_sessions(db_session), sender_for(standin), NOW, config=CONFIG))
    (message,) = standin.messages
    assert "€29.90" in message["Body"]
    token = message["Body"].split("https://nubia.example/pay/")[1].split()[0]
    db_session.expire_all()
    soon = NOW + timedelta(hours=1)  # the link's clock, not today's: the test holds on any date
    assert find_valid(db_session, token, soon) is not None
    assert use_link(db_session, token, "card", soon)
    assert not use_link(db_session, token, "direct_debit", soon)  # single use
    assert find_valid(db_session, token, soon) is None
    assert find_valid(db_session, token[:-1] + ("A" if token[-1] != "A" else "B"), soon) is None


def test_payment_link_expires(db_session: Session) -> None:
    from bot.core.payment_links import create_link, find_valid, use_link

    lucia = customer(db_session, "C00001")
    token = create_link(db_session, lucia.id, ttl=timedelta(hours=1), now=NOW)
    assert find_valid(db_session, token, NOW + timedelta(minutes=59)) is not None
    assert find_valid(db_session, token, NOW + timedelta(hours=2)) is None
    assert not use_link(db_session, token, "card", NOW + timedelta(hours=2))


def test_subscriptions_are_not_changed_by_an_event(db_session: Session) -> None:
    before = {(s.id, s.status, s.monthly_price) for s in db_session.scalars(select(Subscription))}
    take_in(db_session, outage())
    assert {(s.id, s.status, s.monthly_price) for s in db_session.scalars(select(Subscription))} == before


def test_no_second_credit_after_declining_the_first_remedy(db_session: Session) -> None:
    """Probe finding: after the outage credit, a "no" to the technician brought a 15 EUR credit."""
    from bot.core.conversation import Conversation
    from bot.core.retention import RetentionService

    take_in(db_session, outage())
    lucia = customer(db_session, "C00001")
    svc = RetentionService(db_session)
    conv = Conversation("web-remedy", language="es", channel="web", customer_id=lucia.id, verified=True)
    first = svc.start(conv, reason="service_failure", verbatim="llevo dos días sin internet")
    from bot.storage.models import CaseOffer

    kinds = [o.kind for o in db_session.scalars(select(CaseOffer))]
    assert first.stage == "offer" and "credit" not in kinds
    svc.decline(Conversation("web-remedy", language="es", channel="web", customer_id=lucia.id, verified=True,
                             stage="offer"))
    kinds = [o.kind for o in db_session.scalars(select(CaseOffer))]
    assert "credit" not in kinds


def test_ids_with_a_trailing_newline_are_not_a_new_event(db_session: Session) -> None:
    """Probe finding: "NET-1\\n" passed the id check and was a second event (second credit, second SMS)."""
    take_in(db_session, outage("NET-1"))
    with pytest.raises(EventError, match="id"):
        parse_event(outage("NET-1\n"), CONFIG, NOW)


@pytest.mark.parametrize(("started", "says"), [("0001-01-01T00:00:00+14:00", "started_at"),
                                                ("2025-01-01T00:00:00Z", "days ago")])
def test_implausible_dates_are_refused(started: str, says: str) -> None:
    with pytest.raises(EventError, match=says):
        parse_event(outage(started_at=started, ended_at=None), CONFIG, NOW)


def test_posting_the_end_of_an_outage_solves_its_incidents(db_session: Session) -> None:
    """Probe finding: an outage could not be ended (the same id with ended_at was only a duplicate)."""
    take_in(db_session, outage("NET-END", ended_at=None))
    assert db_session.scalar(select(func.count()).select_from(Incident).where(
        Incident.description == "outage NET-END", Incident.solved_at.is_(None))) > 0
    again = take_in(db_session, outage("NET-END", ended_at="2026-12-02T20:00:00Z"))
    assert again.duplicate
    assert db_session.scalar(select(func.count()).select_from(Incident).where(
        Incident.description == "outage NET-END", Incident.solved_at.is_(None))) == 0
    assert db_session.scalar(select(KeyEvent.ended_at).where(KeyEvent.external_id == "NET-END")) is not None


@pytest.mark.parametrize(("given", "euros"), [(32.9, "32.90"), (15, "15.00"), ("32,90", "32.90"), ("7.5", "7.50")])
def test_amounts_as_numbers_or_plain_decimal_text(given: object, euros: str) -> None:
    event = parse_event({"id": "x", "type": "double_charge", "customer": "C00001", "amount": given,
                         "started_at": "2026-12-01T08:00:00Z"}, CONFIG, NOW)
    assert str(event.amount) == euros
