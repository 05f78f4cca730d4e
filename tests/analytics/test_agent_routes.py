"""The agent endpoints of the dashboard (analytics/agent.py), through Flask's test client.

``POST /agent/conversations/<id>/reply`` and ``/resume`` need a dashboard login (401), a role that may talk
to customers (403) and the session's CSRF token (403); they answer 400 on a bad reply or conversation, 502
when Rasa is unreachable or refuses, and otherwise append the event through Rasa's HTTP API (a loopback
stand-in of ``/conversations/<id>/tracker/events`` here) and update the handoff ticket.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from werkzeug.security import generate_password_hash

from analytics import agent as agent_desk
from analytics import app as dashboard
from analytics import users
from analytics.config import CSRF_COOKIE
from bot.messaging.rasa_api import MAX_REPLY_CHARS
from bot.storage.db import session_factory
from bot.storage.models import DashboardUser, HandoffTicket
from tests.support.db_fixtures import make_database
from tests.support.stack import free_ports

PASSWORD = "correct horse battery"
TOKEN = "rasa-api-token-for-tests"
JSON_ACCEPT = {"Accept": "application/json"}
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SMS_CONVERSATION = "sms-+447700900123"


# ---------------------------------------------------------------------------- a stand-in of Rasa's HTTP API


@dataclass
class RasaStandIn:
    """Records ``POST /conversations/<id>/tracker/events`` and answers ``status``."""

    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                parts = urlsplit(self.path)
                standin.requests.append({"path": parts.path, "query": parse_qs(parts.query),
                                         "content_type": self.headers.get("Content-Type"),
                                         "events": json.loads(raw.decode("utf-8"))})
                body = json.dumps({"sender_id": "x", "events": None}).encode("utf-8")
                self.send_response(standin.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        return Handler


@pytest.fixture()
def rasa(monkeypatch: pytest.MonkeyPatch) -> Iterator[RasaStandIn]:
    standin = RasaStandIn()
    server = ThreadingHTTPServer(("127.0.0.1", 0), standin.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    standin.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("RASA_API_URL", standin.url)
    monkeypatch.setenv("RASA_API_TOKEN", TOKEN)
    try:
        yield standin
    finally:
        server.shutdown()
        server.server_close()


# ---------------------------------------------------------------------------- database, app and users


@pytest.fixture()
def db(tmp_path: Path) -> str:
    url = make_database(tmp_path, customers=12)  # the tracker store is not read by these routes or the queue
    with session_factory(url)() as s:
        users.create_user(s, "ag", PASSWORD, "agent")
        users.create_user(s, "sup", PASSWORD, "supervisor")
        users.create_user(s, "boss", PASSWORD, "admin", can_see_contact=True)
        # a read-only role the dashboard might grow one day: it must not talk to customers
        s.add(DashboardUser(username="viewer", password_hash=generate_password_hash(PASSWORD), role="viewer"))
        created = datetime(2026, 11, 3, 10, 0)
        for conversation_id, status, language in (
                ("conv-waiting", "waiting", "es"), ("conv-progress", "in_progress", "en"),
                ("conv-callback", "callback", "es"), ("conv-resolved", "resolved", "es"),
                (SMS_CONVERSATION, "waiting", "en")):
            s.add(HandoffTicket(conversation_id=conversation_id, channel="rest", language=language, trigger="asked",
                                status=status, summary={"trigger": "asked", "verbatim": "una persona"},
                                sentiment="neutral", out_of_hours=status == "callback", created_at=created,
                                assigned_to="sup" if status == "in_progress" else None))
        s.commit()
    return url


@pytest.fixture()
def app(db: str) -> Any:
    tracker = db.replace("retention.db", "tracker.db")
    return dashboard.create_app(db, tracker, secret="test-secret", hours=8, cookie_secure=False)


@pytest.fixture()
def client(app: Any) -> Iterator[FlaskClient]:
    with app.server.test_client() as c:
        yield c


def login(client: FlaskClient, username: str) -> str:
    """Log in; returns the session's CSRF token (the cookie Dash's renderer reads)."""
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    response = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": token.group(1)})
    assert response.status_code == 302, response.get_data(as_text=True)
    cookie = client.get_cookie(CSRF_COOKIE)
    assert cookie is not None
    return cookie.value


def ticket(db: str, conversation_id: str) -> HandoffTicket:
    with session_factory(db)() as s:
        row = s.scalar(select(HandoffTicket).where(HandoffTicket.conversation_id == conversation_id))
        assert row is not None
        s.expunge(row)
        return row


def reply(client: FlaskClient, conversation_id: str, text: Any, csrf: str | None) -> Any:
    headers = {**JSON_ACCEPT, **({"X-CSRFToken": csrf} if csrf is not None else {})}
    return client.post(agent_desk.conversation_url(conversation_id, "reply"), json={"text": text}, headers=headers)


def resume(client: FlaskClient, conversation_id: str, csrf: str | None) -> Any:
    headers = {**JSON_ACCEPT, **({"X-CSRFToken": csrf} if csrf is not None else {})}
    return client.post(agent_desk.conversation_url(conversation_id, "resume"), headers=headers)


# ---------------------------------------------------------------------------- 401, 403


def test_routes_are_registered_on_the_dashboard(app: Any) -> None:
    rules = {r.rule: r.methods for r in app.server.url_map.iter_rules()}
    assert "POST" in rules["/agent/conversations/<path:conversation_id>/reply"]
    assert "POST" in rules["/agent/conversations/<path:conversation_id>/resume"]


def test_without_login_401(client: FlaskClient, rasa: RasaStandIn, db: str) -> None:
    for path in ("/agent/conversations/conv-waiting/reply", "/agent/conversations/conv-waiting/resume"):
        response = client.post(path, json={"text": "hola"}, headers=JSON_ACCEPT)
        assert response.status_code == 401, path
        assert response.get_json() == {"ok": False, "error": "Login required."}
        assert response.headers["WWW-Authenticate"].startswith("Cookie")
        browser = client.post(path, data={"text": "hola"}, headers={"Accept": BROWSER_ACCEPT})
        assert browser.status_code == 401 and browser.mimetype == "text/html"
        assert 'href="/login?next=%2Fqueue"' in browser.get_data(as_text=True)
    assert rasa.requests == []
    assert ticket(db, "conv-waiting").status == "waiting"


def test_expired_session_401(app: Any, rasa: RasaStandIn) -> None:
    clock = [1_800_000_000.0]
    state = app.server.extensions["nubia_analytics"]
    timed = dashboard.create_app(state.db_url, state.tracker_url, secret="s", hours=8, clock=lambda: clock[0],
                                 cookie_secure=False)
    with timed.server.test_client() as c:
        csrf = login(c, "ag")
        clock[0] += 8 * 3600 + 1
        assert reply(c, "conv-waiting", "hola", csrf).status_code == 401
    assert rasa.requests == []


def test_other_roles_403(client: FlaskClient, rasa: RasaStandIn, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from analytics import session as logins

    monkeypatch.setattr(logins, "ROLES", (*logins.ROLES, "viewer"))  # so that "viewer" can log in
    csrf = login(client, "viewer")
    response = reply(client, "conv-waiting", "hola", csrf)
    assert response.status_code == 403 and "role" in response.get_json()["error"]
    assert resume(client, "conv-waiting", csrf).status_code == 403
    assert rasa.requests == []
    assert ticket(db, "conv-waiting").status == "waiting"


def test_csrf_token_required(client: FlaskClient, rasa: RasaStandIn, db: str) -> None:
    login(client, "ag")
    assert reply(client, "conv-waiting", "hola", None).status_code == 403
    forged = reply(client, "conv-waiting", "hola", "forged")
    assert forged.status_code == 403 and "CSRF" in forged.get_json()["error"]
    assert resume(client, "conv-waiting", "forged").status_code == 403
    # a form post needs the csrf_token field
    form = client.post("/agent/conversations/conv-waiting/reply", data={"text": "hola", "csrf_token": "forged"},
                       headers={"Accept": BROWSER_ACCEPT})
    assert form.status_code == 403 and form.mimetype == "text/html"
    assert rasa.requests == []
    assert ticket(db, "conv-waiting").status == "waiting"


# ---------------------------------------------------------------------------- 400


@pytest.mark.parametrize("text,fragment", [
    ("", "empty"),
    ("   \n ", "empty"),
    (None, "empty"),
    (42, "empty"),
    ("x" * (MAX_REPLY_CHARS + 1), "longer than"),
])
def test_bad_reply_400(client: FlaskClient, rasa: RasaStandIn, db: str, text: Any, fragment: str) -> None:
    csrf = login(client, "ag")
    response = reply(client, "conv-waiting", text, csrf)
    assert response.status_code == 400
    assert fragment in response.get_json()["error"]
    assert rasa.requests == []
    assert ticket(db, "conv-waiting").status == "waiting"


def test_bad_bodies_and_conversations_400(client: FlaskClient, rasa: RasaStandIn, db: str) -> None:
    csrf = login(client, "ag")
    headers = {**JSON_ACCEPT, "X-CSRFToken": csrf}
    not_object = client.post("/agent/conversations/conv-waiting/reply", json=["hola"], headers=headers)
    assert not_object.status_code == 400 and "JSON object" in not_object.get_json()["error"]
    broken = client.post("/agent/conversations/conv-waiting/reply", data=b"{nope",
                         content_type="application/json", headers=headers)
    assert broken.status_code == 400
    unknown = reply(client, "no-such-conversation", "hola", csrf)
    assert unknown.status_code == 400 and "Unknown conversation" in unknown.get_json()["error"]
    assert resume(client, "no-such-conversation", csrf).status_code == 400
    assert reply(client, "c" * 300, "hola", csrf).status_code == 400
    done = reply(client, "conv-resolved", "hola", csrf)
    assert done.status_code == 400 and "handed back" in done.get_json()["error"]
    assert resume(client, "conv-resolved", csrf).status_code == 400
    assert rasa.requests == []


def test_other_methods_and_paths_are_left_to_the_dashboard_guard(client: FlaskClient, rasa: RasaStandIn) -> None:
    for response in (client.get("/agent/conversations/conv-waiting/reply"), client.post("/agent/nothing", json={})):
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    csrf = login(client, "ag")  # an agent is sent back to the queue, as from any other page
    assert client.get("/agent/conversations/conv-waiting/resume").headers["Location"] == "/queue"
    assert client.post("/agent/nothing", json={}, headers={"X-CSRFToken": csrf}).headers["Location"] == "/queue"
    assert rasa.requests == []


# ---------------------------------------------------------------------------- the happy paths


def test_agent_reply_reaches_rasa_and_takes_the_ticket(client: FlaskClient, rasa: RasaStandIn, db: str) -> None:
    csrf = login(client, "ag")
    response = reply(client, "conv-waiting", "  Hola, soy Ana, del equipo de Nubia. ¿En qué te ayudo?  ", csrf)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["ok"] is True and body["action"] == "reply" and body["conversation_id"] == "conv-waiting"
    assert body["ticket"]["status"] == "in_progress" and body["ticket"]["assigned_to"] == "ag"
    [request] = rasa.requests
    assert request["path"] == "/conversations/conv-waiting/tracker/events"
    assert request["query"]["token"] == [TOKEN]
    assert request["query"]["output_channel"] == ["latest"]
    assert request["content_type"] == "application/json"
    assert request["events"] == [{"event": "bot", "text": "Hola, soy Ana, del equipo de Nubia. ¿En qué te ayudo?",
                                  "metadata": {"agent": "ag"}}]
    stored = ticket(db, "conv-waiting")
    assert stored.status == "in_progress" and stored.assigned_to == "ag" and stored.resolved_at is None
    # a second reply keeps the ticket with the agent who took it
    assert reply(client, "conv-waiting", "Sigo aquí", csrf).status_code == 200
    assert len(rasa.requests) == 2 and ticket(db, "conv-waiting").status == "in_progress"


def test_reply_to_a_callback_ticket(client: FlaskClient, rasa: RasaStandIn, db: str) -> None:
    csrf = login(client, "boss")
    assert reply(client, "conv-callback", "Te llamamos mañana a las 9", csrf).status_code == 200
    stored = ticket(db, "conv-callback")
    assert stored.status == "in_progress" and stored.assigned_to == "boss"


def test_resume_hands_back_and_resolves(client: FlaskClient, rasa: RasaStandIn, db: str) -> None:
    csrf = login(client, "sup")
    response = resume(client, "conv-progress", csrf)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["ticket"]["status"] == "resolved"
    [request] = rasa.requests
    assert request["path"] == "/conversations/conv-progress/tracker/events"
    assert request["query"]["token"] == [TOKEN]
    assert request["events"][0] == {"event": "resume"}
    assert {e["event"] for e in request["events"]} <= {"resume", "action"}  # (+ action_listen, if sent)
    stored = ticket(db, "conv-progress")
    assert stored.status == "resolved" and stored.resolved_at is not None and stored.assigned_to == "sup"
    # handed back already: a second resume or reply is refused without calling Rasa
    assert resume(client, "conv-progress", csrf).status_code == 400
    assert len(rasa.requests) == 1


def test_conversation_ids_are_quoted(client: FlaskClient, rasa: RasaStandIn, db: str) -> None:
    csrf = login(client, "boss")  # may see contact data: may address an SMS conversation by its id
    assert agent_desk.conversation_url(SMS_CONVERSATION, "reply") == "/agent/conversations/sms-%2B447700900123/reply"
    assert reply(client, SMS_CONVERSATION, "Hi, this is Ana", csrf).status_code == 200
    assert rasa.requests[0]["path"] == "/conversations/sms-%2B447700900123/tracker/events"
    assert ticket(db, SMS_CONVERSATION).status == "in_progress"


def test_an_agent_answers_an_sms_conversation_by_its_ticket(client: FlaskClient, rasa: RasaStandIn,
                                                            db: str) -> None:
    """The number in an SMS conversation id is contact data: an agent without contact rights
    addresses the conversation by its ticket number, never by the id."""
    csrf = login(client, "ag")
    by_id = reply(client, SMS_CONVERSATION, "Hi, this is Ana", csrf)
    assert by_id.status_code == 404 and not rasa.requests
    by_ticket = client.post(agent_desk.ticket_url(ticket(db, SMS_CONVERSATION).id, "reply"), json={"text": "Hi"},
                            headers={**JSON_ACCEPT, "X-CSRFToken": csrf})
    assert by_ticket.status_code == 200, by_ticket.get_data(as_text=True)
    assert "447700900123" not in by_ticket.get_data(as_text=True)
    assert rasa.requests[0]["path"] == "/conversations/sms-%2B447700900123/tracker/events"
    assert ticket(db, SMS_CONVERSATION).status == "in_progress"
    unknown = client.post(agent_desk.ticket_url(999999, "reply"), json={"text": "Hi"},
                          headers={**JSON_ACCEPT, "X-CSRFToken": csrf})
    assert unknown.status_code == 400 and len(rasa.requests) == 1


def test_browser_forms_go_back_to_the_queue(client: FlaskClient, rasa: RasaStandIn, db: str) -> None:
    csrf = login(client, "ag")
    sent = client.post("/agent/conversations/conv-waiting/reply", data={"text": "Hola", "csrf_token": csrf},
                       headers={"Accept": BROWSER_ACCEPT})
    assert sent.status_code == 303 and sent.headers["Location"] == "/queue"
    empty = client.post("/agent/conversations/conv-waiting/reply", data={"text": " ", "csrf_token": csrf},
                        headers={"Accept": BROWSER_ACCEPT})
    assert empty.status_code == 400 and empty.mimetype == "text/html"
    assert "The reply is empty." in empty.get_data(as_text=True) and 'href="/queue"' in empty.get_data(as_text=True)
    back = client.post("/agent/conversations/conv-waiting/resume", data={"csrf_token": csrf},
                       headers={"Accept": BROWSER_ACCEPT})
    assert back.status_code == 303 and back.headers["Location"] == "/queue"
    assert [r["events"][0]["event"] for r in rasa.requests] == ["bot", "resume"]
    assert ticket(db, "conv-waiting").status == "resolved"


# ---------------------------------------------------------------------------- Rasa or the database down: no 500


def test_rasa_unreachable_502(client: FlaskClient, db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    [closed] = free_ports(1)  # nothing listens there
    monkeypatch.setenv("RASA_API_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("RASA_API_TOKEN", TOKEN)
    csrf = login(client, "ag")
    for response in (reply(client, "conv-waiting", "hola", csrf), resume(client, "conv-waiting", csrf)):
        assert response.status_code == 502
        error = response.get_json()["error"]
        assert error.startswith("Not delivered") and "not reachable" in error and f"127.0.0.1:{closed}" in error
    browser = client.post("/agent/conversations/conv-waiting/reply", data={"text": "hola", "csrf_token": csrf},
                          headers={"Accept": BROWSER_ACCEPT})
    assert browser.status_code == 502 and "not reachable" in browser.get_data(as_text=True)
    stored = ticket(db, "conv-waiting")
    assert stored.status == "waiting" and stored.assigned_to is None


@pytest.mark.parametrize("status", [401, 403, 500])
def test_rasa_refusal_502(client: FlaskClient, rasa: RasaStandIn, db: str, status: int) -> None:
    rasa.status = status  # e.g. a wrong token
    csrf = login(client, "ag")
    response = reply(client, "conv-waiting", "hola", csrf)
    assert response.status_code == 502 and f"refused the request ({status})" in response.get_json()["error"]
    assert resume(client, "conv-waiting", csrf).status_code == 502
    assert ticket(db, "conv-waiting").status == "waiting"


def test_database_down_503(client: FlaskClient, rasa: RasaStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    csrf = login(client, "ag")

    def locked(*_: Any) -> Any:
        raise OperationalError("select ... from handoff_tickets", {}, Exception("database is locked"))

    monkeypatch.setattr(agent_desk, "_open_ticket", locked)
    response = reply(client, "conv-waiting", "hola", csrf)
    assert response.status_code == 503 and "database" in response.get_json()["error"]
    assert resume(client, "conv-waiting", csrf).status_code == 503
    assert rasa.requests == []


# ---------------------------------------------------------------------------- the controls on the queue page


def queue_page(app: Any, client: FlaskClient, csrf: str) -> str:
    spec = app.callback_map["page.children"]
    values = {"url.pathname": "/queue"}
    items = [{"id": d["id"], "property": d["property"], "value": values.get(f"{d['id']}.{d['property']}")}
             for d in spec["inputs"]]
    body = {"output": "page.children", "outputs": {"id": "page", "property": "children"}, "inputs": items,
            "state": [], "changedPropIds": ["url.pathname"]}
    response = client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": csrf})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_queue_page_has_reply_and_hand_back_controls(app: Any, client: FlaskClient, db: str) -> None:
    csrf = login(client, "ag")
    page = queue_page(app, client, csrf)
    desk = json.loads(page)["response"]["page"]["children"]
    text = json.dumps(desk, ensure_ascii=False)
    assert '"agent-desk"' in text and "Talk to the customer" in text
    ids = {t: ticket(db, t).id for t in ("conv-waiting", "conv-progress", "conv-callback", "conv-resolved",
                                         SMS_CONVERSATION)}
    for conversation_id in ("conv-waiting", "conv-progress", SMS_CONVERSATION):
        key = ids[conversation_id]
        assert f'"agent-reply-{key}"' in text and f'"agent-handback-{key}"' in text
        assert f'"action": "{agent_desk.ticket_url(key, "reply")}"' in text
        assert f'"action": "{agent_desk.ticket_url(key, "resume")}"' in text
    for conversation_id in ("conv-callback", "conv-resolved"):  # nobody is talking there
        assert f'"agent-reply-{ids[conversation_id]}"' not in text
    assert "Send" in text and "Hand back to the assistant" in text
    assert text.count(f'"value": "{csrf}"') == 2 * 3  # each form carries the session's CSRF token
    assert '"name": "csrf_token"' in text and '"name": "text"' in text and '"method": "post"' in text
    # the agent may not see contact data: the SMS conversation's number is masked in the label
    assert "conversation sms-\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022\u2022123" in text
    assert "conversation sms-+447700900123" not in text


def test_queue_page_unmasked_for_contact_role(app: Any, client: FlaskClient) -> None:
    csrf = login(client, "boss")
    assert "conversation sms-+447700900123" in queue_page(app, client, csrf)
