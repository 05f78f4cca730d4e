"""Database fixtures: a real, migrated and seeded database per test (SQLite in tmp_path)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ContextManager

from sqlalchemy.orm import Session

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




def committing_sessions(db_session: Session) -> Callable[[], ContextManager[Session]]:
    """A session factory on ``db_session``'s database whose sessions commit when they end
    (what the SMS runners get in the product)."""
    @contextmanager
    def scope() -> Iterator[Session]:
        session = Session(bind=db_session.get_bind(), expire_on_commit=False)
        try:
            yield session
            session.commit()
        finally:
            session.close()
    return scope
