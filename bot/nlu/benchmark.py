"""Benchmark of the NLU pipeline, written to ``docs/benchmarks.md`` (``make benchmark``).

1. Trains the chosen pipeline (``config.yml``) and Rasa's default ``rasa init`` pipeline
   (``benchmarks/rasa_init_config.yml``) on the same data (``data/nlu``) and evaluates both on
   our held-out set and on the third-party shared set (test only, never trained on).
2. Rasa cross-validation per intent of the chosen pipeline on the training data.
Figures are from one run on this machine; timings are reported as ratios only.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.config.settings import PROJECT_ROOT
from bot.nlu.evaluation import SHARED_EVAL, evaluate, load_holdout, load_shared, parser_predict
from bot.nlu.model import Parser

ROOT = PROJECT_ROOT
RASA = str(Path(sys.executable).parent / "rasa")
PIPELINES = {"chosen (config.yml)": ROOT / "config.yml",
             "USE only (chosen before)": ROOT / "benchmarks" / "use_only_config.yml",
             "USE only, with typo copies": ROOT / "benchmarks" / "typo_copies_config.yml",
             "USE only, without char n-grams and reason classifier": ROOT / "benchmarks" / "words_use_config.yml",
             "DIET + USE features": ROOT / "benchmarks" / "diet_use_config.yml",
             "rasa init default": ROOT / "benchmarks" / "rasa_init_config.yml"}


def train_nlu(config: Path, out: Path) -> tuple[Path, float]:
    start = time.monotonic()
    subprocess.run([RASA, "train", "nlu", "--config", str(config), "--nlu", str(ROOT / "data" / "nlu"),
                    "--out", str(out), "--fixed-model-name", "nlu"], check=True, cwd=ROOT,
                   # an empty training cache: nothing restored, every training real and timed
                   env={**os.environ, "RASA_CACHE_DIRECTORY": str(out / "cache")},
                   stdout=subprocess.DEVNULL)
    return out / "nlu.tar.gz", time.monotonic() - start


def cross_validate(folds: int, out: Path) -> dict:
    subprocess.run([RASA, "test", "nlu", "--cross-validation", "--folds", str(folds), "--config",
                    str(ROOT / "config.yml"), "--nlu", str(ROOT / "data" / "nlu"), "--out", str(out)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return json.loads((out / "intent_report.json").read_text())


MARKER = "<!-- kept by make benchmark -->"


def training_data_id(nlu_dir: Path = ROOT / "data" / "nlu") -> dict:
    """Number of training examples and a digest of the NLU files, to show "same data"."""
    from rasa.shared.nlu.training_data.loading import load_data

    digest = hashlib.sha256()
    examples = 0
    for path in sorted(nlu_dir.rglob("*.yml")):
        digest.update(str(path.relative_to(nlu_dir)).encode() + b"\0" + path.read_bytes())
        examples += len(load_data(str(path)).intent_examples)
    return {"examples": examples, "sha256": digest.hexdigest()[:12]}


def fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="NLU benchmark -> docs/benchmarks.md")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--skip-cv", action="store_true")
    ap.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    ap.add_argument("--only", action="append", choices=list(PIPELINES),
                    help="train and evaluate only this pipeline (repeatable); others are taken from --results")
    ap.add_argument("--results", help="JSON file of per-pipeline results: read first, updated after each run"
                    " (lets the long rasa init training run apart and be merged into one report)")
    args = ap.parse_args(argv)
    holdout = load_holdout()
    shared = load_shared() if SHARED_EVAL.exists() else None
    data_id = training_data_id()
    results_file = Path(args.results) if args.results else None
    run_id = datetime.datetime.now().isoformat(timespec="seconds")
    results: dict[str, dict] = {}
    if results_file and results_file.exists():
        try:
            results = json.loads(results_file.read_text())
        except ValueError as exc:
            ap.error(f"--results {results_file}: not a results file written by this command ({exc})")
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in PIPELINES.items():
            if args.only and name not in args.only:
                continue
            model, seconds = train_nlu(config, Path(tmp) / str(len(results)))
            parser = Parser(model)
            start = time.monotonic()
            res = evaluate(parser_predict(parser), holdout, shared)
            res["train_seconds"] = seconds
            res["training_data"] = data_id
            res["date"] = datetime.date.today().isoformat()
            res["run"] = run_id
            res["parse_seconds"] = time.monotonic() - start
            results[name] = res
            print(name, json.dumps({k: v for k, v in res.items() if k != "per_intent"}), flush=True)
            if results_file:
                results_file.write_text(json.dumps(results, indent=1))
        cv_file = results_file.with_suffix(".cv.json") if results_file else None
        if not args.skip_cv:
            cv = cross_validate(args.folds, Path(tmp) / "cv")
            if cv_file:
                cv_file.write_text(json.dumps({"folds": args.folds, "report": cv}))
        elif cv_file and cv_file.exists():  # from an earlier run with the same --results
            saved = json.loads(cv_file.read_text())
            cv, args.folds = saved["report"], saved["folds"]
        else:
            cv = None
    missing = [n for n in ("chosen (config.yml)", "rasa init default") if n not in results]
    if missing:
        print(f"not writing {args.out}: no results for {', '.join(missing)}", file=sys.stderr)
        return 0
    write_report(Path(args.out), results, cv, args.folds, len(holdout),
                 len(shared) if shared else 0)
    return 0


def same_data_sentence(results: dict[str, dict]) -> str:
    ids = {json.dumps(r.get("training_data"), sort_keys=True) for r in results.values()}
    dates = sorted({r.get("date") for r in results.values() if r.get("date")})
    when = f" Measured on {', '.join(dates)}." if dates else ""
    if len(ids) == 1 and None not in [r.get("training_data") for r in results.values()]:
        data = next(iter(results.values()))["training_data"]
        return (f"Every column was trained on the same data: {data['examples']} examples of `data/nlu`"
                f" (digest {data['sha256']}).{when}")
    listed = "; ".join(f"{n}: {r.get('training_data')}" for n, r in results.items())
    return f"**Warning: the columns were not all trained on the same data** ({listed}).{when}"


def time_ratios(results: dict[str, dict]) -> str:
    """Training and parsing time of the chosen pipeline against the others measured in the same run."""
    chosen = results["chosen (config.yml)"]
    same_run = [n for n, r in results.items() if n != "chosen (config.yml)" and r.get("run")
                and r.get("run") == chosen.get("run") and r.get("train_seconds") and r.get("parse_seconds")]
    if not same_run:
        return "No other pipeline was measured in the same run as the chosen one: no time ratio is given."
    parts = [f"{n}: training {chosen['train_seconds'] / results[n]['train_seconds']:.2f},"
             f" parsing {chosen['parse_seconds'] / results[n]['parse_seconds']:.2f}" for n in same_run]
    return "Time ratios, chosen pipeline / a pipeline measured in the same run (" + "; ".join(parts) + ")."


def write_report(path: Path, results: dict[str, dict], cv: dict | None, folds: int,
                 n_holdout: int, n_shared: int) -> None:
    # columns in the order of PIPELINES, whatever order the runs were merged in
    names = [n for n in PIPELINES if n in results] + [n for n in results if n not in PIPELINES]
    chosen = results["chosen (config.yml)"]
    lines = [
        "# Benchmarks",
        "",
        "Reproduce with `make benchmark` (about 2.5 hours on 2 cores: about 1 hour for the DIET training"
        " of the `rasa init` pipeline, 32 s per epoch, 100 epochs, and about 45 minutes for the"
        " cross-validation). Each column's figures come from one training run; columns can be merged"
        " from several runs (`--results`),",
        "so speed is given only as ratios between pipelines measured in the same run.",
        "",
        "## NLU: chosen pipeline vs Rasa's default `rasa init` pipeline, same training data",
        "",
        f"Held-out set: `tests/nlu_holdout/` ({n_holdout} utterances, Spanish and English, written",
        "separately from the training data, never trained on). Shared set:",
        f"`../shared/eval/cancel_detection_en.tsv` ({n_shared} real third-party English utterances,",
        "test only).",
        "",
        same_data_sentence(results),
        "",
        "| metric | " + " | ".join(names) + " | target |",
        "|---|" + "---|" * len(names) + "---|",
    ]
    rows = [
        ("cancel-detection F1, held-out", lambda r: r["cancel_detection_holdout"]["f1"], ">= 0.97"),
        ("cancel-detection F1, shared set", lambda r: r.get("cancel_detection_shared", {}).get("f1"), ">= 0.90"),
        ("cancel-detection precision, shared set", lambda r: r.get("cancel_detection_shared", {}).get("precision"), ""),
        ("cancel-detection recall, shared set", lambda r: r.get("cancel_detection_shared", {}).get("recall"), ""),
        ("churn-reason macro-F1, held-out", lambda r: r["reason_macro_f1"], ">= 0.90"),
        ("intent accuracy, held-out", lambda r: r["intent_accuracy"], ""),
        ("intent macro-F1, held-out", lambda r: r["intent_macro_f1"], ""),
    ]
    for label, get, target in rows:
        lines.append(f"| {label} | " + " | ".join(fmt(get(results[n])) for n in names) + f" | {target} |")
    lines += ["", time_ratios(results), ""]
    if cv:
        lines += [f"## Cross-validation per intent (chosen pipeline, {folds} folds, training data)", "",
                  "| intent | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for intent, m in sorted(cv.items()):
            if isinstance(m, dict) and "f1-score" in m and intent not in ("macro avg", "weighted avg", "micro avg"):
                lines.append(f"| {intent} | {m['precision']:.3f}"
                             f" | {m['recall']:.3f} | {m['f1-score']:.3f} | {m['support']} |")
        for avg in ("macro avg", "weighted avg"):
            if avg in cv:
                m = cv[avg]
                lines.append(f"| **{avg}** | {m['precision']:.3f} | {m['recall']:.3f}"
                             f" | {m['f1-score']:.3f} | {m['support']} |")
        lines.append("")
    lines += ["## Held-out per intent (chosen pipeline)", "", "| intent | precision | recall | F1 | support |",
              "|---|---|---|---|---|"]
    for intent, m in chosen["per_intent"].items():
        lines.append(f"| {intent} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    # Sections below the marker are kept (other measurements, written by hand from their runs).
    kept = ""
    if path.exists() and MARKER in path.read_text():
        kept = path.read_text()[path.read_text().index(MARKER):]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n" + kept)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
