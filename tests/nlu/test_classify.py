"""`python -m bot.nlu.classify`: one JSON line per input line, on the bot's own model and code path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINES = [
    "me doy de baja porque me cobraron dos veces",
    "quiero cancelar la visita del técnico del jueves",
    "I want to close my account, it's too expensive",
    "kiero darme d baja",
    "",
    "😀😀",
    "x" * 20000,
]


@pytest.fixture(scope="module")
def results() -> list[dict]:
    if not list((ROOT / "models").glob("*.tar.gz")):
        pytest.fail("no trained model under models/: run make train first", pytrace=False)
    proc = subprocess.run([sys.executable, "-m", "bot.nlu.classify"], input="\n".join(LINES) + "\n", text=True,
                          capture_output=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_one_json_line_per_input_with_the_documented_fields(results: list[dict]) -> None:
    assert len(results) == len(LINES)
    for line, r in zip(LINES, results):
        assert set(r) == {"text", "language", "cancel", "reason", "confidence"}
        assert r["text"] == line[:5000]
        assert r["language"] in ("es", "en") and isinstance(r["cancel"], bool)
        assert 0.0 <= r["confidence"] <= 1.0


def test_wish_and_reason_in_one_message(results: list[dict]) -> None:
    assert results[0]["cancel"] is True and results[0]["reason"] == "billing_error"
    assert results[0]["language"] == "es"


def test_lookalike_is_not_a_cancellation(results: list[dict]) -> None:
    assert results[1]["cancel"] is False


def test_english_and_sms_shorthand(results: list[dict]) -> None:
    assert results[2]["language"] == "en" and results[2]["cancel"] is True and results[2]["reason"] == "price"
    assert results[3]["language"] == "es" and results[3]["cancel"] is True


def test_empty_and_odd_lines_are_answered(results: list[dict]) -> None:
    assert results[4]["cancel"] is False and results[4]["reason"] is None
    assert results[5]["cancel"] is False


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "bot.nlu.classify", "--model", str(tmp_path)], input="hola\n",
                          text=True, capture_output=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and "make train" in proc.stderr and "Traceback" not in proc.stderr
