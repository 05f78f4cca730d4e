"""Shared pytest fixtures."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # so that `bot` and `tests.stack` import from anywhere
    sys.path.insert(0, str(PROJECT_ROOT))

if TYPE_CHECKING:
    from tests.stack import Stack


@pytest.fixture(autouse=True)
def private_outbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test keeps unserved requests in its own outbox, never in the product's var/."""
    path = tmp_path / "outbox.db"
    monkeypatch.setenv("OUTBOX_PATH", str(path))
    return path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: needs the whole stack (and a trained model)")


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Seeded database, action server, Rasa and website on free ports (see tests/stack.py)."""
    from tests.stack import Stack, find_model

    model = find_model()
    if model is None:
        pytest.fail("no trained model under models/: run make train first", pytrace=False)
    with Stack(model=model) as running:
        yield running
