"""End-to-end: a real Chromium logs in to the analytics dashboard, sees the KPIs and the charts,
opens a conversation's transcript, and leaves screenshots in test-results/.

The dashboard runs in this process (werkzeug, a free port) on a fresh database with demo history
ending today, so the default view (the last 26 weeks) is full. Needs Debian's Chromium at
/usr/bin/chromium (no Rasa, no model).
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from analytics import app as dashboard
from analytics import demo_rows, users
from analytics.figures import load_dashboard
from analytics.filters import Filters, default_filters
from bot.storage.db import session_factory
from tests.support.db_fixtures import make_database

pytestmark = pytest.mark.e2e

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = PROJECT_ROOT / "test-results"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PASSWORD = "a supervisor's password"
TIMEOUT_MS = 30_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    directory = tmp_path_factory.mktemp("dashboard-e2e")
    url = make_database(directory, customers=80)
    tracker_url = f"sqlite:///{directory / 'tracker.db'}"
    tracker = demo_rows.writable_tracker(tracker_url)
    with session_factory(url)() as s:
        demo_rows.generate(s, 800, end=date.today(), tracker=tracker)
        from bot.core.alerts import ingest, parse_event

        ingest(s, parse_event({"id": "NET-E2E", "type": "outage", "postcodes": ["28013"],
                               "started_at": "2026-11-28T08:00:00Z"}))
        users.create_user(s, "supervisor", PASSWORD, "supervisor")
        s.commit()
    tracker.dispose()
    app = dashboard.create_app(url, tracker_url, secret="e2e-secret", hours=8, cookie_secure=False)
    port = _free_port()
    httpd = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", url
    finally:
        httpd.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium", pytrace=False)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def _log_in(page: Page, base: str, password: str = PASSWORD) -> None:
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
    page.fill("#username", "supervisor")
    page.fill("#password", password)
    page.click("#login-button")


def test_wrong_password_stays_on_the_login_page(server: tuple[str, str], page: Page) -> None:
    base, _ = server
    _log_in(page, base, password="not the password")
    expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
    assert page.locator("#kpis").count() == 0


def test_supervisor_sees_kpis_and_charts(server: tuple[str, str], page: Page) -> None:
    base, db_url = server
    _log_in(page, base)
    expect(page.locator("#kpi-hot_save_rate")).to_be_visible(timeout=TIMEOUT_MS)

    # The cards show the figures of analytics.figures for the default view.
    with session_factory(db_url)() as s:
        expected = load_dashboard(s, default_filters(s))
    assert expected.counts.requests > 100
    expect(page.locator("#kpi-requests .kpi-value")).to_have_text(str(expected.counts.requests))
    expect(page.locator("#kpi-hot_save_rate .kpi-value")).to_have_text(str(expected.hot_save_rate))
    for kpi in ("really_saved", "cold_win_back_rate", "revenue_kept", "return", "handoff_rate", "waiting_tickets",
                "nlu_fallback_rate", "holdout_lift"):
        expect(page.locator(f"#kpi-{kpi} .kpi-value")).not_to_be_empty()

    # Four plotly charts, drawn (SVG bars, pie slices, lines).
    for chart in ("chart-weekly", "chart-deflection", "chart-hot-cold", "chart-return-reason"):
        expect(page.locator(f"#{chart} .main-svg").first).to_be_visible(timeout=TIMEOUT_MS)
    assert page.locator("#chart-weekly .bars path").count() > 10
    assert page.locator("#chart-deflection .slice").count() >= 2
    expect(page.locator("#table-weekly")).to_be_visible()
    expect(page.locator("#export-weekly")).to_have_attribute("href", re.compile(r"^/export/weekly\.csv\?since="))

    page.wait_for_timeout(500)  # let the charts finish their transitions
    RESULTS_DIR.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS_DIR / "dashboard.png"), full_page=True)

    # Filters re-query: one reason only.
    page.click("#f-reason")
    page.get_by_role("option", name="price", exact=True).click()
    page.keyboard.press("Escape")
    with session_factory(db_url)() as s:
        default = default_filters(s)
        price = load_dashboard(s, Filters(since=default.since, until=default.until, reasons=("price",)))
    expect(page.locator("#kpi-requests .kpi-value")).to_have_text(str(price.counts.requests), timeout=TIMEOUT_MS)


def test_conversation_transcript(server: tuple[str, str], page: Page) -> None:
    base, _ = server
    _log_in(page, base)
    expect(page.locator("#kpis")).to_be_visible(timeout=TIMEOUT_MS)
    page.click("#nav-conversations")
    expect(page.locator("#conv-table")).to_be_visible(timeout=TIMEOUT_MS)
    page.locator("#conv-table td").nth(1).click()
    transcript = page.locator("#transcript .msg")
    expect(transcript.first).to_be_visible(timeout=TIMEOUT_MS)
    assert transcript.count() >= 4
    assert page.locator("#transcript .msg.user").count() >= 2 and page.locator("#transcript .msg.bot").count() >= 2
    body = page.locator("#conv-detail").inner_text()
    assert "•••" in body and not re.search(r"\+447700900\d{3}", body)  # contact data masked for this user
    page.screenshot(path=str(RESULTS_DIR / "dashboard-conversation.png"), full_page=True)


def test_proactive_page(server: tuple[str, str], page: Page) -> None:
    base, _ = server
    _log_in(page, base)
    expect(page.locator("#kpis")).to_be_visible(timeout=TIMEOUT_MS)
    page.click("#nav-proactive")
    expect(page.locator("#table-alerts")).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("#alert-summary")).to_contain_text("high: ")
    expect(page.locator("#table-key_events")).to_contain_text("NET-E2E")
    expect(page.locator("#table-alerts")).to_contain_text("outage")
    expect(page.locator("#risk-histogram")).to_be_visible()
    expect(page.locator("#export-at_risk")).to_have_attribute("href", "/export/at_risk.csv")
    page.screenshot(path=str(RESULTS_DIR / "dashboard-proactive.png"), full_page=True)


def test_the_log_out_button_ends_the_session(server: tuple[str, str], page: Page) -> None:
    base, _ = server
    _log_in(page, base)
    expect(page.locator("#kpis")).to_be_visible(timeout=TIMEOUT_MS)
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login$"), timeout=TIMEOUT_MS)
    assert page.request.get(base + "/export/kpis.csv").status == 401  # the session is gone
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next=%2F$"))
