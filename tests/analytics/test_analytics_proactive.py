"""The dashboard's proactive page and exports (analytics/proactive.py), through Flask's test
client on a seeded database with real key events, proactive runs and a real risk model."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from flask.testing import FlaskClient

from analytics import app as dashboard
from analytics import proactive, users
from bot.core.alerts import ingest, parse_event
from bot.core.proactive import load_proactive, plan_run
from bot.risk.model import evaluate, fit, load, save, time_split
from bot.risk.simulate import simulate
from bot.storage.db import session_factory
from bot.storage.models import Alert, ProactiveContact, Subscription
from tests.analytics.test_analytics_app import PASSWORD, PHONE, csrf, login, page_values, run_callback
from tests.support.db_fixtures import make_database

NOW = datetime(2026, 11, 30, 11, 0)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from dataclasses import replace

    directory: Path = tmp_path_factory.mktemp("proactive-dash")
    url = make_database(directory, customers=40)
    rows = simulate(customers=800, seed=4)
    split = time_split(rows)
    pipeline = fit(split.train)
    model_path = directory / "churn_risk.joblib"
    save(pipeline, rows, evaluate(pipeline, split), "test", model_path)
    with session_factory(url)() as s:
        for raw in ({"id": "NET-D1", "type": "outage", "postcodes": ["28013"], "started_at": "2026-11-28T08:00:00Z"},
                    {"id": "BILL-D1", "type": "double_charge", "customer": "C00002", "amount": 20,
                     "started_at": "2026-11-29T00:00:00Z"}):
            ingest(s, parse_event(raw, now=NOW), now=NOW)
        plan_run(s, load(model_path), date(2026, 11, 30), replace(load_proactive(), min_probability=0.0))
        users.create_user(s, "sup", PASSWORD, "supervisor")
        users.create_user(s, "boss", PASSWORD, "admin", can_see_contact=True)
        users.create_user(s, "ag", PASSWORD, "agent")
        s.commit()
    yield url, str(model_path)


@pytest.fixture()
def app(db: tuple[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("RISK_MODEL_PATH", db[1])
    return dashboard.create_app(db[0], f"sqlite:///{tmp_path / 'tracker.db'}", secret="test-secret", hours=8,
                                cookie_secure=False)


def test_the_page_shows_alerts_events_compensations_risk_and_contacts(app: Any) -> None:
    with app.server.test_client() as sup:
        login(sup, "sup")
        page = run_callback(sup, app, "page.children", page_values("/proactive"), token=csrf(sup))
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert "Proactive retention" in text and "high: " in text and "NET-D1" in text and "BILL-D1" in text
        assert "Compensations paid" in text and "risk-histogram" in text and "Top drivers" in text
        assert "not measurable yet" in text  # no run's 90 days are over
        assert not PHONE.search(text)


def test_exports_mask_contacts_per_role_and_agents_get_none(app: Any) -> None:
    with app.server.test_client() as sup:
        login(sup, "sup")
        at_risk = sup.get("/export/at_risk.csv").get_data(as_text=True)
        assert "Top drivers" in at_risk and "C000" in at_risk and not PHONE.search(at_risk) and "•••" in at_risk
        alerts = sup.get("/export/alerts.csv").get_data(as_text=True)
        assert alerts.count("\n") > 3 and "outage" in alerts and "unassigned" in alerts
        events = sup.get("/export/key_events.csv").get_data(as_text=True)
        assert "NET-D1" in events and "28013" in events
        paid = sup.get("/export/compensations.csv").get_data(as_text=True)
        assert "outage" in paid and "double_charge" in paid
        assert "Held out" in sup.get("/export/proactive.csv").get_data(as_text=True)
    with app.server.test_client() as boss:
        login(boss, "boss")
        assert PHONE.search(boss.get("/export/at_risk.csv").get_data(as_text=True))
    client: FlaskClient
    with app.server.test_client() as client:
        login(client, "ag")
        for name in ("alerts", "key_events", "compensations", "at_risk", "proactive"):
            assert client.get(f"/export/{name}.csv").status_code == 403, name


def test_without_a_model_the_page_says_what_to_do(app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RISK_MODEL_PATH", str(tmp_path / "missing.joblib"))
    with app.server.test_client() as sup:
        login(sup, "sup")
        text = run_callback(sup, app, "page.children", page_values("/proactive"), token=csrf(sup)).get_data(
            as_text=True)
        assert "run make risk-model" in text and "Proactive contacts by run" in text


def test_uplift_compares_contacted_with_holdout_after_90_days(db: tuple[str, str]) -> None:
    with session_factory(db[0])() as s:
        early = date(2026, 11, 30) - timedelta(days=120)
        contacts = list(s.query(ProactiveContact).order_by(ProactiveContact.id))
        for contact in contacts:
            contact.scored_on = early
        held = [c for c in contacts if c.holdout]
        treated = [c for c in contacts if not c.holdout]
        assert held and treated
        gone = held[0]
        sub = s.query(Subscription).filter(Subscription.customer_id == gone.customer_id).first()
        sub.status = "cancelled"
        sub.cancel_requested_at = datetime.combine(early + timedelta(days=10), datetime.min.time())
        s.flush()
        measured = proactive.uplift(s, date(2026, 11, 30))
        assert (measured.holdout, measured.holdout_churned) == (len(held), 1)
        assert (measured.contacted, measured.contacted_churned) == (len(treated), 0)
        assert measured.uplift == pytest.approx(1 / len(held))
        low, high = measured.interval
        assert low < measured.uplift < high
        s.rollback()


def test_uplift_interval_math() -> None:
    u = proactive.Uplift(contacted=400, contacted_churned=20, holdout=100, holdout_churned=12)
    assert u.uplift == pytest.approx(0.12 - 0.05)
    low, high = u.interval
    se = (0.12 * 0.88 / 100 + 0.05 * 0.95 / 400) ** 0.5
    assert (low, high) == pytest.approx((0.07 - 1.96 * se, 0.07 + 1.96 * se))
    assert proactive.Uplift(0, 0, 10, 1).interval is None


def test_open_alerts_sort_by_priority_and_show_overdue(db: tuple[str, str]) -> None:
    with session_factory(db[0])() as s:
        table = proactive.alerts_table(s, now=NOW + timedelta(hours=10))
        priorities = [r["priority"] for r in table.rows]
        assert priorities == sorted(priorities, key=["high", "medium", "low"].index)
        outage_rows = [r for r in table.rows if r["type"] == "outage"]
        assert outage_rows and all(r["overdue"] for r in outage_rows)  # 4 h for high: 10 h later, overdue
        assert re.fullmatch(r"C\d{5}", outage_rows[0]["customer"])
        # the id a person needs for `bot.cli.events take <id>` is the first column
        assert table.columns[0].key == "id" and s.get(Alert, outage_rows[0]["id"]).type == "outage"
