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
                        verbatim="quiero la baja", customer_id=None, case=case)
        users.create_user(s, "sup", PASSWORD, "supervisor")
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
