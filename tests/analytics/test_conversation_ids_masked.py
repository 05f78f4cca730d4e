"""Issue 19.4: SMS and voice conversation ids carry the caller's number (``sms-+44...``).

Where the dashboard shows a conversation id (the conversations, verbatims and queue tables, their
CSV exports, a case's detail, the transcript page), a user without contact rights sees the
number masked by the one rule (``bot.core.privacy.mask_phone``); the links keep the real id.
Real SQLite, the real Flask/Dash app and its HTTP routes (Flask's client).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from analytics import app as dashboard
from analytics import demo_rows, users
from bot.core.handoff import open_ticket
from bot.storage.db import session_factory
from bot.storage.models import RetentionCase
from tests.analytics.test_analytics_app import PASSWORD, Clock, csrf, login, page_values, run_callback
from tests.support.db_fixtures import make_database

NUMBER = "+447700900777"
CONVERSATIONS = (f"sms-{NUMBER}", f"voice-{NUMBER}")
FULL = re.compile(r"(?<!%2B)447700900777")  # links may carry the real id, URL-encoded (behind the login)
MASKED = "\u2022" * 9 + "777"
IN_OFFICE_HOURS = datetime(2026, 10, 20, 10, 0)  # a Tuesday, 12:00 in Madrid: the tickets wait for a person


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, list[int]]:
    directory: Path = tmp_path_factory.mktemp("masked-ids")
    url = make_database(directory, customers=20)
    tracker_url = f"sqlite:///{directory / 'tracker.db'}"
    tracker = demo_rows.writable_tracker(tracker_url)
    demo_rows.write_events(tracker, [(c, "user", 1764000000.0, "cancel", None, '{"text": "quiero la baja"}')
                                     for c in CONVERSATIONS])
    tracker.dispose()
    case_ids = []
    with session_factory(url)() as s:
        for conversation in CONVERSATIONS:
            case = RetentionCase(conversation_id=conversation, channel=conversation.split("-")[0][:5],
                                 language="es", status="open", reason="price",
                                 reason_verbatim="es muy caro", opened_at=datetime(2026, 10, 20, 10, 0))
            s.add(case)
            s.flush()
            case_ids.append(case.id)
            open_ticket(s, conversation_id=conversation, trigger="asked", channel="sms", language="es",
                        verbatim="quiero la baja", customer_id=None, case=case, now=IN_OFFICE_HOURS)
        users.create_user(s, "sup", PASSWORD, "supervisor")
        users.create_user(s, "ag", PASSWORD, "agent")
        users.create_user(s, "boss", PASSWORD, "admin", can_see_contact=True)
        s.commit()
    return url, tracker_url, case_ids


@pytest.fixture()
def app(db: tuple[str, str, list[int]]) -> Any:
    return dashboard.create_app(db[0], db[1], secret="test-secret", hours=8, clock=Clock(), cookie_secure=False)


def test_a_supervisor_without_contact_rights_never_sees_the_number(app: Any, db: tuple[str, str, list[int]]) -> None:
    with app.server.test_client() as sup:
        login(sup, "sup")
        for name in ("conversations", "verbatims", "queue"):
            export = sup.get(f"/export/{name}.csv?since=2026-01-01&until=2026-11-01")
            text = export.get_data(as_text=True)
            assert export.status_code == 200 and not FULL.search(text), (name, text[:400])
            assert f"sms-{MASKED}" in text, name
        for path in ("/conversations", "/queue", "/"):
            page = run_callback(sup, app, "page.children", page_values(path), token=csrf(sup))
            body = page.get_data(as_text=True)
            found = [body[max(0, m.start() - 300):m.end() + 50] for m in FULL.finditer(body)]
            assert page.status_code == 200 and not found, (path, found[:2])
        for case_id in db[2]:
            detail = run_callback(sup, app, "conv-detail.children", {"conv-table.active_cell": {"row_id": case_id}},
                                  token=csrf(sup))
            body = json.dumps(detail.get_json(), ensure_ascii=False)
            assert detail.status_code == 200 and not FULL.search(body), body[:400]
            assert f"Conversation sms-{MASKED}" in body or f"Conversation voice-{MASKED}" in body
            # the export link carries the real id (URL-encoded), behind the login
            assert "conversation=sms-%2B447700900777" in body or "conversation=voice-%2B447700900777" in body
        transcript = sup.get("/export/transcript.csv?conversation=sms-%2B447700900777")
        assert transcript.status_code == 200 and not FULL.search(transcript.get_data(as_text=True))
        page = sup.get("/conversations/sms-%2B447700900777")
        assert page.status_code == 200 and not FULL.search(page.get_data(as_text=True))


def test_contact_rights_show_the_real_id(app: Any) -> None:
    with app.server.test_client() as boss:
        login(boss, "boss")
        text = boss.get("/export/conversations.csv?since=2026-01-01&until=2026-11-01").get_data(as_text=True)
        assert f"sms-{NUMBER}" in text


def test_an_agent_finds_no_number_on_the_queue_and_cannot_test_a_guessed_one(
        app: Any, db: tuple[str, str, list[int]]) -> None:
    """Probe finding: the queue's reply and hand-back forms posted to
    ``/agent/conversations/sms-%2B4477.../reply``, and ``/conversations/<id>`` answered 200 for a
    number with a ticket and 404 for any other, so an agent could confirm a guessed number."""
    with app.server.test_client() as agent:
        login(agent, "ag")
        queue = run_callback(agent, app, "queue-body.children",
                             {"queue-tick.n_intervals": 1, "f-channel.value": None, "f-language.value": None},
                             token=csrf(agent))
        body = json.dumps(queue.get_json(), ensure_ascii=False)
        assert queue.status_code == 200 and "agent-reply-" in body, body[:400]
        assert "447700900777" not in body, [body[max(0, m.start() - 200):m.end() + 20]
                                            for m in re.finditer("447700900777", body)][:2]
        assert "/agent/tickets/" in body
        known = agent.get("/conversations/sms-%2B447700900777")
        unknown = agent.get("/conversations/sms-%2B447700900778")
        assert known.status_code == unknown.status_code == 404
        ticket_id = int(re.search(r"/agent/tickets/(\d+)/reply", body).group(1))
        transcript = agent.get(f"/tickets/{ticket_id}")
        text = transcript.get_data(as_text=True)
        assert transcript.status_code == 200 and "quiero la baja" in text and "447700900777" not in text
        assert agent.get("/tickets/999999").status_code == 404
        # the JSON API by conversation id is refused for such an id, whatever the number
        for number in ("447700900777", "447700900778"):
            refused = agent.post(f"/agent/conversations/sms-%2B{number}/resume",
                                 headers={"X-CSRFToken": csrf(agent), "Accept": "application/json"})
            assert refused.status_code == 404, refused.get_data(as_text=True)


def test_handoff_notifications_link_the_ticket_not_the_number(db: tuple[str, str, list[int]]) -> None:
    from bot.storage.models import HandoffTicket

    with session_factory(db[0])() as s:
        for ticket in s.query(HandoffTicket).all():
            assert ticket.summary["transcript"].endswith(f"/tickets/{ticket.id}"), ticket.summary["transcript"]
            assert "447700900777" not in json.dumps(ticket.summary)


@pytest.mark.parametrize("path", ["/conversations/sms-%2B447700900777", "/conversations/sms-%252B447700900777",
                                  "/conversations/sms-+6834002"])
def test_the_access_log_masks_numbers_and_keeps_the_client_address(path: str) -> None:
    import logging

    line = f'127.0.0.1 - - [03/Dec/2026 18:24:11] "GET {path} HTTP/1.1" 200 -'
    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, "%s", (line,), None)
    assert dashboard.MaskedContacts().filter(record)
    message = record.getMessage()
    assert "447700900777" not in message and "6834002" not in message, message
    assert message.startswith("127.0.0.1 - - [03/Dec/2026 18:24:11]"), message


def test_a_seven_digit_number_is_masked_like_any_other() -> None:
    """E.164 numbers have 7 to 15 digits (e.g. Niue +683 4002): probe finding, +6834002 showed."""
    from analytics.tables import holds_contact, mask_conversation

    assert mask_conversation("sms-+6834002") == "sms-" + "\u2022" * 4 + "002"
    assert holds_contact("sms-+6834002") and holds_contact("voice-+447700900777")
    assert not holds_contact("web-C00001-8f3a") and not holds_contact("rest-walk-1")
