"""Faults caused for real on a running stack: the customer is told, nothing is lost.

The probe saw: with the tracker database locked, Rasa silently fell back to an in-memory store
(answered, but the conversation state and transcript were gone afterwards); with the action
server down, "no lo he entendido" and then silence; (second probe) with the action server
frozen, every conversation hung for Rasa's 300 s and the message was lost.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.channels.faults import FAULT_TEXT
from bot.storage import outbox
from tests.support.stack import Stack


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, Path]]:
    from tests.support.stack import find_model

    model = find_model()
    if model is None:
        pytest.fail("no trained model under models/: run make train first", pytrace=False)
    kept = tmp_path_factory.mktemp("faults") / "outbox.db"
    with Stack(model=model, extra_env={"OUTBOX_PATH": str(kept), "ACTION_TIMEOUT_SECONDS": "4"}) as running:
        yield running, kept


def said(replies: list[dict]) -> str:
    return " ".join(r.get("text") or "" for r in replies)


def test_a_locked_tracker_store_is_told_and_the_conversation_keeps_its_state(
        fault_stack: tuple[Stack, Path]) -> None:
    stack, kept = fault_stack
    first = said(stack.rest("locked-1", "quiero darme de baja"))
    assert "número de cliente" in first, first
    lock = sqlite3.connect(stack.tracker_db, isolation_level=None, timeout=1)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        during = said(stack.rest("locked-1", "C00002"))
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert during == FAULT_TEXT["es"], during
    unserved = [e for e in outbox.entries(path=kept) if e.conversation_id == "rest-locked-1"]
    assert unserved and unserved[-1].text == "C00002" and unserved[-1].kind == "unserved"
    after = said(stack.rest("locked-1", "C00002"))
    assert "código postal" in after, "the conversation went on where it was: " + after
    with sqlite3.connect(stack.tracker_db) as conn:
        texts = [json.loads(d).get("text") for (d,) in conn.execute(
            "SELECT data FROM events WHERE sender_id = 'rest-locked-1' AND type_name = 'user'")]
    assert texts[0] == "quiero darme de baja" and texts[-1] == "C00002"


def test_a_frozen_action_server_is_a_polite_reply_within_the_timeout(
        fault_stack: tuple[Stack, Path]) -> None:
    stack, kept = fault_stack
    said(stack.rest("frozen-1", "hola"))  # the session starts while the action server works
    actions = next(s for s in stack.services if s.name == "actions")
    assert actions.process is not None
    os.kill(actions.process.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        text = said(stack.rest("frozen-1", "quiero darme de baja, es muy caro"))
        waited = time.monotonic() - started
    finally:
        os.kill(actions.process.pid, signal.SIGCONT)
    assert FAULT_TEXT["es"] in text and "no lo he entendido" not in text.lower(), text
    assert waited < 60, f"the customer waited {waited:.0f} s"  # Rasa's own limit was 300 s
    unserved = [e for e in outbox.entries(path=kept) if e.conversation_id == "rest-frozen-1"]
    assert unserved and "action server" in (unserved[0].reason or "")
    resumed = said(stack.rest("frozen-1", "quiero darme de baja"))
    assert resumed and FAULT_TEXT["es"] not in resumed, "answered normally once it runs again: " + resumed


def test_with_the_action_server_down_the_customer_gets_a_polite_reply(
        fault_stack: tuple[Stack, Path]) -> None:
    stack, kept = fault_stack
    actions = next(s for s in stack.services if s.name == "actions")
    stack._terminate(actions)
    replies = stack.rest("no-actions-1", "quiero darme de baja, es muy caro")
    text = said(replies)
    assert FAULT_TEXT["es"] in text and "no lo he entendido" not in text.lower(), text
    unserved = [e for e in outbox.entries(path=kept) if e.conversation_id == "rest-no-actions-1"]
    assert unserved and "action server" in (unserved[0].reason or "")
    rasa = next(s for s in stack.services if s.name == "rasa")
    assert rasa.process is not None and rasa.process.poll() is None
