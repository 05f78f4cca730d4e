"""Train, evaluate, save and load the churn-risk model; score customers with their top drivers.

* **Split by time**: the test snapshots are the last ``test_months`` snapshot dates; training
  uses only snapshots whose 90-day label window ended before the first test date, so nothing
  the model learns from happened after a date it is tested on.
* **Model**: standardised features and a logistic regression (scikit-learn). Its drivers are
  readable: a feature's contribution is its coefficient times how far the customer is from the
  average customer, in standard deviations.
* **Baseline**: "had an incident in the last 30 days" (the rule a team would use without a model).
* **Metrics**: ROC AUC (model and baseline), precision in the top decile, Brier score and a
  reliability table (predicted against observed churn, in ten bins of equal size).
* **The file** (``models/churn_risk.joblib``, ``RISK_MODEL_PATH``) holds the pipeline, the feature list, its format
  version, a model version (training date and a digest of the training data) and the metrics.
  It is a pickle: load only files this product wrote.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import joblib
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from bot.config.settings import risk_model_path
from bot.risk.features import FEATURES, Snapshot, can_drive

FORMAT_VERSION = 1
#: how a driver reads to a person (dashboard, campaign choice)
DRIVER_NAMES = {
    "tenure_months": "short tenure", "monthly_price": "price paid", "monthly_margin": "margin",
    "price_rises_90d": "recent price rise", "incidents_30d": "incident in the last 30 days",
    "incidents_90d": "incidents in the last 90 days", "key_events_90d": "key events in the last 90 days",
    "usage_trend": "falling usage", "support_contacts_90d": "repeated support contacts",
    "past_cases": "asked to cancel before", "offers_accepted": "retention offers taken",
    "stage_onboarding": "first months", "stage_loyal": "loyal customer",
}


class RiskModelError(ValueError):
    """No usable data or model file (the message says what to do)."""


@dataclass(frozen=True)
class Split:
    train: list[Snapshot]
    test: list[Snapshot]
    test_from: date


@dataclass(frozen=True)
class Evaluation:
    auc: float
    baseline_auc: float
    brier: float
    baseline_brier: float
    top_decile_precision: float
    base_rate: float
    reliability: list[tuple[float, float]]  # (mean predicted, observed) per bin
    train_rows: int
    test_rows: int
    test_from: date

    def summary(self) -> dict[str, float]:
        return {"auc": round(self.auc, 4), "baseline_auc": round(self.baseline_auc, 4),
                "brier": round(self.brier, 4), "top_decile_precision": round(self.top_decile_precision, 4)}


@dataclass(frozen=True)
class Score:
    probability: float
    drivers: tuple[str, ...]  # the top features pushing the risk up, most important first


def time_split(rows: Sequence[Snapshot], test_months: int = 4, horizon_days: int = 90) -> Split:
    labelled = [r for r in rows if r.churned is not None]
    dates = sorted({r.snapshot_date for r in labelled})
    if len(dates) < test_months + 4:
        raise RiskModelError(f"need snapshots on at least {test_months + 4} dates for a time split, got {len(dates)}")
    test_from = dates[-test_months]
    train = [r for r in labelled if (test_from - r.snapshot_date).days >= horizon_days]
    test = [r for r in labelled if r.snapshot_date >= test_from]
    if not train or len({r.churned for r in train}) < 2 or len({r.churned for r in test}) < 2:
        raise RiskModelError("the split has no churned (or no retained) customers on one side")
    return Split(train, test, test_from)


def _matrix(rows: Sequence[Snapshot]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([r.vector() for r in rows], dtype=float)
    y = np.array([1 if r.churned else 0 for r in rows], dtype=int)
    return x, y


def fit(rows: Sequence[Snapshot], seed: int = 0) -> Pipeline:
    x, y = _matrix(rows)
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("model", LogisticRegression(C=1.0, max_iter=2000, random_state=seed))])
    pipeline.fit(x, y)
    return pipeline


def baseline_scores(rows: Sequence[Snapshot]) -> np.ndarray:
    """1 for "had an incident in the last 30 days", else 0."""
    return np.array([1.0 if r.values["incidents_30d"] > 0 else 0.0 for r in rows])


def evaluate(pipeline: Pipeline, split: Split) -> Evaluation:
    x, y = _matrix(split.test)
    p = pipeline.predict_proba(x)[:, 1]
    base = baseline_scores(split.test)
    # the baseline as a probability: the churn rate of each of its two groups in training
    train_base = baseline_scores(split.train)
    _, train_y = _matrix(split.train)
    rates = {flag: float(train_y[train_base == flag].mean()) if (train_base == flag).any() else float(train_y.mean())
             for flag in (0.0, 1.0)}
    top = np.argsort(-p, kind="stable")[: max(1, len(p) // 10)]
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="quantile")
    return Evaluation(
        auc=float(roc_auc_score(y, p)), baseline_auc=float(roc_auc_score(y, base)),
        brier=float(brier_score_loss(y, p)),
        baseline_brier=float(brier_score_loss(y, np.array([rates[b] for b in base]))),
        top_decile_precision=float(y[top].mean()), base_rate=float(y.mean()),
        reliability=[(float(a), float(b)) for a, b in zip(predicted, observed)],
        train_rows=len(split.train), test_rows=len(split.test), test_from=split.test_from)


def data_digest(rows: Sequence[Snapshot]) -> str:
    digest = hashlib.sha256()
    for r in rows:
        digest.update(f"{r.customer_id}|{r.snapshot_date}|{r.vector()}|{r.churned}\n".encode())
    return digest.hexdigest()[:12]


def save(pipeline: Pipeline, rows: Sequence[Snapshot], evaluation: Evaluation, source: str,
         path: Path | None = None) -> dict[str, Any]:
    trained = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    meta = {"format_version": FORMAT_VERSION, "model_version": f"{trained}-{data_digest(rows)}",
            "features": list(FEATURES), "trained_on": source, "metrics": evaluation.summary(),
            "test_from": evaluation.test_from.isoformat()}
    path = path or risk_model_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump({"meta": meta, "pipeline": pipeline}, path)
    return meta


@dataclass(frozen=True)
class RiskModel:
    pipeline: Pipeline
    meta: dict[str, Any]

    def score(self, rows: Sequence[Snapshot], drivers: int = 3) -> list[Score]:
        if not rows:
            return []
        x = np.array([r.vector() for r in rows], dtype=float)
        p = self.pipeline.predict_proba(x)[:, 1]
        scaler: StandardScaler = self.pipeline.named_steps["scale"]
        coef = self.pipeline.named_steps["model"].coef_[0]
        contributions = (x - scaler.mean_) / np.where(scaler.scale_ == 0, 1, scaler.scale_) * coef
        out = []
        for prob, values, row in zip(p, x, contributions):
            usable = [i for i in np.argsort(-row, kind="stable")
                      if row[i] > 0 and can_drive(FEATURES[i], float(values[i]))]
            order = usable[:drivers]
            out.append(Score(float(prob), tuple(FEATURES[i] for i in order)))
        return out


def load(path: Path | None = None) -> RiskModel:
    """The saved model (``RISK_MODEL_PATH``); RiskModelError when missing or of another format."""
    path = path or risk_model_path()
    if not path.is_file():
        raise RiskModelError(f"no churn-risk model at {path}: run make risk-model")
    stored = joblib.load(path)
    meta = stored.get("meta", {}) if isinstance(stored, dict) else {}
    if meta.get("format_version") != FORMAT_VERSION or meta.get("features") != list(FEATURES):
        raise RiskModelError(f"{path} was written by another version: run make risk-model")
    return RiskModel(stored["pipeline"], meta)
