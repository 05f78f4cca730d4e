"""Proactive retention through the running stack: an event is posted to the website's API as
the network or billing system would post it, the alert SMS go out through the real ``twilio``
library to a loopback stand-in, and the affected customers then text the assistant (signed
Twilio webhooks) in Spanish and English. Asserted: what they read and the account's state.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.storage.db import session_factory
from bot.storage.models import Alert, CaseOffer, Customer, RetentionCase
from bot.website.events_api import signature
from tests.support.stack import PROJECT_ROOT
from tests.support.twilio_standin import (
    SMS_WEBHOOK,
    TwilioApiStandIn,
    TwilioStack,
    sms_params,
    start_twilio_stack,
)

SECRET = "stack-events-secret-" + "5" * 24
LUCIA, JOHN, JAVIER = "+447700900000", "+447700900001", "+447700900002"  # C00001 28013, C00002, C00003


@pytest.fixture(scope="module")
def events_stack() -> Iterator[TwilioStack]:
    running = start_twilio_stack({"EVENTS_API_SECRET": SECRET})
    try:
        yield running
    finally:
        running.stack.stop()


def post_event(stack: TwilioStack, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = json.dumps(event).encode()
    request = urllib.request.Request(stack.stack.web_url + "/api/events", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-Signature": signature(SECRET, body)})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def texts(stack: TwilioStack, phone: str, body: str) -> list[str]:
    reply = stack.caller.post(SMS_WEBHOOK, sms_params(phone, body))
    assert reply.status == 200, stack.logs()
    return [(m.text or "") for m in ET.fromstring(reply.body).findall("Message")]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_outage_reaches_its_postcode_once_and_the_customer_hears_it_first(
        events_stack: TwilioStack) -> None:
    now = datetime.now(timezone.utc)
    outage = {"id": "NET-E2E-1", "type": "outage", "postcodes": ["28013"], "started_at": iso(now - timedelta(days=2))}
    status, result = post_event(events_stack, outage)
    assert status == 201, result
    factory = session_factory(events_stack.stack.database_url)
    with factory() as session:
        area = {c.id for c in session.scalars(select(Customer).where(Customer.postcode == "28013"))
                if c.current_subscription is not None and c.current_subscription.status in ("active", "paused")}
        alerted = set(session.scalars(select(Alert.customer_id)))
    assert alerted == area and result["reach"] == len(area)
    assert post_event(events_stack, outage)[1]["duplicate"] is True  # the network system retries

    # the alert SMS, as `make run`'s alerts process sends them
    with TwilioApiStandIn() as standin:
        env = {**os.environ, "DATABASE_URL": events_stack.stack.database_url, "PYTHONPATH": str(PROJECT_ROOT),
               "TWILIO_ACCOUNT_SID": standin.account_sid, "TWILIO_AUTH_TOKEN": standin.auth_token,
               "TWILIO_NUMBER": "+15005550001", "TWILIO_API_BASE_URL": standin.base_url,
               "OUTBOX_PATH": str(events_stack.stack.tmp_dir / "outbox.db")}
        for _ in range(2):  # a second run sends nothing more
            midday = now.replace(hour=11, minute=0).strftime("%Y-%m-%dT%H:%M")  # outside quiet hours
            done = subprocess.run([sys.executable, "-m", "bot.cli.events", "send", "--now", midday],
                                  cwd=PROJECT_ROOT, env=env,
                                  capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
        with factory() as session:
            consented = {c.phone for c in session.scalars(select(Customer).where(Customer.id.in_(area)))
                         if c.consent_sms_service and c.sms_opted_out_at is None and c.phone}
        texted = [m["To"] for m in standin.messages]
        assert sorted(texted) == sorted(consented)  # each once, nobody outside the postcode
        assert JOHN not in texted and LUCIA in texted

    replies = texts(events_stack, LUCIA, "me quiero dar de baja, llevo dos días sin internet")
    joined = " ".join(replies)
    assert re.search(r"corte de servicio en tu zona", replies[0]), replies
    assert "6,00 €" in replies[0], replies  # two days at 3 EUR: the compensation, first
    assert "por qué" not in joined.lower() and "motivo" not in joined.lower(), replies  # no reason question
    with factory() as session:
        lucia = session.scalar(select(Customer).where(Customer.phone == LUCIA))
        assert lucia is not None and lucia.current_subscription.status == "active"
        case = session.scalar(select(RetentionCase).where(RetentionCase.customer_id == lucia.id)
                              .order_by(RetentionCase.id.desc()))
        assert case is not None and case.reason == "service_failure" and case.status == "open"
        offers = list(session.scalars(select(CaseOffer).where(CaseOffer.case_id == case.id)))
        assert offers and all(o.kind != "credit" for o in offers)  # the credit was given already
        assert offers[0].offer_id in joined or offers[0].kind in ("technician", "upgrade", "escalation")

    again = texts(events_stack, LUCIA, "no, quiero la baja")  # a firm cancellation is never obstructed
    with factory() as session:
        lucia = session.scalar(select(Customer).where(Customer.phone == LUCIA))
        assert lucia is not None
    assert any("baja" in r.lower() for r in again), again


def test_english_customer_hears_about_the_double_charge_in_english(events_stack: TwilioStack) -> None:
    now = datetime.now(timezone.utc)
    status, _ = post_event(events_stack, {"id": "BILL-E2E-1", "type": "double_charge", "customer": "C00002",
                                          "amount": 32.9, "started_at": iso(now - timedelta(days=1))})
    assert status == 201
    replies = texts(events_stack, JOHN, "hi")
    assert "charged twice" in replies[0] and "€32.90" in replies[0], replies
    assert "cobr" not in " ".join(replies)  # no Spanish
    assert not any("charged twice" in r for r in texts(events_stack, JOHN, "thanks"))  # told once


def test_customer_outside_the_event_hears_nothing_about_it(events_stack: TwilioStack) -> None:
    replies = texts(events_stack, JAVIER, "hola")
    assert not any("corte" in r or "cobró" in r for r in replies), replies


def recent_weekday_noon() -> str:
    """The last past 11:00 UTC (12:00 in Madrid) on a weekday: the run's clock. The customer then
    answers today, within the days a proactive SMS can be answered, on any date the test runs."""
    day = datetime.now(timezone.utc).replace(hour=11, minute=0, second=0, microsecond=0)
    if day > datetime.now(timezone.utc):
        day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day.strftime("%Y-%m-%dT%H:%M")


def test_proactively_contacted_customers_answer_the_assistant(events_stack: TwilioStack, tmp_path: Path) -> None:
    from bot.risk.model import evaluate, fit, save, time_split
    from bot.risk.simulate import simulate
    from bot.storage.models import ProactiveContact

    rows = simulate(customers=1000, seed=5)
    split = time_split(rows)
    pipeline = fit(split.train)
    model = tmp_path / "churn_risk.joblib"
    save(pipeline, rows, evaluate(pipeline, split), "test", model)
    with TwilioApiStandIn() as standin:
        env = {**os.environ, "DATABASE_URL": events_stack.stack.database_url, "PYTHONPATH": str(PROJECT_ROOT),
               "TWILIO_ACCOUNT_SID": standin.account_sid, "TWILIO_AUTH_TOKEN": standin.auth_token,
               "TWILIO_NUMBER": "+15005550001", "TWILIO_API_BASE_URL": standin.base_url,
               "OUTBOX_PATH": str(events_stack.stack.tmp_dir / "outbox.db")}
        done = subprocess.run([sys.executable, "-m", "bot.cli.proactive", "run", "--now", recent_weekday_noon(),
                               "--model", str(model)], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout.splitlines()[-1])
        texted = {m["To"]: m["Body"] for m in standin.messages}
    factory = session_factory(events_stack.stack.database_url)
    with factory() as session:
        sent = list(session.scalars(select(ProactiveContact).where(ProactiveContact.status == "sent")
                                    .order_by(ProactiveContact.probability.desc())))
        held = list(session.scalars(select(ProactiveContact).where(ProactiveContact.holdout.is_(True))))
        phones = {c.id: session.get(Customer, c.customer_id).phone for c in [*sent, *held]}
    assert summary["sms"]["sent"] == len(sent) == len(texted) >= 2, (summary, done.stderr)
    assert summary["due"] + summary["holdout"] + summary["skipped"] <= 50  # max_contacts_per_run
    assert not {phones[c.id] for c in held} & set(texted)

    yes, no = sent[0], sent[1]
    replies = texts(events_stack, phones[yes.id], "si")
    assert any("PRO-" in r for r in replies), replies
    replies_no = texts(events_stack, phones[no.id], "no, gracias")
    with factory() as session:
        accepted = session.get(ProactiveContact, yes.id)
        declined = session.get(ProactiveContact, no.id)
        assert accepted.status == "accepted" and accepted.reference and accepted.reference in " ".join(replies)
        customer = session.get(Customer, accepted.customer_id)
        assert customer.current_subscription.running_offer_id == accepted.offer_id
        assert customer.current_subscription.status in ("active", "paused")
        assert declined.status == "declined", replies_no
        other = session.get(Customer, declined.customer_id)
        assert other.current_subscription.status == "active"  # a "no" changes nothing


def test_an_affected_caller_hears_about_the_outage_first(events_stack: TwilioStack) -> None:
    from tests.support.twilio_standin import VOICE_WEBHOOK, call_params

    now = datetime.now(timezone.utc)
    status, _ = post_event(events_stack, {"id": "NET-E2E-VOICE", "type": "outage", "postcodes": ["41001"],
                                          "started_at": iso(now - timedelta(hours=20))})
    assert status == 201
    with session_factory(events_stack.stack.database_url)() as session:
        caller = session.scalar(select(Customer).where(Customer.postcode == "41001", Customer.language == "es",
                                                       Customer.phone.is_not(None)).order_by(Customer.id))
        assert caller is not None
        phone = caller.phone
    reply = events_stack.caller.post(VOICE_WEBHOOK, call_params("CA" + "7" * 32, phone, CallStatus="ringing"))
    assert reply.status == 200
    spoken = " ".join((say.text or "") for say in ET.fromstring(reply.body).iter("Say"))
    assert "corte de servicio en tu zona" in spoken and "3,00 €" in spoken, spoken
    assert spoken.index("corte de servicio") < spoken.index("?")  # said before the first question


def test_a_complaint_about_the_outage_and_a_no_cancel_nothing(events_stack: TwilioStack) -> None:
    """Probe finding: "el internet me va fatal desde el corte, que vais a hacer?" then "no" cancelled."""
    now = datetime.now(timezone.utc)
    assert post_event(events_stack, {"id": "NET-E2E-COMPLAINT", "type": "outage", "postcodes": ["50001"],
                                     "started_at": iso(now - timedelta(hours=30))})[0] == 201
    with session_factory(events_stack.stack.database_url)() as session:
        who = session.scalar(select(Customer).where(Customer.postcode == "50001", Customer.language == "es",
                                                    Customer.phone.is_not(None)).order_by(Customer.id.desc()))
        assert who is not None
        phone, customer_id = who.phone, who.id
    replies = [texts(events_stack, phone, "el internet me va fatal desde el corte, que vais a hacer?")]
    for _ in range(3):
        replies.append(texts(events_stack, phone, "no"))
    with session_factory(events_stack.stack.database_url)() as session:
        customer = session.get(Customer, customer_id)
        assert customer.current_subscription.status == "active", replies
