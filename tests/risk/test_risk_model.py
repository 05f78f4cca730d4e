"""The churn-risk model: reproducible, beats the baseline on a time split, no leakage, a CSV a
company can bring, and scores of this product's customers with their drivers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.risk.features import COLUMNS, FeatureError, read_csv, write_csv
from bot.risk.from_db import snapshots
from bot.risk.model import RiskModelError, data_digest, evaluate, fit, load, save, time_split
from bot.risk.simulate import simulate
from bot.storage.models import Customer, Incident
from tests.support.stack import PROJECT_ROOT


@pytest.fixture(scope="module")
def rows():  # type: ignore[no-untyped-def]
    return simulate(customers=1500, seed=11)


def test_training_is_reproducible_and_beats_the_baseline_on_the_time_split(rows) -> None:  # type: ignore[no-untyped-def]
    split = time_split(rows)
    assert max(r.snapshot_date for r in split.train) + timedelta(days=90) <= split.test_from
    assert min(r.snapshot_date for r in split.test) == split.test_from
    first = evaluate(fit(split.train), split)
    second = evaluate(fit(time_split(simulate(customers=1500, seed=11)).train), split)
    assert first.summary() == second.summary()
    assert first.auc > first.baseline_auc + 0.03
    assert first.top_decile_precision > 1.5 * first.base_rate
    assert first.brier <= first.baseline_brier


def test_make_risk_model_prints_one_json_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bot.cli.risk_model", "train", "--out", str(tmp_path / "m.joblib")],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    result = json.loads(line)
    assert set(result) == {"auc", "baseline_auc", "brier", "top_decile_precision"}
    assert result["auc"] > result["baseline_auc"]
    model = load(tmp_path / "m.joblib")
    assert model.meta["format_version"] == 1 and model.meta["metrics"] == result
    assert model.meta["model_version"].split("-")[-1] == data_digest(simulate(seed=7))  # the data it saw


def test_a_company_csv_round_trips_and_trains(rows, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    write_csv(rows, buffer)
    path = tmp_path / "company.csv"
    path.write_text(buffer.getvalue())
    back = read_csv(path)
    assert [r.vector() for r in back[:50]] == [r.vector() for r in rows[:50]]
    assert [r.churned for r in back] == [r.churned for r in rows]
    done = subprocess.run([sys.executable, "-m", "bot.cli.risk_model", "train", "--csv", str(path),
                           "--out", str(tmp_path / "c.joblib")], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["auc"] > 0.5


@pytest.mark.parametrize(("text", "says"), [
    ("a,b\n1,2\n", "header"),
    (",".join(COLUMNS) + "\nC1,2026-13-01" + ",1" * 11 + ",loyal,0\n", "line 2: snapshot_date"),
    (",".join(COLUMNS) + "\nC1,2026-01-01" + ",x" + ",1" * 10 + ",loyal,0\n", "line 2: tenure_months"),
    (",".join(COLUMNS) + "\nC1,2026-01-01" + ",nan" + ",1" * 10 + ",loyal,0\n", "finite"),
    (",".join(COLUMNS) + "\nC1,2026-01-01" + ",1" * 11 + ",vip,0\n", "lifecycle_stage"),
    (",".join(COLUMNS) + "\nC1,2026-01-01" + ",1" * 11 + ",loyal,yes\n", "churned_within_90d"),
])
def test_bad_csv_rows_are_named(text: str, says: str) -> None:
    with pytest.raises(FeatureError, match=says):
        read_csv(io.StringIO(text))


def test_too_little_history_is_a_clear_error(rows) -> None:  # type: ignore[no-untyped-def]
    first_dates = sorted({r.snapshot_date for r in rows})[:3]
    with pytest.raises(RiskModelError, match="at least"):
        time_split([r for r in rows if r.snapshot_date in first_dates])


def test_database_features_use_nothing_after_the_snapshot_date(db_session: Session) -> None:
    lucia = db_session.scalar(select(Customer).where(Customer.ref == "C00001"))
    assert lucia is not None
    as_of = date(2026, 11, 15)

    def mine() -> dict[str, float]:
        (row,) = [r for r in snapshots(db_session, as_of) if r.customer_id == "C00001"]
        return dict(row.values)

    before = mine()
    db_session.add(Incident(customer_id=lucia.id, kind="outage", opened_at=datetime(2026, 11, 20), description="later"))
    db_session.commit()
    assert mine() == before  # an incident after the date changes nothing
    db_session.add(Incident(customer_id=lucia.id, kind="outage", opened_at=datetime(2026, 11, 10), description="x"))
    db_session.commit()
    after = mine()
    assert after["incidents_30d"] == before["incidents_30d"] + 1
    assert after["incidents_90d"] == before["incidents_90d"] + 1


def test_scores_of_this_database_come_with_drivers(db_session: Session, tmp_path: Path) -> None:
    rows = simulate(customers=800, seed=3)
    split = time_split(rows)
    pipeline = fit(split.train)
    save(pipeline, rows, evaluate(pipeline, split), "test", tmp_path / "m.joblib")
    model = load(tmp_path / "m.joblib")
    today = snapshots(db_session, date(2026, 11, 30))
    scores = model.score(today)
    assert len(scores) == len(today) > 10
    assert all(0 < s.probability < 1 for s in scores)
    lucia = next(i for i, r in enumerate(today) if r.customer_id == "C00001")
    db_session.add_all(Incident(customer_id=db_session.scalar(select(Customer.id).where(Customer.ref == "C00001")),
                                kind="outage", opened_at=datetime(2026, 11, 20 + n), description="x") for n in range(3))
    db_session.commit()
    again = model.score(snapshots(db_session, date(2026, 11, 30)))
    assert again[lucia].probability > scores[lucia].probability
    assert again[lucia].drivers[0] in ("incidents_30d", "incidents_90d")


def test_a_missing_or_foreign_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RiskModelError, match="make risk-model"):
        load(tmp_path / "none.joblib")
    import joblib

    joblib.dump({"meta": {"format_version": 99}}, tmp_path / "old.joblib")
    with pytest.raises(RiskModelError, match="another version"):
        load(tmp_path / "old.joblib")
