"""The churn-risk features: one schema for a company's CSV export and for this product's database.

A row is one customer on one *snapshot date*; every feature uses only what was recorded before
that date (no leakage), and the label says whether the customer cancelled within
``HORIZON_DAYS`` after it. The CSV columns are exactly :data:`COLUMNS` (``docs/risk_model.md``).
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Iterable, Mapping, Sequence

HORIZON_DAYS = 90
LIFECYCLE_STAGES = ("onboarding", "established", "loyal")  # < 6 months, 6-35, 36 and more

#: numeric features, in the model's order
NUMERIC = ("tenure_months", "monthly_price", "monthly_margin", "price_rises_90d", "incidents_30d",
           "incidents_90d", "key_events_90d", "usage_trend", "support_contacts_90d", "past_cases",
           "offers_accepted")
#: the lifecycle stage one-hot, "established" being the reference the others are compared with
STAGE_FEATURES = ("onboarding", "loyal")
FEATURES = (*NUMERIC, *(f"stage_{s}" for s in STAGE_FEATURES))
CAPS = {"price_rises_90d": 2, "incidents_30d": 3, "incidents_90d": 6, "key_events_90d": 4,
        "support_contacts_90d": 6, "past_cases": 3, "offers_accepted": 3}
#: counts: a count of zero cannot explain a customer's risk (it is only below average)
COUNTS = ("price_rises_90d", "incidents_30d", "incidents_90d", "key_events_90d", "support_contacts_90d",
          "past_cases", "offers_accepted")


def can_drive(feature: str, value: float) -> bool:
    """Whether ``value`` of ``feature`` can be named as a reason of a customer's risk:
    something that happened (a count above zero), usage that fell, the stage they are in,
    their tenure or price."""
    if feature in COUNTS:
        return value > 0
    if feature == "usage_trend":
        return value < 0.95
    if feature.startswith("stage_"):
        return value == 1
    return feature != "monthly_margin"  # what the customer is worth to us is no reason of theirs


COLUMNS = ("customer_id", "snapshot_date", *NUMERIC, "lifecycle_stage", "churned_within_90d")


class FeatureError(ValueError):
    """A CSV that does not follow the schema; the message names the line and the column."""


@dataclass(frozen=True)
class Snapshot:
    customer_id: str
    snapshot_date: date
    values: Mapping[str, float]  # NUMERIC
    lifecycle_stage: str
    churned: bool | None = None  # None: not known (scoring today)

    def vector(self) -> list[float]:
        """The model's input: counts capped (``CAPS``) so that an unusual history (ten cases in
        a year) is read as "many", not extrapolated far beyond what the model learnt from."""
        return [min(float(self.values[name]), CAPS.get(name, math.inf)) for name in NUMERIC] + [
            1.0 if self.lifecycle_stage == s else 0.0 for s in STAGE_FEATURES]


def lifecycle_stage(tenure_months: float) -> str:
    if tenure_months < 6:
        return "onboarding"
    return "established" if tenure_months < 36 else "loyal"


def usage_trend(recent: Sequence[float], earlier: Sequence[float]) -> float:
    """Average use of the last three months over the three before (1.0 = flat; capped at 3)."""
    if not recent or not earlier:
        return 1.0
    before = sum(earlier) / len(earlier)
    now = sum(recent) / len(recent)
    if before <= 0:
        return 1.0 if now <= 0 else 3.0
    return round(min(now / before, 3.0), 4)


def _number(raw: str | None, line: int, column: str) -> float:
    try:
        value = float(raw or "")
    except ValueError:
        raise FeatureError(f"line {line}: {column}: not a number ({raw!r})") from None
    if not math.isfinite(value):
        raise FeatureError(f"line {line}: {column}: not a finite number ({raw!r})")
    return value


def read_csv(source: Path | IO[str]) -> list[Snapshot]:
    """Snapshots from a CSV with :data:`COLUMNS` (header required; extra columns are refused)."""
    fh = source.open(encoding="utf-8", newline="") if isinstance(source, Path) else source
    try:
        reader = csv.DictReader(fh)
        header = tuple(reader.fieldnames or ())
        if set(header) != set(COLUMNS):
            missing = sorted(set(COLUMNS) - set(header))
            extra = sorted(set(header) - set(COLUMNS))
            raise FeatureError(f"header: missing {missing or '-'}, unknown {extra or '-'} "
                               f"(schema: {', '.join(COLUMNS)})")
        rows: list[Snapshot] = []
        for line, row in enumerate(reader, start=2):
            try:
                day = date.fromisoformat(row["snapshot_date"] or "")
            except ValueError:
                raise FeatureError(f"line {line}: snapshot_date: not YYYY-MM-DD ({row['snapshot_date']!r})") from None
            stage = row["lifecycle_stage"]
            if stage not in LIFECYCLE_STAGES:
                raise FeatureError(f"line {line}: lifecycle_stage: one of {', '.join(LIFECYCLE_STAGES)} ({stage!r})")
            label = row["churned_within_90d"]
            if label not in ("0", "1", ""):
                raise FeatureError(f"line {line}: churned_within_90d: 0, 1 or empty ({label!r})")
            rows.append(Snapshot(row["customer_id"] or "", day,
                                 {n: _number(row[n], line, n) for n in NUMERIC}, stage,
                                 None if label == "" else label == "1"))
        return rows
    finally:
        if isinstance(source, Path):
            fh.close()


def write_csv(rows: Iterable[Snapshot], target: IO[str]) -> None:
    writer = csv.writer(target, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r.customer_id, r.snapshot_date.isoformat(), *(_fmt(r.values[n]) for n in NUMERIC),
                         r.lifecycle_stage, "" if r.churned is None else int(r.churned)])


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}"


def window(day: date, days: int) -> tuple[datetime, datetime]:
    """[day - days, day) as datetimes: what counts as "the last N days" before a snapshot."""
    end = datetime.combine(day, datetime.min.time())
    return end - timedelta(days=days), end
