"""Findings of the dashboard's security probe (analytics/app.py), each replayed as an attack.

1. Password spraying: failed logins are throttled per client address (10 per 5 minutes) and per user
   name (5 per 15 minutes) with a 429, a clear message and ``Retry-After``; the lock ends on its own.
2. Open redirect after login: ``next`` only ever leads to a path on this site.
3. Logout ends the session on the server: a copied cookie stops working on every route.
4. Malformed Dash callback bodies get a short 4xx, never a 500 or a traceback.

The fixtures and helpers are those of tests/analytics/test_analytics_app.py (Flask's test client, a fake clock).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from analytics import app as dashboard
from analytics.config import SESSION_COOKIE
from tests.analytics import test_analytics_app as shared
from tests.analytics.test_analytics_app import PASSWORD, Clock, callback_body, csrf, log_out, login, page_values

# The fixtures of tests/analytics/test_analytics_app.py, bound here so that pytest finds them in this module.
db = shared.db
clock = shared.clock
app = shared.app
client = shared.client

CLIENT_LIMIT, CLIENT_WINDOW = 10, 5 * 60
USER_LIMIT, USER_WINDOW = 5, 15 * 60
MAX_ERROR_BODY = 300


def _login_token(browser: FlaskClient) -> str:
    page = browser.get("/login")
    return re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]


def _post_login(browser: FlaskClient, token: str, username: str, password: str) -> Any:
    return browser.post("/login", data={"username": username, "password": password, "csrf": token, "next": "/"})


def _browser(app: Any, address: str = "127.0.0.1") -> FlaskClient:
    """A separate browser at ``address`` (not a ``with`` block: those cannot interleave requests)."""
    browser = app.server.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def _assert_throttled(response: Any, window: int) -> None:
    assert response.status_code == 429
    assert "Too many failed login attempts" in response.get_data(as_text=True)
    assert 0 < int(response.headers["Retry-After"]) <= window


# ---------------------------------------------------------------------------- 1. password spraying


def test_spraying_usernames_from_one_client_is_throttled(app: Any, clock: Clock) -> None:
    """The probe: 200 wrong logins, each for another user name, from one address."""
    attacker = _browser(app, "203.0.113.7")
    token = _login_token(attacker)
    statuses: list[int] = []
    for i in range(200):
        response = _post_login(attacker, token, f"sprayed{i}", "Winter2026!")
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    assert statuses == [401] * CLIENT_LIMIT + [429]
    _assert_throttled(response, CLIENT_WINDOW)
    # A real user behind that address is refused too, even with the right password...
    _assert_throttled(_post_login(attacker, token, "sup", PASSWORD), CLIENT_WINDOW)
    elsewhere = _browser(app, "198.51.100.20")  # ...but not from another address.
    assert _post_login(elsewhere, _login_token(elsewhere), "sup", PASSWORD).status_code == 302
    clock.now += CLIENT_WINDOW - 5
    assert _post_login(attacker, token, "sup", PASSWORD).status_code == 429
    clock.now += 6
    assert _post_login(attacker, token, "sup", PASSWORD).status_code == 302
    assert attacker.get("/").status_code == 200


def _behind(browser: FlaskClient, forwarded_for: str) -> FlaskClient:
    browser.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return browser


def test_a_clients_own_forwarded_for_does_not_escape_the_throttle(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without TRUSTED_PROXIES a client naming another address in each request is still one source."""
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    attacker = _browser(app, "203.0.113.8")
    token = _login_token(attacker)
    statuses = [_post_login(_behind(attacker, f"198.51.100.{i}"), token, f"sprayed{i}", "x").status_code
                for i in range(CLIENT_LIMIT + 1)]
    assert statuses == [401] * CLIENT_LIMIT + [429]


def test_behind_a_trusted_proxy_one_attacker_does_not_lock_everyone_out(app: Any,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request comes from the proxy (127.0.0.1); it names each client in X-Forwarded-For."""
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    attacker = _behind(_browser(app, "127.0.0.1"), "203.0.113.9")
    token = _login_token(attacker)
    statuses = [_post_login(attacker, token, f"sprayed{i}", "x").status_code for i in range(CLIENT_LIMIT + 1)]
    assert statuses == [401] * CLIENT_LIMIT + [429]
    colleague = _behind(_browser(app, "127.0.0.1"), "198.51.100.40")  # through the same proxy
    assert _post_login(colleague, _login_token(colleague), "sup", PASSWORD).status_code == 302
    # the attacker's own header cannot make it someone else: the proxy's entry is the rightmost
    _behind(attacker, "198.51.100.41, 203.0.113.9")
    assert _post_login(attacker, token, "sup", PASSWORD).status_code == 429


@pytest.mark.parametrize("garbage", ["not-an-ip", ",,,", "[::1", "1.2.3.4, nonsense", "9" * 4000])
def test_a_malformed_forwarded_for_is_no_500(app: Any, monkeypatch: pytest.MonkeyPatch, garbage: str) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    browser = _behind(_browser(app, "127.0.0.1"), garbage)
    assert _post_login(browser, _login_token(browser), "nobody", "wrong").status_code == 401


def test_guessing_one_user_from_many_addresses_is_throttled(app: Any, clock: Clock) -> None:
    """Five wrong passwords for one user, each from another address, lock that user for 15 minutes."""
    for i in range(USER_LIMIT):
        attacker = _browser(app, f"203.0.113.{10 + i}")
        assert _post_login(attacker, _login_token(attacker), "Boss", f"guess number {i}").status_code == 401
    owner = _browser(app, "198.51.100.30")
    token = _login_token(owner)
    _assert_throttled(_post_login(owner, token, "boss", PASSWORD), USER_WINDOW)
    clock.now += 10 * 60
    _assert_throttled(_post_login(owner, token, "boss", PASSWORD), USER_WINDOW)
    clock.now += 5 * 60 + 1
    assert _post_login(owner, token, "boss", PASSWORD).status_code == 302  # the lock-out is over
    assert owner.get("/").status_code == 200


def test_a_good_login_clears_the_user_count_not_the_client_count(app: Any) -> None:
    """Logging into one's own account between guesses does not buy an attacker more guesses."""
    attacker = _browser(app, "203.0.113.50")
    token = _login_token(attacker)
    statuses = []
    for i in range(CLIENT_LIMIT + 1):
        if i % 4 == 3:
            login(attacker, "ag")
            token = _login_token(attacker)
        statuses.append(_post_login(attacker, token, f"victim{i}", "Summer2026!").status_code)
    assert 429 in statuses


# ---------------------------------------------------------------------------- 2. open redirect


EVIL_TARGETS = [
    "/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/ /evil.example", "/\x00/evil.example",
    "/\x0b/evil.example", "/\u3000/evil.example", "/\u200b/evil.example", "/%09/evil.example",
    "/%2F/evil.example", "/%5Cevil.example", "/\\evil.example", "//evil.example", "///evil.example",
    "https://evil.example/", "javascript:alert(1)", "evil.example",
]


def test_the_probed_open_redirect_is_closed(client: FlaskClient) -> None:
    """``/login?next=/%09/evil.example``: the form carries the target, the login must not follow it."""
    page = client.get("/login?next=/%09/evil.example")
    carried = html.unescape(re.search(r'name="next" value="([^"]*)"', page.get_data(as_text=True)).group(1))  # type: ignore[union-attr]
    token = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": "sup", "password": PASSWORD, "csrf": token,
                                           "next": carried})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", EVIL_TARGETS, ids=[repr(t) for t in EVIL_TARGETS])
def test_login_never_redirects_off_site(client: FlaskClient, target: str) -> None:
    page = client.get("/login", query_string={"next": target})
    assert "evil" not in html.unescape(page.get_data(as_text=True))
    response = login(client, "sup", next_=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("target", ["/reasons", "/conversations/sms-1", "/plans?since=2026-01-01&until=2026-02-01"])
def test_login_still_returns_to_a_local_page(client: FlaskClient, target: str) -> None:
    response = login(client, "sup", next_=target)
    assert response.headers["Location"] == target


# ---------------------------------------------------------------------------- 3. logout ends the session


def _copy_session(source: FlaskClient, target: FlaskClient) -> None:
    cookie = source.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    target.set_cookie(SESSION_COOKIE, cookie.value)


def test_a_copied_cookie_stops_working_after_logout(app: Any, client: FlaskClient) -> None:
    login(client, "sup")
    token = csrf(client)
    body = callback_body(app, "page.children", page_values("/"))
    thief = _browser(app, "203.0.113.66")
    _copy_session(client, thief)
    assert thief.get("/export/kpis.csv").status_code == 200  # the copy works while the session is open
    assert thief.post("/_dash-update-component", json=body, headers={"X-CSRFToken": token}).status_code == 200
    log_out(client)
    assert thief.get("/export/kpis.csv").status_code == 401
    assert thief.get("/export/conversations.csv").status_code == 401
    assert thief.post("/_dash-update-component", json=body, headers={"X-CSRFToken": token}).status_code == 401
    assert thief.get("/_dash-layout").status_code == 401
    assert thief.get("/").status_code == 302
    assert thief.post("/agent/conversations/any/resume", headers={"X-CSRFToken": token,
                                                                  "Accept": "application/json"}).status_code == 401
    assert client.get("/").status_code == 302
    assert login(client, "sup").status_code == 302  # logging in again opens a new session
    assert client.get("/export/kpis.csv").status_code == 200


def test_logging_in_again_ends_the_previous_session_of_that_browser(app: Any, client: FlaskClient) -> None:
    login(client, "sup")
    thief = _browser(app, "203.0.113.66")
    _copy_session(client, thief)
    assert thief.get("/export/kpis.csv").status_code == 200
    login(client, "sup")
    assert thief.get("/export/kpis.csv").status_code == 401
    assert client.get("/export/kpis.csv").status_code == 200


def test_a_cookie_signed_by_an_earlier_process_is_refused(db: tuple[str, str], app: Any,
                                                          client: FlaskClient, clock: Clock) -> None:
    """Sessions live in the process that opened them: a restart cannot bring a revoked cookie back."""
    login(client, "sup")
    log_out(client)
    restarted = dashboard.create_app(db[0], db[1], secret="test-secret", hours=8, clock=clock, cookie_secure=False)
    before, after = _browser(app), _browser(restarted)
    login(before, "sup")
    assert before.get("/export/kpis.csv").status_code == 200
    _copy_session(before, after)
    assert after.get("/export/kpis.csv").status_code == 401


# ---------------------------------------------------------------------------- 4. malformed callback bodies


def _page_body(**changes: Any) -> dict[str, Any]:
    body = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
            "inputs": [{"id": "url", "property": "pathname", "value": "/"},
                       {"id": "f-dates", "property": "start_date", "value": "2026-01-01"},
                       {"id": "f-dates", "property": "end_date", "value": "2026-11-01"},
                       {"id": "f-channel", "property": "value", "value": None},
                       {"id": "f-language", "property": "value", "value": None},
                       {"id": "f-reason", "property": "value", "value": None},
                       {"id": "f-segment", "property": "value", "value": None}],
            "changedPropIds": ["url.pathname"]}
    body.update(changes)
    return body


def _with_value(index: int, value: Any) -> dict[str, Any]:
    body = _page_body()
    body["inputs"][index] = {**body["inputs"][index], "value": value}
    return body


def _cell(value: Any) -> dict[str, Any]:
    return {"output": "conv-detail.children", "outputs": {"id": "conv-detail", "property": "children"},
            "inputs": [{"id": "conv-table", "property": "active_cell", "value": value}], "changedPropIds": []}


def _queue(tick: Any, channel: Any = None) -> dict[str, Any]:
    return {"output": "queue-body.children", "outputs": {"id": "queue-body", "property": "children"},
            "inputs": [{"id": "queue-tick", "property": "n_intervals", "value": tick}],
            "state": [{"id": "f-channel", "property": "value", "value": channel},
                      {"id": "f-language", "property": "value", "value": None}]}


def _raw(data: str | bytes, mimetype: str = "application/json") -> dict[str, Any]:
    return {"data": data, "content_type": mimetype}


MALFORMED: dict[str, dict[str, Any]] = {
    "not json": _raw("{not json"),
    "truncated json": _raw(json.dumps(_page_body())[:-7]),
    "deeply nested json": _raw("[" * 100_000 + "]" * 100_000),
    "json null": _raw("null"),
    "json list": _raw("[1, 2, 3]"),
    "json string": _raw('"page.children"'),
    "empty object": _raw("{}"),
    "not json content type": _raw(json.dumps(_page_body()), "text/plain"),
    "form body": _raw("output=page.children", "application/x-www-form-urlencoded"),
    "unknown output": _raw(json.dumps(_page_body(output="nothing.children"))),
    "output not a string": _raw(json.dumps(_page_body(output=["page.children"]))),
    "outputs missing": _raw(json.dumps({k: v for k, v in _page_body().items() if k != "outputs"})),
    "outputs of another callback": _raw(json.dumps(_page_body(outputs={"id": "queue-body", "property": "children"}))),
    "outputs a string": _raw(json.dumps(_page_body(outputs="page.children"))),
    "inputs missing": _raw(json.dumps({k: v for k, v in _page_body().items() if k != "inputs"})),
    "inputs not a list": _raw(json.dumps(_page_body(inputs={"url.pathname": "/"}))),
    "inputs too few": _raw(json.dumps(_page_body(inputs=_page_body()["inputs"][:2]))),
    "inputs of numbers": _raw(json.dumps(_page_body(inputs=[1, 2, 3, 4, 5, 6, 7]))),
    "input of another component": _raw(json.dumps(_page_body(inputs=[{"id": "f-reason", "property": "value"},
                                                                      *_page_body()["inputs"][1:]]))),
    "pathname a list": _raw(json.dumps(_with_value(0, ["/"]))),
    "pathname an object": _raw(json.dumps(_with_value(0, {"a": 1}))),
    "date a number": _raw(json.dumps(_with_value(1, 20260101))),
    "dropdown of objects": _raw(json.dumps(_with_value(3, [{"$ne": None}]))),
    "dropdown a number": _raw(json.dumps(_with_value(5, 7))),
    "changedPropIds a string": _raw(json.dumps(_page_body(changedPropIds="url.pathname"))),
    "active_cell a string": _raw(json.dumps(_cell("row 1"))),
    "active_cell a list": _raw(json.dumps(_cell([1, 2]))),
    "n_intervals a string": _raw(json.dumps(_queue("soon"))),
    "state missing": _raw(json.dumps({k: v for k, v in _queue(1).items() if k != "state"})),
}


def _assert_short_error(response: Any) -> None:
    text = response.get_data(as_text=True)
    assert 400 <= response.status_code < 500, (response.status_code, text[:200])
    assert len(text) <= MAX_ERROR_BODY and "Traceback" not in text and "File \"" not in text
    assert response.mimetype in ("application/json", "text/plain")


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_callback_bodies_get_a_short_4xx(app: Any, client: FlaskClient, name: str) -> None:
    login(client, "sup")
    response = client.post("/_dash-update-component", headers={"X-CSRFToken": csrf(client)}, **MALFORMED[name])
    _assert_short_error(response)
    if response.mimetype == "application/json":
        assert isinstance(response.get_json()["error"], str)


@pytest.mark.parametrize("body", [
    _cell({"row_id": 10 ** 30}), _cell({"row_id": "99999999999999999999999"}), _cell({"row_id": {"x": 1}}),
    _queue(1, ["not a channel!"]), _queue(1, "'; DROP TABLE retention_cases; --"),
    _with_value(1, "2026-13-45"), _with_value(5, ["boredom"]), _with_value(0, "/no-such-page"),
], ids=["huge row id", "huge row id string", "row id object", "bad channel", "sql in channel", "bad date",
        "unknown reason", "unknown page"])
def test_odd_but_well_formed_callback_values_never_give_a_500(app: Any, client: FlaskClient,
                                                             body: dict[str, Any]) -> None:
    login(client, "sup")
    response = client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": csrf(client)})
    assert response.status_code < 500, response.get_data(as_text=True)[:200]


def test_infinite_row_id_never_gives_a_500(client: FlaskClient) -> None:
    """Python's JSON parser accepts ``Infinity``; ``int(inf)`` raises OverflowError."""
    login(client, "sup")
    raw = json.dumps(_cell({"row_id": 0})).replace('"row_id": 0', '"row_id": Infinity')
    response = client.post("/_dash-update-component", data=raw, content_type="application/json",
                           headers={"X-CSRFToken": csrf(client)})
    assert response.status_code < 500
    assert client.get("/export/case_offers.csv?case=99999999999999999999999").status_code < 500


def test_malformed_bodies_still_meet_login_and_csrf_first(app: Any, client: FlaskClient) -> None:
    garbage = _raw("{not json")
    assert client.post("/_dash-update-component", headers={"X-CSRFToken": "x"}, **garbage).status_code == 401
    login(client, "sup")
    assert client.post("/_dash-update-component", **garbage).status_code == 403
    assert client.post("/_dash-update-component", json=_page_body(),
                       headers={"X-CSRFToken": csrf(client)}).status_code == 200
