"""A cancellation while the project database is locked: told plainly, kept, applied later.

The probe saw the cancel turn hang 30 s, answer nothing and write no case, and the next message
misread. Here the database is locked for real (another connection holds ``BEGIN EXCLUSIVE`` on
the SQLite file) while the real action runs with real SDK objects.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.outbox_replay import replay_once
from actions.retention import ActionCancelSubscription
from bot.core.customers import find_customer
from bot.storage import outbox
from bot.storage.db import get_engine, session_factory, upgrade_database
from bot.storage.models import Customer, HandoffTicket
from bot.storage.seed import seed
from tests.support.pg import PostgresServer


def cancel_pressed(customer_id: int) -> tuple[list[str], dict, float]:
    tracker = Tracker(
        sender_id="rest-locked-1", slots={"customer_id": float(customer_id), "verified": True,
                                          "language": "es", "retention_stage": None,
                                          "channel": "rest"},
        latest_message={"text": "/cancel_firm", "intent": {"name": "cancel_firm", "confidence": 1.0}},
        events=[{"event": "user", "text": "/cancel_firm"}], paused=False, followup_action=None,
        active_loop={}, latest_action_name=None)
    dispatcher = CollectingDispatcher()
    started = time.monotonic()
    events = asyncio.run(ActionCancelSubscription().run(dispatcher, tracker, {"responses": {}}))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return [m.get("response") for m in dispatcher.messages], slots, time.monotonic() - started


@pytest.fixture
def project_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("DB_BUSY_TIMEOUT_SECONDS", "0.5")
    get_engine.cache_clear()
    yield db_url
    get_engine.cache_clear()


def status_of(db_url: str, customer_id: int) -> str:
    with session_factory(db_url)() as session:
        return session.get(Customer, customer_id).current_subscription.status


def test_a_cancellation_during_a_lock_is_kept_and_applied_once_the_lock_is_gone(
        project_db: str) -> None:
    with session_factory(project_db)() as session:
        customer_id = find_customer(session, ref="C00003").id
    lock = sqlite3.connect(project_db[len("sqlite:///"):], isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        said, slots, took = cancel_pressed(customer_id)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert said == ["utter_request_kept"], said
    assert slots["retention_stage"] is None
    assert took < 10, f"the customer waited {took:.1f} s"
    [kept] = outbox.entries(outbox.PENDING)
    assert kept.kind == "action" and kept.customer_id == customer_id
    assert kept.payload["next_action"] == "action_cancel_subscription"
    assert status_of(project_db, customer_id) == "active"  # nothing half-done

    assert replay_once() == (1, 0)
    assert status_of(project_db, customer_id) == "cancelled"
    [done] = outbox.entries()
    assert done.status == outbox.APPLIED and "cancel" in (done.outcome or "").lower()
    with session_factory(project_db)() as session:
        ticket = session.scalar(select(HandoffTicket).where(
            HandoffTicket.conversation_id == "rest-locked-1"))
        assert ticket is not None and ticket.trigger == "fault"
    assert replay_once() == (0, 0), "applied once, never twice"


def test_a_replay_while_still_locked_waits_for_the_next_run(project_db: str) -> None:
    with session_factory(project_db)() as session:
        customer_id = find_customer(session, ref="C00004").id
    lock = sqlite3.connect(project_db[len("sqlite:///"):], isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        cancel_pressed(customer_id)
        assert replay_once() == (0, 1)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    [waiting] = outbox.entries(outbox.PENDING)
    assert waiting.attempts == 1 and "locked" in (waiting.last_error or "")
    assert replay_once() == (1, 0)
    assert status_of(project_db, customer_id) == "cancelled"


def test_a_cancellation_while_postgresql_is_stopped_is_kept_and_applied_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with PostgresServer() as pg:
        url = pg.create_database("outage")
        upgrade_database(url)
        with session_factory(url)() as session:
            seed(session, 40)
            session.commit()
            customer_id = find_customer(session, ref="C00005").id
        monkeypatch.setenv("DATABASE_URL", url)
        pg.pause()
        try:
            said, _, took = cancel_pressed(customer_id)
        finally:
            pg.resume()
        assert said == ["utter_request_kept"] and took < 10
        assert status_of(url, customer_id) == "active"
        assert replay_once() == (1, 0)
        assert status_of(url, customer_id) == "cancelled"
        get_engine(url).dispose()


def test_the_outbox_file_is_private(private_outbox) -> None:  # noqa: ANN001
    outbox.record("unserved", reason="test", text="hola")
    assert private_outbox.stat().st_mode & 0o777 == 0o600
