"""Proactive campaigns: who is contacted, who is held out, and every contact rule, on a real
seeded database with a real (small) churn-risk model and the real ``twilio`` library against a
loopback stand-in."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.errors import ConfigError
from bot.core.proactive import load_proactive, parse_proactive, plan_run
from bot.core.proactive_sms import send_due
from bot.messaging.sms import SmsSender
from bot.risk.model import evaluate, fit, load, save, time_split
from bot.risk.simulate import simulate
from bot.storage.models import Customer, ProactiveContact, Subscription
from tests.support.db_fixtures import committing_sessions
from tests.support.twilio_standin import TwilioApiStandIn

TODAY = date(2026, 11, 30)
NOON = datetime(2026, 11, 30, 11, 0)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = simulate(customers=1000, seed=5)
    split = time_split(rows)
    pipeline = fit(split.train)
    path = tmp_path_factory.mktemp("risk") / "churn_risk.joblib"
    save(pipeline, rows, evaluate(pipeline, split), "test", path)
    return path


@pytest.fixture()
def config():  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(load_proactive(), min_probability=0.0, max_contacts_per_run=10000)  # everybody counts


def contacts(session: Session) -> list[ProactiveContact]:
    return list(session.scalars(select(ProactiveContact).order_by(ProactiveContact.id)))


def test_a_run_holds_out_skips_and_contacts_by_the_rules(db_session: Session, model_path: Path, config) -> None:  # type: ignore[no-untyped-def]
    summary = plan_run(db_session, load(model_path), TODAY, config)
    db_session.commit()
    rows = contacts(db_session)
    live = {s.customer_id for s in db_session.scalars(select(Subscription).where(Subscription.status == "active"))}
    assert {c.customer_id for c in rows} <= live and len(rows) == summary.at_risk
    held = [c for c in rows if c.holdout]
    assert held and all(c.status == "holdout" and c.offer_id is None for c in held)
    assert 0.05 < len(held) / len(rows) < 0.45
    by_id = {c.id: c for c in db_session.scalars(select(Customer))}
    for c in rows:
        customer = by_id[c.customer_id]
        if c.status == "due":
            assert customer.consent_sms_marketing and customer.sms_opted_out_at is None and c.offer_id
            assert c.reason == config.reason_for(tuple(c.drivers))
        elif c.status == "skipped":
            assert c.skip_reason in ("no_marketing_consent", "sms_opted_out", "no_phone", "unprofitable_customer",
                                     "no_eligible_offer")
        if c.skip_reason == "unprofitable_customer":
            assert customer.consent_sms_marketing
    assert any(c.skip_reason == "no_marketing_consent" for c in rows)
    again = plan_run(db_session, load(model_path), TODAY + timedelta(days=3), config)  # once per 90 days
    assert again.already == summary.at_risk and again.due == again.holdout == again.skipped == 0


def test_highest_risk_first_and_at_most_the_run_limit(db_session: Session, model_path: Path, config) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    plan_run(db_session, load(model_path), TODAY, replace(config, max_contacts_per_run=5))
    rows = contacts(db_session)
    assert len(rows) == 5
    assert [float(c.probability) for c in rows] == sorted((float(c.probability) for c in rows), reverse=True)


def test_due_contacts_are_texted_outside_quiet_hours_once(db_session: Session, model_path: Path, config,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    plan_run(db_session, load(model_path), TODAY, config)
    db_session.commit()
    due = [c for c in contacts(db_session) if c.status == "due"]
    assert due
    phones = {c.id: db_session.get(Customer, c.customer_id).phone for c in contacts(db_session)}
    with TwilioApiStandIn() as standin:
        sender = SmsSender(standin.account_sid, standin.auth_token, "+15005550006", api_base_url=standin.base_url,
                           backoff_seconds=0)
        sessions = committing_sessions(db_session)
        night = asyncio.run(send_due(sessions, sender, datetime(2026, 11, 30, 23, 0), config=config))
        assert night["sent"] == 0 and night["quiet_hours"] == len(due) and not standin.messages
        day = asyncio.run(send_due(committing_sessions(db_session), sender, NOON, config=config))
        assert day["sent"] == len(due)
        assert sorted(m["To"] for m in standin.messages) == sorted(phones[c.id] for c in due)
        held_phones = {phones[c.id] for c in contacts(db_session) if c.holdout}
        assert not held_phones & {m["To"] for m in standin.messages}  # the control group hears nothing
        body = standin.messages[0]["Body"]
        assert ("SI" in body or "YES" in body) and "STOP" in body and "cancel" not in body.lower()
        again = asyncio.run(send_due(committing_sessions(db_session), sender, NOON, config=config))
        assert again["sent"] == 0 and len(standin.messages) == len(due)


@pytest.mark.parametrize(("change", "says"), [
    (lambda raw: raw["settings"].update(holdout_share=0.9), "settings.holdout_share"),
    (lambda raw: raw["drivers"].update(shoe_size="price"), "drivers.shoe_size"),
    (lambda raw: raw["drivers"].update(usage_trend="bored"), "drivers.usage_trend"),
    (lambda raw: raw["sms"].update(es="Hola {first_name}, {offer_text} responde SI o NO."), "STOP"),
    (lambda raw: raw["sms"].update(en="Hi {first_name}, {offer_text} reply YES or NO, or CANCEL. STOP"), "CANCEL"),
    (lambda raw: raw["sms"].update(en="Hi {first_name}, reply YES, NO or STOP."), "offer_text"),
    (lambda raw: raw["intro"].pop("default"), "intro"),
])
def test_a_bad_proactive_file_names_the_entry(change: Any, says: str) -> None:
    import yaml

    from bot.core.proactive import DEFAULT_PROACTIVE

    raw = yaml.safe_load(DEFAULT_PROACTIVE.read_text())
    change(raw)
    with pytest.raises(ConfigError, match=says) as caught:
        parse_proactive(raw)
    assert "data/proactive.yml" in str(caught.value)


def test_no_proactive_sms_right_after_a_key_event_sms(db_session: Session, model_path: Path, config) -> None:  # type: ignore[no-untyped-def]
    from bot.core.alerts import ingest, parse_event
    from bot.storage.models import AlertAction

    ingest(db_session, parse_event({"id": "NET-P", "type": "outage", "postcodes": ["28013"],
                                    "started_at": "2026-11-28T08:00:00Z"}, now=NOON), now=NOON)
    for action in db_session.scalars(select(AlertAction).where(AlertAction.action == "sms")):
        action.status, action.done_at = "sent", NOON - timedelta(days=2)
    db_session.flush()
    plan_run(db_session, load(model_path), TODAY, config)
    area = {c.id for c in db_session.scalars(select(Customer).where(Customer.postcode == "28013"))}
    mine = [c for c in contacts(db_session) if c.customer_id in area and not c.holdout]
    assert mine and all(c.status == "skipped" for c in mine)
    assert {c.skip_reason for c in mine} <= {"texted_recently", "no_marketing_consent", "sms_opted_out",
                                             "unprofitable_customer"}
    assert "texted_recently" in {c.skip_reason for c in mine}


def test_the_reply_is_read_by_the_assistant(db_session: Session, model_path: Path, config) -> None:  # type: ignore[no-untyped-def]
    from bot.core.conversation import Conversation
    from bot.core.retention import RetentionService

    plan_run(db_session, load(model_path), TODAY, config)
    due = [c for c in contacts(db_session) if c.status == "due"]
    contact = next(c for c in due if c.offer_kind == "discount") if any(
        c.offer_kind == "discount" for c in due) else due[0]
    contact.status, contact.sent_at = "sent", datetime.now() - timedelta(hours=1)
    db_session.flush()
    customer = db_session.get(Customer, contact.customer_id)
    before = (customer.current_subscription.monthly_price, customer.current_subscription.running_offer_id)
    svc = RetentionService(db_session, today=TODAY)
    conv = Conversation("sms-x", language="es", channel="sms", customer_id=customer.id, verified=True,
                        stage="winback")
    unsure = svc.answer(conv, "cuánto es al final?")
    assert [r.response for r in unsure.replies] == ["utter_clarify_proactive"]
    assert (customer.current_subscription.monthly_price, customer.current_subscription.running_offer_id) == before
    done = svc.answer(Conversation("sms-x", language="es", channel="sms", customer_id=customer.id, verified=True,
                                   stage=unsure.stage), "sí, la quiero")
    assert [r.response for r in done.replies] == ["utter_proactive_accepted"]
    db_session.refresh(contact)
    assert contact.status == "accepted" and contact.reference.startswith("PRO-")
    assert customer.current_subscription.running_offer_id == contact.offer_id


def _sent_contact(db_session: Session, model_path: Path, config) -> ProactiveContact:  # type: ignore[no-untyped-def]
    plan_run(db_session, load(model_path), TODAY, config)
    contact = next(c for c in contacts(db_session) if c.status == "due")
    contact.status, contact.sent_at = "sent", datetime.now() - timedelta(hours=1)
    db_session.flush()
    return contact


@pytest.mark.parametrize(("text", "intent", "replies"), [
    ("¿dónde descargo la factura de noviembre?", "other_request", ["utter_other_request", "utter_clarify_proactive"]),
    ("quiero anular la visita del técnico del jueves", "cancel_other",
     ["utter_cancel_other", "utter_clarify_proactive"]),
    ("me han robado el móvil, bloquead la SIM", "other_request", ["utter_sim_block"]),
    ("prefiero cambiarme a una tarifa más barata", "change_plan", ["utter_change_plan"]),
])
def test_another_request_after_a_proactive_sms_is_answered_and_the_offer_stays_open(  # type: ignore[no-untyped-def]
        db_session: Session, model_path: Path, config, text: str, intent: str, replies: list[str]) -> None:
    """Probe finding M5: a pending proactive offer took every message as an answer to it."""
    from bot.core.conversation import Conversation
    from bot.core.retention import RetentionService

    contact = _sent_contact(db_session, model_path, config)
    customer = db_session.get(Customer, contact.customer_id)
    before = (customer.current_subscription.monthly_price, customer.current_subscription.running_offer_id)
    svc = RetentionService(db_session, today=TODAY)
    conv = Conversation("sms-aside", language="es", channel="sms", customer_id=contact.customer_id, verified=True,
                        stage="winback")
    turn = svc.answer(conv, text, intent)
    assert [r.response for r in turn.replies] == replies
    db_session.refresh(contact)
    assert contact.status == "sent"  # neither accepted nor declined
    assert (customer.current_subscription.monthly_price, customer.current_subscription.running_offer_id) == before
    if turn.stage == "winback":  # the offer question is still open: a yes now takes it
        done = svc.answer(replace(conv, stage=turn.stage), "sí, me interesa", "affirm")
        assert [r.response for r in done.replies] == ["utter_proactive_accepted"]


@pytest.mark.parametrize("text", ["quiero darme de baja", "me quiero dar de baja, cancélalo ya"])
def test_asking_to_leave_in_answer_to_a_proactive_sms_is_a_cancellation_request(  # type: ignore[no-untyped-def]
        db_session: Session, model_path: Path, config, text: str) -> None:
    """Probe finding: "quiero darme de baja" was read as "no" to the offer and nothing happened."""
    from bot.core.conversation import Conversation
    from bot.core.retention import RetentionService

    contact = _sent_contact(db_session, model_path, config)
    svc = RetentionService(db_session, today=TODAY)
    conv = Conversation("sms-leave", language="es", channel="sms", customer_id=contact.customer_id, verified=True,
                        stage="winback")
    turn = svc.answer(conv, text, "cancel")
    said = [r.response for r in turn.replies]
    assert "utter_proactive_declined" not in said and "utter_anything_else" not in said, said
    assert "utter_empathy_cancel" in said or "utter_confirm_cancel" in said or "utter_cancel_confirmed" in said, said
    db_session.refresh(contact)
    assert contact.status == "declined"


def test_a_proactive_sms_waits_when_another_sms_went_out_after_planning(  # type: ignore[no-untyped-def]
        db_session: Session, model_path: Path, config, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    """Probe finding: planned before an outage SMS, the offer was texted minutes after it."""
    from bot.core.alerts import ingest, parse_event
    from bot.storage.models import AlertAction

    monkeypatch.setenv("DATABASE_URL", db_url)
    plan_run(db_session, load(model_path), TODAY, config)
    due = [c for c in contacts(db_session) if c.status == "due"]
    codes = sorted({db_session.get(Customer, c.customer_id).postcode for c in due})
    ingest(db_session, parse_event({"id": "NET-LATE", "type": "outage", "postcodes": codes,
                                    "started_at": "2026-11-29T08:00:00Z"}, now=NOON), now=NOON)
    for action in db_session.scalars(select(AlertAction).where(AlertAction.action == "sms")):
        action.status, action.done_at = "sent", NOON
    db_session.commit()
    with TwilioApiStandIn() as standin:
        sender = SmsSender(standin.account_sid, standin.auth_token, "+15005550006", api_base_url=standin.base_url,
                           backoff_seconds=0)
        asyncio.run(send_due(committing_sessions(db_session), sender, NOON + timedelta(minutes=5), config=config))
        assert standin.messages == []
    db_session.expire_all()
    assert {c.skip_reason for c in contacts(db_session) if c.id in {d.id for d in due}} == {"texted_recently"}
