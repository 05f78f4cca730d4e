"""The dashboard's main data load with 100,000 cases on SQLite (issue 6: target under 2 s).

The database is the seeded one (1,000 customers) plus ``analytics.demo_data`` history: 100,000
cases over the 26 weeks ending today, so that the dashboard's default view (the last 26 weeks)
holds all of them, with their ~114,000 offers, ~55,000 cold cases, ~10,000 handoff tickets and
~740,000 events in the tracker store (read for the NLU fallback rate). Migration 0003's indexes
are in place (``make_database`` migrates to head) and the test checks that the queries use them.

Each measured load opens its own session, like a dashboard request. Timings are measured and
written to test-results/analytics_perf.json (and reported in docs/benchmarks.md), never asserted:
a timed assertion fails on a busy machine for reasons that are not the code's. What is asserted
is what makes the load fast: the full 100k-case view is computed and its queries use the indexes.
"""

from __future__ import annotations

import json
import re
import sqlite3
import statistics
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from analytics import app as dashboard
from analytics import demo_rows, users
from analytics.config import CSRF_COOKIE
from analytics.figures import load_dashboard
from analytics.filters import default_filters
from analytics.tracker_store import tracker_engine
from bot.storage.db import get_engine, session_factory
from tests.support.db_fixtures import make_database

CASES = 100_000
LIMIT_SECONDS = 2.0  # the target, recorded next to the measurement
RUNS = 4
RESULTS = Path(__file__).resolve().parents[2] / "test-results" / "analytics_perf.json"
INDEXES = ("ix_retention_cases_scope", "ix_case_offers_case_outcome", "ix_subscriptions_cancellations")


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    directory = tmp_path_factory.mktemp("perf")
    started = time.perf_counter()
    url = make_database(directory, customers=1000)
    tracker_url = f"sqlite:///{directory / 'tracker.db'}"
    tracker = demo_rows.writable_tracker(tracker_url)
    with session_factory(url)() as s:
        summary = demo_rows.generate(s, CASES, end=date.today(), weeks=26, tracker=tracker)
        users.create_user(s, "perf", "a perf password", "supervisor")
        s.commit()
    tracker.dispose()
    yield {"url": url, "tracker_url": tracker_url, "summary": summary, "dir": directory,
           "build_seconds": round(time.perf_counter() - started, 1)}


def _record(key: str, value: Any) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[key] = value
    RESULTS.write_text(json.dumps(data, indent=2, default=str) + "\n")


def test_dataset(big: dict[str, Any]) -> None:
    summary = big["summary"]
    assert summary.cases == CASES
    assert summary.offers > 100_000 and summary.cold_cases > 40_000 and summary.events > 500_000
    _record("dataset", {"cases": summary.cases, "offers": summary.offers, "cold_cases": summary.cold_cases,
                        "handoff_tickets": summary.tickets, "action_plans": summary.plans,
                        "cancelled_subscription_records": summary.subscriptions, "tracker_events": summary.events,
                        "build_seconds": big["build_seconds"]})


def test_default_view_on_100k_cases_is_measured(big: dict[str, Any]) -> None:
    tracker = tracker_engine(big["tracker_url"])
    with session_factory(big["url"])() as s:
        filters = default_filters(s)
    walls, cpus = [], []
    for _ in range(RUNS):
        with session_factory(big["url"])() as s:
            wall, cpu = time.perf_counter(), time.process_time()
            d = load_dashboard(s, filters, tracker=tracker)
            walls.append(round(time.perf_counter() - wall, 3))
            cpus.append(round(time.process_time() - cpu, 3))
    assert d.counts.requests == CASES  # the default view holds every case
    assert d.nlu.available and d.nlu.user_messages > 200_000
    assert d.real_saves.really_saved > 0 and len(d.weekly) >= 26 and d.returns.offer_cost > 0
    warm = walls[1:]
    result = {"filters": filters.describe(), "wall_seconds": walls, "cpu_seconds": cpus, "best_warm": min(warm),
              "median_warm": statistics.median(warm), "first_run": walls[0], "limit": LIMIT_SECONDS}
    _record("load_dashboard_default_view", result)
    print(f"\n100k cases, default view: {result}")


def test_queries_use_the_analytics_indexes(big: dict[str, Any]) -> None:
    statements: list[tuple[str, Any]] = []
    engine = get_engine(big["url"])

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        with session_factory(big["url"])() as s:
            load_dashboard(s, default_filters(s))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    con = sqlite3.connect(big["url"][len("sqlite:///"):])
    plans = [" | ".join(row[-1] for row in con.execute("EXPLAIN QUERY PLAN " + sql, params))
             for sql, params in statements if sql.lstrip().upper().startswith("SELECT")]
    con.close()
    used = {name for name in INDEXES if any(name in plan for plan in plans)}
    _record("query_plans", plans)
    assert used == set(INDEXES), f"unused: {set(INDEXES) - used}"
    # The big scans read the covering indexes only.
    assert any("COVERING INDEX ix_retention_cases_scope" in p and "GROUP BY" in p for p in plans)
    assert any("COVERING INDEX ix_case_offers_case_outcome" in p for p in plans)


def test_overview_page_renders(big: dict[str, Any]) -> None:
    """The whole overview callback (figures, charts, tables as JSON), through the Flask app: reported."""
    app = dashboard.create_app(big["url"], big["tracker_url"], secret="perf", hours=8, cookie_secure=False)
    with app.server.test_client() as client:
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        client.post("/login", data={"username": "perf", "password": "a perf password", "csrf": token})
        csrf = client.get_cookie(CSRF_COOKIE).value  # type: ignore[union-attr]
        with session_factory(big["url"])() as s:
            filters = default_filters(s)
        body = {"output": "page.children", "outputs": {"id": "page", "property": "children"},
                "inputs": [{"id": "url", "property": "pathname", "value": "/"},
                           {"id": "f-dates", "property": "start_date", "value": filters.since.isoformat()},
                           {"id": "f-dates", "property": "end_date", "value": filters.until.isoformat()},
                           {"id": "f-channel", "property": "value", "value": None},
                           {"id": "f-language", "property": "value", "value": None},
                           {"id": "f-reason", "property": "value", "value": None},
                           {"id": "f-segment", "property": "value", "value": None}],
                "changedPropIds": ["url.pathname"], "state": []}
        started = time.perf_counter()
        response = client.post("/_dash-update-component", json=body, headers={"X-CSRFToken": csrf})
        seconds = round(time.perf_counter() - started, 3)
    assert response.status_code == 200 and b"kpi-hot_save_rate" in response.data
    _record("overview_callback_seconds", {"seconds": seconds, "response_bytes": len(response.data)})
    print(f"\noverview callback with 100k cases: {seconds} s, {len(response.data)} bytes")
