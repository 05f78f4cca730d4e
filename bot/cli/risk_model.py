"""The churn-risk model from the command line (``make risk-model`` runs ``train``).

    python -m bot.cli.risk_model train [--csv FILE] [--plot PNG] [--out FILE]
    python -m bot.cli.risk_model score [--top 20] [--on YYYY-MM-DD]     # this database's customers
    python -m bot.cli.risk_model export --on YYYY-MM-DD [--on ...] FILE  # snapshots in the CSV schema

``train`` learns from a company's own snapshots (``--csv``, schema in ``docs/risk_model.md``) or,
without it, from the simulated demo company (``bot.risk.simulate``, fixed seed), splits by time,
saves the versioned model file and prints one JSON line:
``{"auc": .., "baseline_auc": .., "brier": .., "top_decile_precision": ..}``.
Exit 2 on bad input (the message names the line and column), 1 on a database error.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from bot.risk.features import FeatureError, read_csv, write_csv
from bot.risk.model import DRIVER_NAMES, RiskModelError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.cli.risk_model", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    train = sub.add_parser("train", help="train on a time split and save the model")
    train.add_argument("--csv", type=Path, help="a company's own snapshots (default: the simulated company)")
    train.add_argument("--seed", type=int, default=7, help="seed of the simulated company")
    train.add_argument("--out", type=Path, default=None, help="default: RISK_MODEL_PATH, models/churn_risk.joblib")
    train.add_argument("--plot", type=Path, help="write the reliability plot (PNG) here")
    train.add_argument("--report", action="store_true", help="also print the reliability table")
    score = sub.add_parser("score", help="score this database's customers, with drivers")
    score.add_argument("--top", type=int, default=20)
    score.add_argument("--on", type=_day, default=None)
    score.add_argument("--model", type=Path, default=None)
    export = sub.add_parser("export", help="this database's customers as labelled snapshots (CSV)")
    export.add_argument("--on", type=_day, action="append", required=True)
    export.add_argument("file", type=Path)
    return parser


def _train(args: argparse.Namespace) -> int:
    from bot.risk.model import evaluate, fit, save, time_split
    from bot.risk.simulate import simulate

    if args.csv:
        try:
            rows = read_csv(args.csv)
        except OSError as exc:
            print(f"error: cannot read {args.csv}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        source = f"csv:{args.csv.name}"
    else:
        rows, source = simulate(seed=args.seed), f"simulated company, seed {args.seed}"
    split = time_split(rows)
    pipeline = fit(split.train)
    evaluation = evaluate(pipeline, split)
    save(pipeline, rows, evaluation, source, args.out)
    if args.plot:
        _plot(evaluation, args.plot)
    if args.report:
        print(f"train {evaluation.train_rows} rows, test {evaluation.test_rows} rows from {evaluation.test_from}; "
              f"base rate {evaluation.base_rate:.4f}; baseline Brier {evaluation.baseline_brier:.4f}", file=sys.stderr)
        for predicted, observed in evaluation.reliability:
            print(f"  predicted {predicted:.3f}  observed {observed:.3f}", file=sys.stderr)
    print(json.dumps(evaluation.summary()))
    return 0


def _plot(evaluation: object, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = evaluation.reliability  # type: ignore[attr-defined]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    top = max(max(p for p, _ in points), max(o for _, o in points)) * 1.1
    ax.plot([0, top], [0, top], linestyle="--", color="grey", label="perfect")
    ax.plot([p for p, _ in points], [o for _, o in points], marker="o", label="churn-risk model")
    ax.set_xlabel("predicted 90-day churn")
    ax.set_ylabel("observed 90-day churn")
    ax.set_title("Reliability (test months, 10 equal bins)")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _score(args: argparse.Namespace) -> int:
    from bot.risk.from_db import snapshots
    from bot.risk.model import load
    from bot.storage.db import session_scope

    model = load(args.model)
    with session_scope() as session:
        rows = snapshots(session, args.on or date.today())
    ranked = sorted(zip(rows, model.score(rows)), key=lambda pair: -pair[1].probability)[: max(args.top, 0)]
    for row, score in ranked:
        drivers = ", ".join(DRIVER_NAMES[d] for d in score.drivers) or "-"
        print(f"{row.customer_id}  {score.probability:.3f}  {drivers}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from bot.risk.from_db import snapshots
    from bot.storage.db import session_scope

    with session_scope() as session:
        rows = [r for day in args.on for r in snapshots(session, day, labelled=True)]
    with args.file.open("w", encoding="utf-8", newline="") as fh:
        write_csv(rows, fh)
    print(f"{len(rows)} snapshot(s) written to {args.file}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from bot.config.settings import protect_data_files

    protect_data_files()
    args = _parser().parse_args(argv)
    try:
        return {"train": _train, "score": _score, "export": _export}[args.cmd](args)
    except (FeatureError, RiskModelError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:
        from bot.storage.db import database_error

        print(database_error(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
