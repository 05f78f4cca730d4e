"""Access control of the analytics dashboard (analytics/app.py), through Flask's test client.

Nothing is reachable without a login: pages redirect to /login, Dash's routes (layout,
dependencies, callbacks, bundles) and the CSV exports answer 401. Wrong passwords are refused,
sessions expire after 8 hours, contact data is masked unless the user may see it, and agents only
get the handoff queue.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from analytics import app as dashboard
from analytics import demo_rows, users
from analytics.config import CSRF_COOKIE, SESSION_COOKIE
from analytics.exports import DASHBOARD_EXPORTS, OTHER_EXPORTS
from analytics.guards import PUBLIC_PATHS
from analytics.login import LOCK_SECONDS, MAX_FAILURES
from analytics.session import AGENT_HOME
from bot.storage.db import session_factory
from bot.storage.models import DashboardUser, RetentionCase
from tests.support.db_fixtures import make_database

PASSWORD = "correct horse battery"
PHONE = re.compile(r"\+447700900\d{3}")
EMAIL = re.compile(r"[a-z.]+\.\d+@example\.com")
API_PREFIXES = ("/_dash-", "/_reload-hash", "/_favicon", "/export/", "/assets/", "/agent/")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    directory: Path = tmp_path_factory.mktemp("dash")
    url = make_database(directory, customers=40)
    tracker_url = f"sqlite:///{directory / 'tracker.db'}"
    tracker = demo_rows.writable_tracker(tracker_url)
    with session_factory(url)() as s:
        demo_rows.generate(s, 300, end=date(2026, 11, 1), tracker=tracker)
        users.create_user(s, "sup", PASSWORD, "supervisor")
        users.create_user(s, "boss", PASSWORD, "admin", can_see_contact=True)
        users.create_user(s, "ag", PASSWORD, "agent")
        s.commit()
    tracker.dispose()
    return url, tracker_url


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def app(db: tuple[str, str], clock: Clock) -> Any:
    return dashboard.create_app(db[0], db[1], secret="test-secret", hours=8, clock=clock, cookie_secure=False)


@pytest.fixture()
def client(app: Any) -> Iterator[FlaskClient]:
    with app.server.test_client() as c:
        yield c


def login(client: FlaskClient, username: str, password: str = PASSWORD, next_: str = "/") -> Any:
    page = client.get(f"/login?next={next_}")
    assert page.status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    return client.post("/login", data={"username": username, "password": password, "csrf": token, "next": next_})


def csrf(client: FlaskClient) -> str:
    cookie = client.get_cookie(CSRF_COOKIE)
    assert cookie is not None
    return cookie.value


def log_out(client: FlaskClient) -> Any:
    """What the dashboard's "Log out" button does: a POST with the session's CSRF token."""
    return client.post("/logout", data={"csrf": csrf(client)})


def callback_body(app: Any, output: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The request Dash's renderer sends for one callback."""
    spec = app.callback_map[output]
    values = values or {}

    def item(dep: dict[str, str]) -> dict[str, Any]:
        key = f"{dep['id']}.{dep['property']}"
        return {"id": dep["id"], "property": dep["property"], "value": values.get(key)}

    out_id, out_prop = output.rsplit(".", 1)
    return {"output": output, "outputs": {"id": out_id, "property": out_prop},
            "inputs": [item(d) for d in spec["inputs"]], "state": [item(d) for d in spec["state"]],
            "changedPropIds": [f"{d['id']}.{d['property']}" for d in spec["inputs"]]}


def run_callback(client: FlaskClient, app: Any, output: str, values: dict[str, Any] | None = None,
                 token: str | None = None) -> Any:
    headers = {"X-CSRFToken": token} if token is not None else {}
    return client.post("/_dash-update-component", json=callback_body(app, output, values), headers=headers)


PAGE_VALUES = {"f-dates.start_date": "2026-01-01", "f-dates.end_date": "2026-11-01"}


def page_values(path: str) -> dict[str, Any]:
    return {"url.pathname": path, **PAGE_VALUES}


# ---------------------------------------------------------------------------- nothing without login


def _concrete(rule: str) -> str:
    return (rule.replace("<string:package_name>", "dash").replace("<path:fingerprinted_path>", "dash_renderer.min.js")
            .replace("<path:filename>", "x.css").replace("<path:path>", "conversations").replace("<name>", "kpis")
            .replace("<int:ticket_id>", "1"))


def test_every_route_requires_login(app: Any, client: FlaskClient) -> None:
    rules = [r for r in app.server.url_map.iter_rules() if r.rule not in PUBLIC_PATHS]
    assert {r.rule for r in rules} >= {"/", "/<path:path>", "/_dash-layout", "/_dash-dependencies",
                                       "/_dash-update-component", "/export/<name>.csv"}
    for rule in rules:
        path = _concrete(rule.rule)
        response = client.post(path, json={}) if "GET" not in rule.methods else client.get(path)
        if path.startswith(API_PREFIXES):
            assert response.status_code == 401, path
        else:
            assert response.status_code == 302, path
            assert response.headers["Location"].startswith("/login?next="), path
        assert b"kpi" not in response.data and b"C000" not in response.data


def test_pages_redirect_to_login(client: FlaskClient) -> None:
    for path in ("/", "/reasons", "/conversations", "/plans", "/queue", "/no-such-page"):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"] == f"/login?next=%2F{path[1:]}"


def test_every_callback_and_export_requires_login(app: Any, client: FlaskClient) -> None:
    assert set(app.callback_map) == {"page.children", "queue-body.children", "conv-detail.children"}
    for output in app.callback_map:
        assert run_callback(client, app, output, page_values("/"), token="x").status_code == 401
    for name in sorted(DASHBOARD_EXPORTS | OTHER_EXPORTS):
        response = client.get(f"/export/{name}.csv?since=2026-01-01")
        assert response.status_code == 401, name
        assert response.mimetype == "text/plain"
    assert client.get("/_dash-layout").status_code == 401
    assert client.get("/_dash-dependencies").status_code == 401


def test_public_routes_show_no_data(client: FlaskClient) -> None:
    assert client.get("/healthz").data == b"ok\n"
    page = client.get("/login")
    assert page.status_code == 200 and b"password" in page.data and b"C000" not in page.data


# ---------------------------------------------------------------------------- logging in


def test_wrong_password_is_rejected(client: FlaskClient) -> None:
    response = login(client, "sup", "wrong password!")
    assert response.status_code == 401
    assert b"Wrong user name or password" in response.data
    assert client.get("/").status_code == 302
    assert login(client, "nobody", PASSWORD).status_code == 401
    assert client.get("/_dash-layout").status_code == 401


def test_login_form_needs_its_csrf_token(client: FlaskClient) -> None:
    client.get("/login")
    response = client.post("/login", data={"username": "sup", "password": PASSWORD, "csrf": "forged"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_login_opens_the_dashboard(app: Any, client: FlaskClient) -> None:
    response = login(client, "sup", next_="/reasons")
    assert response.status_code == 302 and response.headers["Location"] == "/reasons"
    cookies = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith(SESSION_COOKIE))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie and "Expires=" in session_cookie
    assert any(c.startswith(CSRF_COOKIE) for c in cookies)
    for path in ("/", "/reasons", "/conversations", "/plans", "/queue", "/_dash-layout", "/_dash-dependencies"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["Cache-Control"] == "no-store"
    overview = run_callback(client, app, "page.children", page_values("/"), token=csrf(client))
    assert overview.status_code == 200
    text = overview.get_data(as_text=True)
    for kpi in ("requests", "hot_save_rate", "really_saved", "cold_win_back_rate", "revenue_kept", "return",
                "handoff_rate", "waiting_tickets", "nlu_fallback_rate", "holdout_lift"):
        assert f"kpi-{kpi}" in text
    assert "chart-weekly" in text and "export-kpis" in text
    export = client.get("/export/reasons.csv?since=2026-01-01&until=2026-11-01")
    assert export.status_code == 200 and export.mimetype == "text/csv"
    assert export.get_data(as_text=True).lstrip("\ufeff").startswith("Reason,Requests")
    assert client.get("/export/reasons.csv?reason=boredom").status_code == 400
    assert client.get("/export/nothing.csv").status_code == 404
    # probe finding: a far-future end date overflowed the day after it (a 500)
    for name in ("kpis", "verbatims", "conversations"):
        assert client.get(f"/export/{name}.csv?until=9999-12-31").status_code == 400, name
    far = run_callback(client, app, "page.children", {**page_values("/"), "f-dates.end_date": "9999-12-31"},
                       token=csrf(client))
    assert far.status_code == 200 and "Check the filters" in far.get_data(as_text=True)


def test_callbacks_need_the_csrf_header(app: Any, client: FlaskClient) -> None:
    login(client, "sup")
    assert run_callback(client, app, "page.children", page_values("/")).status_code == 403
    assert run_callback(client, app, "page.children", page_values("/"), token="forged").status_code == 403
    assert run_callback(client, app, "page.children", page_values("/"), token=csrf(client)).status_code == 200


def test_open_redirects_are_refused(client: FlaskClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "\\\\evil"):
        response = login(client, "sup", next_=target)
        assert response.headers["Location"] == "/"
        log_out(client)


def test_logout(client: FlaskClient) -> None:
    login(client, "sup")
    assert client.get("/").status_code == 200
    # a link (or an <img> on another site) does not log anyone out: a GET asks to confirm
    confirm = client.get("/logout")
    assert confirm.status_code == 200 and 'id="logout-confirm"' in confirm.get_data(as_text=True)
    assert client.post("/logout").status_code == 400  # a cross-site form without the token
    assert client.post("/logout", data={"csrf": "guess"}).status_code == 400
    assert client.get("/export/kpis.csv").status_code == 200  # still logged in
    assert log_out(client).headers["Location"] == "/login"
    assert client.get("/").status_code == 302
    assert client.get("/_dash-layout").status_code == 401


def test_repeated_failures_lock_the_login(client: FlaskClient, clock: Clock) -> None:
    for _ in range(MAX_FAILURES):
        assert login(client, "boss", "not the password").status_code == 401
    assert login(client, "boss").status_code == 429  # even the right password, for a while
    clock.now += LOCK_SECONDS + 1
    assert login(client, "boss").status_code == 302


# ---------------------------------------------------------------------------- sessions end


def test_session_expires_after_eight_hours(app: Any, client: FlaskClient, clock: Clock) -> None:
    login(client, "sup")
    token = csrf(client)
    clock.now += 8 * 3600 - 60
    assert client.get("/").status_code == 200
    assert run_callback(client, app, "page.children", page_values("/"), token=token).status_code == 200
    clock.now += 61
    assert client.get("/").status_code == 302
    assert client.get("/_dash-layout").status_code == 401
    assert run_callback(client, app, "page.children", page_values("/"), token=token).status_code == 401
    assert client.get("/export/kpis.csv").status_code == 401


def test_new_password_or_deleted_user_ends_the_session(db: tuple[str, str], app: Any, clock: Clock) -> None:
    with session_factory(db[0])() as s:
        users.create_user(s, "temp", PASSWORD, "supervisor")
        s.commit()
    with app.server.test_client() as a, app.server.test_client() as b:
        login(a, "temp")
        assert a.get("/").status_code == 200
        with session_factory(db[0])() as s:
            users.set_password(s, "temp", "another long password")
            s.commit()
        assert a.get("/").status_code == 302
        login(b, "temp", "another long password")
        assert b.get("/").status_code == 200
        with session_factory(db[0])() as s:
            users.delete_user(s, "temp")
            s.commit()
        assert b.get("/_dash-layout").status_code == 401


# ---------------------------------------------------------------------------- masking by role


def test_contact_data_masked_unless_allowed(app: Any, db: tuple[str, str]) -> None:
    exports = ("conversations", "plans", "queue")
    with app.server.test_client() as sup:
        login(sup, "sup")
        for name in exports:
            text = sup.get(f"/export/{name}.csv?since=2025-01-01").get_data(as_text=True)
            assert not PHONE.search(text) and not EMAIL.search(text), name
            assert "•••" in text, name
        page = run_callback(sup, app, "page.children", page_values("/conversations"), token=csrf(sup))
        text = page.get_data(as_text=True)
        assert "C000" in text and not PHONE.search(text) and not EMAIL.search(text)
        with session_factory(db[0])() as s:
            case_id = s.scalar(select(func.max(RetentionCase.id)))
        detail = run_callback(sup, app, "conv-detail.children", {"conv-table.active_cell": {"row_id": case_id}},
                              token=csrf(sup))
        assert detail.status_code == 200
        assert "Conversation demo-" in detail.get_data(as_text=True)
        assert not PHONE.search(detail.get_data(as_text=True)) and not EMAIL.search(detail.get_data(as_text=True))
    with app.server.test_client() as boss:
        login(boss, "boss")
        for name in exports:
            text = boss.get(f"/export/{name}.csv?since=2025-01-01").get_data(as_text=True)
            assert PHONE.search(text) and EMAIL.search(text), name


# ---------------------------------------------------------------------------- agents


def test_agent_sees_only_the_handoff_queue(app: Any, client: FlaskClient) -> None:
    response = login(client, "ag", next_="/conversations")
    assert response.headers["Location"] == AGENT_HOME
    for path in ("/", "/reasons", "/conversations", "/plans"):
        page = client.get(path)
        assert page.status_code == 302 and page.headers["Location"] == "/queue", path
    assert client.get("/queue").status_code == 200
    layout = client.get("/_dash-layout").get_data(as_text=True)
    assert "nav-queue" in layout and "nav-conversations" not in layout and "nav-overview" not in layout
    token = csrf(client)
    for path in ("/", "/conversations", "/plans"):
        page = run_callback(client, app, "page.children", page_values(path), token=token)
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "Handoff queue" in text and "kpi-" not in text and "conv-table" not in text
        assert not PHONE.search(text) and not EMAIL.search(text)
    assert run_callback(client, app, "queue-body.children", {"queue-tick.n_intervals": 1},
                        token=token).status_code == 200
    forbidden = run_callback(client, app, "conv-detail.children", {"conv-table.active_cell": {"row_id": 1}},
                             token=token)
    assert forbidden.status_code == 403
    # Dash dispatches on "output": declaring an allowed output does not unlock another callback.
    body = callback_body(app, "conv-detail.children", {"conv-table.active_cell": {"row_id": 1}})
    body["outputs"] = {"id": "page", "property": "children"}
    assert client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": token}).status_code == 403
    for name in sorted(DASHBOARD_EXPORTS | OTHER_EXPORTS - {"queue"}):
        assert client.get(f"/export/{name}.csv").status_code == 403, name
    queue = client.get("/export/queue.csv")
    assert queue.status_code == 200 and not PHONE.search(queue.get_data(as_text=True))


def test_users_cli(db: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setenv("DATABASE_URL", db[0])
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert users.main(["create", "cli-user", "--role", "agent", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert users.main(["create", "cli-user2", "--password-stdin"]) == 2
    assert users.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "cli-user" in out and "agent" in out and "cli-user2" not in out
    with session_factory(db[0])() as s:
        stored = s.scalar(select(DashboardUser.password_hash).where(DashboardUser.username == "cli-user"))
    assert stored and "a long enough password" not in stored and stored.startswith(("scrypt:", "pbkdf2:"))
    assert users.main(["delete", "cli-user"]) == 0
    assert users.main(["delete", "cli-user"]) == 2


def test_ticket_transcript_link_opens_the_conversation(app: Any, client: FlaskClient, db: tuple[str, str]) -> None:
    """The link in every handoff ticket (/conversations/<id>) shows what was said, to agents too."""
    from analytics import demo_rows
    from bot.core.handoff import open_ticket
    from bot.storage.models import HandoffTicket

    tracker = demo_rows.writable_tracker(db[1])
    demo_rows.write_events(tracker, [
        ("sms-transcript-1", "user", 1764000000.0, "cancel", None,
         '{"text": "quiero darme de baja, llamadme al +447700900123"}'),
        ("sms-transcript-1", "bot", 1764000001.0, None, None, '{"text": "Siento que estés pensando en dejarnos."}'),
        ("rest-no-ticket", "user", 1764000002.0, "cancel", None, '{"text": "soy Lucía, cancela lo mío"}')])
    tracker.dispose()
    with session_factory(db[0])() as s:
        open_ticket(s, conversation_id="sms-transcript-1", trigger="asked", channel="sms", language="es",
                    verbatim="quiero darme de baja", customer_id=None, case=None)
        s.commit()
        ticket = s.scalars(select(HandoffTicket)).first()
        link = ticket.summary.get("transcript") if ticket is not None else None
    if link:  # the demo tickets link to their own conversation path
        assert "/conversations/" in link
    login(client, "ag")
    page = client.get("/conversations/sms-transcript-1")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "quiero darme de baja" in body and "Siento que est" in body
    assert "+447700900123" not in body  # an agent without contact rights sees the number masked
    assert client.get("/conversations/nobody-here").status_code == 404
    # a conversation no one handed to a person is not an agent's to read (found by the second probe)
    assert client.get("/conversations/rest-no-ticket").status_code == 404
    log_out(client)
    assert client.get("/conversations/sms-transcript-1").status_code in (302, 401)


def test_demo_action_plan_links_differ_between_installs(tmp_path: Any) -> None:
    """A plan link is a secret: the demo data's plans get fresh tokens on every install (the
    second probe found them identical everywhere, from the fixed seed)."""
    from analytics import demo_rows
    from bot.storage.models import ActionPlan
    from tests.support.db_fixtures import make_database

    tokens = []
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        url = make_database(folder)
        with session_factory(url)() as s:
            demo_rows.generate(s, cases=300)
            s.commit()
            tokens.append(set(s.scalars(select(ActionPlan.token)).all()))
    assert tokens[0] and tokens[1] and not tokens[0] & tokens[1]
