"""Database fixtures: a real, migrated and seeded database per test (SQLite in tmp_path)."""

from __future__ import annotations

from pathlib import Path

from bot.storage.db import session_factory, upgrade_database
from bot.storage.seed import seed


def prepare_database(url: str, customers: int = 40) -> str:
    """Migrate the database at ``url`` and seed it (any engine: SQLite, PostgreSQL)."""
    upgrade_database(url)
    with session_factory(url)() as session:
        seed(session, customers)
        session.commit()
    return url


def make_database(directory: Path, customers: int = 40) -> str:
    return prepare_database(f"sqlite:///{directory / 'retention.db'}", customers)


