"""The identity check's last step (real SDK objects, real SQLite): what follows a verification."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

import bot.core.handoff
from actions.verify import ActionVerifyIdentity
from bot.core.conversation import Conversation
from bot.core.customers import find_customer
from bot.core.process import load_policy
from bot.core.retention import RetentionService
from bot.storage.db import session_factory
from bot.storage.models import RetentionCase

WEDNESDAY_NOON = datetime(2026, 11, 25, 11, 0)  # naive UTC, as stored: 12:00 in Madrid, office hours


def _run(sender: str, stage: str, ref: str, text: str,
         said_before: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    tracker = Tracker(
        sender_id=sender, slots={"language": "es", "retention_stage": stage, "verify_ref": ref,
                                 "verify_attempts": 0.0},
        latest_message={"text": text, "intent": {"name": "nlu_fallback", "confidence": 0.3},
                        "metadata": {"channel": "rest", "source": "rest:203.0.113.70"}},
        events=[{"event": "user", "text": t} for t in ["tramita mi baja ya", "sí", ref, *said_before, text]],
        paused=False, followup_action=None, active_loop={}, latest_action_name=None)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionVerifyIdentity().run(dispatcher, tracker, {}))
    return [m.get("response") or "" for m in dispatcher.messages], events


def verify(sender: str, ref: str, postcode: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The right postcode, then the code the demo phone received (``make run`` without Twilio)."""
    from bot.messaging import demo_phone

    said, _ = _run(sender, "verify_postcode", ref, postcode, [])
    assert said == ["utter_verify_code_sent"], said
    with session_factory(os.environ["DATABASE_URL"])() as session:
        phone = find_customer(session, ref=ref).phone
    code = re.search(r"\b(\d{6})\b", demo_phone.texts_to([phone], limit=1)[0].body).group(1)
    return _run(sender, "verify_code", ref, code, [postcode])


@pytest.fixture
def office_hours(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> Iterator[str]:
    """Wednesday noon in Madrid, Lucía (C00001, 72.90 EUR/month) counts as a high-value account,
    and codes go to the demo phone, as in ``make run`` without Twilio."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMS_DEMO_PHONE", "1")
    monkeypatch.setenv("DEMO_PHONE_PATH", str(tmp_path / "demo_phone.db"))
    monkeypatch.setenv("RETENTION_HIGH_VALUE_EUR", "70")
    monkeypatch.setattr(bot.core.handoff, "now_utc", lambda: WEDNESDAY_NOON)
    load_policy.cache_clear()
    with session_factory(db_url)() as session:
        lucia = find_customer(session, ref="C00001")
        assert float(lucia.current_subscription.monthly_price) >= load_policy().handoff.high_value_monthly_revenue
    yield db_url
    load_policy.cache_clear()  # the environment is restored: later tests read the shipped policy


def open_case(db_url: str, sender: str, cancel_now: bool) -> None:
    with session_factory(db_url)() as session:
        svc = RetentionService(session)
        anonymous = Conversation(conversation_id=sender, language="es")
        if cancel_now:
            svc.firm_cancel(anonymous, pressed=True)  # asks for the identity, keeps the request
        else:
            svc.start(anonymous, reason=None)
        session.commit()


def test_high_value_visitor_who_asked_to_cancel_now_is_cancelled_not_handed_off(office_hours: str) -> None:
    open_case(office_hours, "v-firm", cancel_now=True)
    said, events = verify("v-firm", "C00001", "28013")
    assert said == ["utter_verified", "utter_cancel_confirmed"]
    assert not any(e.get("event") == "pause" for e in events)
    with session_factory(office_hours)() as session:
        assert find_customer(session, ref="C00001").current_subscription.status == "cancelled"


def test_high_value_visitor_who_wants_to_leave_goes_to_a_person(office_hours: str) -> None:
    open_case(office_hours, "v-leave", cancel_now=False)
    said, events = verify("v-leave", "C00001", "28013")
    assert said[0] == "utter_verified" and "utter_handoff" in said
    assert any(e.get("event") == "pause" for e in events)
    with session_factory(office_hours)() as session:
        assert find_customer(session, ref="C00001").current_subscription.status != "cancelled"
        assert session.query(RetentionCase).filter_by(conversation_id="v-leave").one().status == "handed_off"
