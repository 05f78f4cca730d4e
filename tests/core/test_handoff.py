"""Handoff rules, tickets and agent notification (real DB, real HTTP server on loopback)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import date, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.conversation import Conversation
from bot.core.customers import find_customer
from bot.core.handoff import in_office_hours, is_angry, next_opening, notify, open_ticket, retry_pending, sentiment
from bot.core.process import load_policy
from bot.core.retention import RetentionService
from bot.storage.models import HandoffTicket, RetentionCase

# 2026-11-24 is a Tuesday. 10:00 UTC = 11:00 Madrid (open); 22:30 UTC = 23:30 Madrid (closed).
OPEN = datetime(2026, 11, 24, 10, 0)
CLOSED = datetime(2026, 11, 24, 22, 30)


@pytest.mark.parametrize("text", [
    "ESTO ES UNA VERGÜENZA, SOIS UNOS LADRONES", "sois unos estafadores!!! me tenéis harta",
    "this is ridiculous, you are scammers!!!", "WORST SERVICE EVER, ABSOLUTELY USELESS",
])
def test_angry_messages(text: str) -> None:
    assert is_angry(text) and sentiment(text) == "negative"


@pytest.mark.parametrize("text", ["quiero darme de baja", "it's too expensive", "la fibra va fatal", "", "OK"])
def test_calm_messages(text: str) -> None:
    assert not is_angry(text)


def test_office_hours_and_next_opening() -> None:
    policy = load_policy().handoff
    assert in_office_hours(policy, OPEN) and not in_office_hours(policy, CLOSED)
    opening = next_opening(policy, CLOSED)
    assert (opening.day, opening.hour) == (25, 9)


def test_ticket_has_actionable_summary_and_is_opened_once(db_session: Session) -> None:
    svc = RetentionService(db_session, today=date(2026, 11, 24))
    lucia = find_customer(db_session, ref="C00001")
    conv = Conversation("h-1", customer_id=lucia.id, verified=True)
    svc.start(conv, reason="price", verbatim="es carísimo")
    svc.decline(replace(conv, stage="offer"))
    case = db_session.scalar(select(RetentionCase))
    decision = open_ticket(db_session, conversation_id="h-1", trigger="asked", channel="web", language="es",
                           verbatim="quiero hablar con una persona", customer_id=lucia.id, case=case, now=OPEN)
    s = decision.ticket.summary
    assert decision.in_office_hours and decision.ticket.status == "waiting"
    assert "Lucía" in s["customer"] and s["plan"] and s["monthly_revenue"] > 0 and s["value_segment"]
    assert s["reason"] == "price" and s["verbatim"] == "es carísimo"
    assert [o["outcome"] for o in s["offers"]] == ["declined", "pending"]
    assert s["transcript"].endswith(f"/tickets/{decision.ticket.id}")
    assert case.status == "handed_off"
    again = open_ticket(db_session, conversation_id="h-1", trigger="angry", channel="web", language="es",
                        verbatim="!!!", customer_id=lucia.id, case=case, now=OPEN)
    assert again.ticket.id == decision.ticket.id
    assert db_session.scalar(select(func.count()).select_from(HandoffTicket)) == 1


def test_out_of_hours_ticket_is_a_callback_and_case_stays_open(db_session: Session) -> None:
    svc = RetentionService(db_session, today=date(2026, 11, 24))
    lucia = find_customer(db_session, ref="C00001")
    svc.start(Conversation("h-2", customer_id=lucia.id, verified=True), reason="price", verbatim="caro")
    case = db_session.scalar(select(RetentionCase))
    decision = open_ticket(db_session, conversation_id="h-2", trigger="high_value", channel="sms", language="es",
                           verbatim="caro", customer_id=lucia.id, case=case, now=CLOSED)
    assert not decision.in_office_hours and decision.ticket.status == "callback" and decision.ticket.out_of_hours
    assert case.status == "open"


class _Hook(BaseHTTPRequestHandler):
    fail_first = 0
    received: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if _Hook.fail_first > 0:
            _Hook.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Hook.received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def webhook() -> Iterator[str]:
    _Hook.received, _Hook.fail_first = [], 0
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook"
    server.shutdown()


def test_webhook_failure_keeps_ticket_and_retry_delivers(db_session: Session, webhook: str) -> None:
    _Hook.fail_first = 2
    decision = open_ticket(db_session, conversation_id="h-3", trigger="asked", channel="web", language="en",
                           verbatim="agent please", customer_id=None, case=None, now=OPEN)
    assert notify(db_session, decision.ticket, webhook) is False
    db_session.commit()
    assert db_session.get(HandoffTicket, decision.ticket.id).notified_at is None
    assert retry_pending(db_session, webhook) == (0, 1)
    assert retry_pending(db_session, webhook) == (1, 0)
    ticket = db_session.get(HandoffTicket, decision.ticket.id)
    assert ticket.notified_at is not None and ticket.notify_attempts == 3
    assert len(_Hook.received) == 1 and "Handoff #" in _Hook.received[0]["text"]
    assert "agent please" in _Hook.received[0]["text"]
    assert retry_pending(db_session, webhook) == (0, 0)


def test_unreachable_webhook_never_raises(db_session: Session) -> None:
    decision = open_ticket(db_session, conversation_id="h-4", trigger="asked", channel="web", language="es",
                           verbatim="persona", customer_id=None, case=None, now=OPEN)
    assert notify(db_session, decision.ticket, "http://127.0.0.1:9/nothing", timeout=1) is False
    assert decision.ticket.notify_attempts == 1
