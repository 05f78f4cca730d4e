"""Key events in over HTTP (``POST /api/events``, HMAC-signed) and the CLI, and the payment page.

Requests go through the website's real aiohttp application to a migrated, seeded SQLite
database; the CLI runs as a subprocess, as an operator would run it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.storage.db import session_factory
from bot.storage.models import Alert, Customer, KeyEvent, PaymentLink
from bot.website.app import make_app
from bot.website.events_api import signature
from tests.support.stack import PROJECT_ROOT

SECRET = "events-secret-" + "7" * 30
OUTAGE = {"id": "NET-77", "type": "outage", "postcodes": ["28013"], "started_at": "2026-12-01T08:00:00Z",
          "ended_at": "2026-12-01T20:00:00Z"}


@pytest.fixture()
def site(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("DATABASE_URL", db_url)
    app = make_app(jwt_secret="j" * 40, demo=False, events_secret=SECRET)
    loop = asyncio.new_event_loop()
    client = TestClient(TestServer(app), loop=loop)
    loop.run_until_complete(client.start_server())

    def call(method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async def go() -> tuple[int, Any]:
            async with client.request(method, path, allow_redirects=False, **kwargs) as response:
                text = await response.text()
                kind = response.headers.get("Content-Type", "")
                return response.status, json.loads(text) if "json" in kind else text
        return loop.run_until_complete(go())

    try:
        yield call
    finally:
        loop.run_until_complete(client.close())
        loop.close()


def post(call: Any, body: bytes, sign: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if sign is not None:
        headers["X-Signature"] = sign
    return call("POST", "/api/events", data=body, headers=headers)


def counts(db_url: str) -> tuple[int, int]:
    with session_factory(db_url)() as session:
        return (session.scalar(select(func.count()).select_from(KeyEvent)),
                session.scalar(select(func.count()).select_from(Alert)))


def test_signed_event_is_taken_in_once(site: Any, db_url: str) -> None:
    body = json.dumps(OUTAGE).encode()
    status, first = post(site, body, signature(SECRET, body))
    assert status == 201 and first["duplicate"] is False and first["reach"] >= 2
    assert first["actions"]["compensation:done"] == first["reach"]
    status, again = post(site, body, signature(SECRET, body))  # a replay, or a retry
    assert status == 200 and again["duplicate"] is True and again["event_id"] == first["event_id"]
    assert counts(db_url) == (1, first["reach"])


@pytest.mark.parametrize("sign", [None, "", "sha256=" + "0" * 64, "sha256=bad", "\u00e9"])
def test_unsigned_or_forged_events_get_401(site: Any, db_url: str, sign: str | None) -> None:
    body = json.dumps(OUTAGE).encode()
    status, answer = post(site, body, sign)
    assert status == 401 and "X-Signature" in answer["error"]
    assert counts(db_url) == (0, 0)


def test_signature_of_another_body_or_key_is_refused(site: Any, db_url: str) -> None:
    body = json.dumps(OUTAGE).encode()
    other = json.dumps({**OUTAGE, "postcodes": ["08002"]}).encode()
    assert post(site, other, signature(SECRET, body))[0] == 401
    assert post(site, body, signature("another-key", body))[0] == 401
    assert counts(db_url) == (0, 0)


@pytest.mark.parametrize(("body", "status", "says"), [
    (b"{not json", 400, "JSON"),
    (b"\xff\xfe", 400, "UTF-8"),
    (json.dumps({**OUTAGE, "type": "meteor"}).encode(), 422, "type"),
    (json.dumps({**OUTAGE, "postcodes": []}).encode(), 422, "postcodes"),
    (json.dumps({**OUTAGE, "id": "x\ud800"}).encode(), 422, "id"),
    (json.dumps({**OUTAGE, "description": "corte \ud800"}).encode(), 422, "description"),
    (json.dumps({**OUTAGE, "postcodes": ["28013"] * 501}).encode(), 422, "postcodes"),
    (json.dumps({**OUTAGE, "started_at": "2999-01-01T00:00:00Z", "ended_at": None}).encode(), 422, "future"),
    (json.dumps({**OUTAGE, "started_at": 12}).encode(), 422, "started_at"),
    (json.dumps({"id": "B1", "type": "double_charge", "customer": "C99999", "amount": 3,
                 "started_at": "2026-12-01T08:00:00Z"}).encode(), 422, "no customer"),
    (json.dumps([OUTAGE]).encode(), 422, "JSON object"),
    (b'{"a": ' * 5000 + b"1" + b"}" * 5000, 400, "JSON"),
    (b'{"id": "X", "amount": 1' + b"0" * 5000 + b"}", 400, "JSON"),
    (b"{" + b" " * 70000 + b"}", 413, "larger"),
])
def test_bad_events_get_a_clear_4xx_and_change_nothing(site: Any, db_url: str, body: bytes, status: int,
                                                       says: str) -> None:
    got, answer = post(site, body, signature(SECRET, body))
    assert got == status and says in answer["error"]
    assert counts(db_url) == (0, 0)
    assert post(site, json.dumps(OUTAGE).encode(), signature(SECRET, json.dumps(OUTAGE).encode()))[0] == 201


def test_payment_page_records_the_update_once(site: Any, db_url: str) -> None:
    from bot.core.payment_links import create_link

    with session_factory(db_url)() as session:
        john = session.scalar(select(Customer).where(Customer.ref == "C00002"))
        assert john is not None
        token = create_link(session, john.id, ttl=timedelta(hours=2))
        session.commit()
    status, page = site("GET", f"/pay/{token}")
    assert status == 200 and "Update your payment method" in page and "Hi John" in page
    assert "card number" not in page.lower() and "iban" not in page.lower()
    status, page = site("POST", f"/pay/{token}", data={"method": "direct_debit"})
    assert status == 200 and "recorded your new payment method" in page
    with session_factory(db_url)() as session:
        link = session.scalar(select(PaymentLink))
        assert link is not None and link.used_at is not None and link.method == "direct_debit"
    for method, path in [("GET", f"/pay/{token}"), ("POST", f"/pay/{token}")]:
        status, page = site(method, path, data={"method": "card"})
        assert status == 404 and "already used or has expired" in page
    with session_factory(db_url)() as session:
        assert session.scalar(select(PaymentLink.method)) == "direct_debit"


@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "https://evil.example"}])
def test_a_form_on_another_site_cannot_use_a_payment_link(site: Any, db_url: str, headers: dict[str, str]) -> None:
    from bot.core.payment_links import create_link

    with session_factory(db_url)() as session:
        john = session.scalar(select(Customer).where(Customer.ref == "C00002"))
        assert john is not None
        token = create_link(session, john.id, ttl=timedelta(hours=2))
        session.commit()
    status, _ = site("POST", f"/pay/{token}", data={"method": "card"}, headers=headers)
    assert status == 403
    with session_factory(db_url)() as session:
        assert session.scalar(select(PaymentLink.used_at)) is None  # the link still works for John
    same = {"Sec-Fetch-Site": "same-origin", "Origin": "null"}
    status, page = site("POST", f"/pay/{token}", data={"method": "card"}, headers=same)
    assert status == 200 and "recorded your new payment method" in page


@pytest.mark.parametrize("token", ["x", "A" * 32, "..%2F..%2Fetc%2Fpasswd", "%00", "A" * 300])
def test_guessed_payment_links_show_nothing(site: Any, token: str) -> None:
    status, page = site("GET", f"/pay/{token}")
    assert status == 404 and "no es válido" in page
    status, _ = site("POST", f"/pay/{token}", data={"method": "card"})
    assert status == 404


def run_cli(db_url: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": db_url, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run([sys.executable, "-m", "bot.cli.events", *args], cwd=PROJECT_ROOT, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_cli_ingests_files_once_and_refuses_bad_ones(db_url: str, tmp_path: Path) -> None:
    events = tmp_path / "events.json"
    events.write_text(json.dumps([OUTAGE, {"id": "BILL-5", "type": "double_charge", "customer": "C00001",
                                           "amount": 32.9, "started_at": "2026-12-03T00:00:00Z"}]))
    done = run_cli(db_url, "ingest", str(events))
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["NET-77", "BILL-5"] and not any(x["duplicate"] for x in lines)
    again = run_cli(db_url, "ingest", "-", stdin=json.dumps(OUTAGE))
    assert again.returncode == 0 and json.loads(again.stdout)["duplicate"] is True
    bad = run_cli(db_url, "ingest", "-", stdin='{"id": "X", "type": "outage", "started_at": "2026-12-01"}')
    assert bad.returncode == 2 and "postcodes" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_cli(db_url, "ingest", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    status = run_cli(db_url, "status")
    assert status.returncode == 0 and "high" in status.stdout and "overdue tasks: 0" in status.stdout
    assert "payment links: 0 sent" in status.stdout
    assert counts(db_url)[0] == 2
    with session_factory(db_url)() as session:
        alert_id = session.scalar(select(Alert.id).where(Alert.status == "open").order_by(Alert.id))
    taken = run_cli(db_url, "take", str(alert_id), "--owner", "ana")
    assert taken.returncode == 0 and "owner ana" in taken.stdout
    other = run_cli(db_url, "take", str(alert_id), "--owner", "luis")
    assert other.returncode == 3 and "already taken by ana" in other.stderr  # never reassigned silently
    forced = run_cli(db_url, "take", str(alert_id), "--owner", "luis", "--force")
    assert forced.returncode == 0 and "taken over from ana" in forced.stdout
    assert run_cli(db_url, "take", str(alert_id), "--owner", "ana", "--force").returncode == 0
    closed = run_cli(db_url, "done", str(alert_id))
    assert closed.returncode == 0 and ": done" in closed.stdout
    assert run_cli(db_url, "done", str(alert_id)).returncode == 2  # closed already
    assert run_cli(db_url, "take", "999999", "--owner", "x").returncode == 2
    with session_factory(db_url)() as session:
        alert = session.get(Alert, alert_id)
        assert alert.status == "done" and alert.owner == "ana" and alert.closed_at is not None
