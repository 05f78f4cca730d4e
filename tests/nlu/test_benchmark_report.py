"""docs/benchmarks.md is written from measured results and says whether the data were the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.benchmark import MARKER, main, training_data_id, write_report


def result(f1: float, data: dict | None, train_seconds: float = 10.0, run: str = "run-1") -> dict:
    return {"cancel_detection_holdout": {"f1": f1}, "reason_macro_f1": 0.9, "intent_accuracy": 0.9,
            "intent_macro_f1": 0.9, "train_seconds": train_seconds, "parse_seconds": 2.0,
            "training_data": data, "date": "2026-11-29", "run": run,
            "per_intent": {"cancel": {"precision": 1.0, "recall": 0.5, "f1": 0.667, "support": 4}}}


def test_report_shows_both_pipelines_on_the_same_data_and_keeps_hand_written_sections(tmp_path: Path) -> None:
    data = training_data_id()
    assert data["examples"] > 1000 and len(data["sha256"]) == 12
    doc = tmp_path / "benchmarks.md"
    doc.write_text(f"old table\n{MARKER}\n## Kept section\n")
    write_report(doc, {"chosen (config.yml)": result(0.971, data), "rasa init default": result(0.937, data, 50.0)},
                 None, 3, 724, 1862)
    text = doc.read_text()
    assert "old table" not in text and text.endswith(f"{MARKER}\n## Kept section\n")
    assert f"same data: {data['examples']} examples" in text
    assert "| cancel-detection F1, held-out | 0.971 | 0.937 | >= 0.97 |" in text
    assert "(rasa init default: training 0.20, parsing 1.00)" in text


def test_time_ratios_only_compare_pipelines_measured_in_the_same_run(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    data = {"examples": 2, "sha256": "a"}
    write_report(doc, {"chosen (config.yml)": result(0.97, data, 30.0, run="run-2"),
                       "USE only (chosen before)": result(0.96, data, 10.0, run="run-2"),
                       "rasa init default": result(0.95, data, 50.0, run="run-1")}, None, 3, 1, 0)
    text = doc.read_text()
    assert "(USE only (chosen before): training 3.00, parsing 1.00)" in text
    assert "rasa init default: training" not in text
    write_report(doc, {"chosen (config.yml)": result(0.97, data, run="run-2"),
                       "rasa init default": result(0.95, data, run="run-1")}, None, 3, 1, 0)
    assert "no time ratio is given" in doc.read_text()


def test_report_warns_when_the_data_differ(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    write_report(doc, {"chosen (config.yml)": result(0.97, {"examples": 2, "sha256": "a"}),
                       "rasa init default": result(0.95, {"examples": 1, "sha256": "b"})}, None, 3, 1, 0)
    assert "not all trained on the same data" in doc.read_text()


def test_a_broken_results_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "results.json"
    broken.write_text("{not json")
    with pytest.raises(SystemExit) as stop:
        main(["--only", "rasa init default", "--skip-cv", "--results", str(broken)])
    assert stop.value.code == 2
    assert "not a results file" in capsys.readouterr().err
    assert broken.read_text() == "{not json"  # left as it was
