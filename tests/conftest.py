"""Shared pytest fixtures."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:  # so that `bot` and `tests.support.stack` import from anywhere
    sys.path.insert(0, str(PROJECT_ROOT))

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tests.support.pg import PostgresServer
    from tests.support.stack import Stack


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
    """Seeded database, action server, Rasa and website on free ports (see tests/support/stack.py)."""
    from tests.support.stack import Stack, find_model

    model = find_model()
    if model is None:
        pytest.fail("no trained model under models/: run make train first", pytrace=False)
    with Stack(model=model) as running:
        yield running


@pytest.fixture()
def db_url(tmp_path: Path) -> str:
    """A migrated and seeded SQLite database of the product (tests/support/db_fixtures.py)."""
    from tests.support.db_fixtures import make_database

    return make_database(tmp_path)


@pytest.fixture()
def db_session(db_url: str) -> Iterator[Session]:
    from bot.storage.db import session_factory

    session = session_factory(db_url)()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole test session; fails (never skips) without binaries."""
    from tests.support.pg import PostgresServer, PostgresUnavailable

    try:
        server = PostgresServer()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    with server:
        yield server
