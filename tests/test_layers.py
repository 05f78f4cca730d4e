"""Layers that must not load Rasa: the campaign runner, the outbound SMS sender and their text
rules run in their own processes (``make run``'s ``campaigns``) and stay light."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.stack import PROJECT_ROOT

RASA_FREE = ["bot.campaigns", "bot.sms", "bot.messaging.text", "bot.subscriptions", "bot.privacy",
             "bot.spreadsheet", "bot.verification", "bot.nlu.answers", "bot.retention"]


@pytest.mark.parametrize("module", RASA_FREE)
def test_module_imports_without_rasa(module: str) -> None:
    code = f"import sys, {module}; sys.exit(2 if any(m == 'rasa' or m.startswith('rasa.') for m in sys.modules) else 0)"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120, env={"PYTHONPATH": str(PROJECT_ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, f"{module} loads Rasa" if done.returncode == 2 else done.stderr[-2000:]
