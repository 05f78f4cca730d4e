"""Database engine and sessions.

``DATABASE_URL`` selects the database. The default is an embedded SQLite file under
``var/`` so that ``make run`` works on a fresh machine; production uses PostgreSQL.
Only portable SQL is used (SQLAlchemy Core/ORM), never SQLite-only statements.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable, ContextManager, Iterator, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.config import settings
from bot.config.settings import PROJECT_ROOT

T = TypeVar("T")


def quiet_sqlite_decimal_warning() -> None:
    """SQLite stores Numeric as float and warns on every query; amounts here are cents."""
    import warnings

    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", message=r"Dialect sqlite\+pysqlite does \*not\* support Decimal",
                            category=SAWarning)


def database_error(exc: BaseException) -> str:
    """One line for a command-line tool whose database failed (never a traceback)."""
    detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return f"error: database: {detail} (is DATABASE_URL right and migrated? python -m bot.storage.seed)"


def database_url() -> str:
    """The configured database URL (``DATABASE_URL``), SQLite under ``var/`` by default."""
    return settings.database_url()


def sqlite_busy_timeout() -> float:
    """Seconds a write waits for a locked SQLite file (``DB_BUSY_TIMEOUT_SECONDS``, 5).

    Short on purpose: past it the request goes to the durable outbox (``bot.storage.outbox``) and the
    customer is told what will happen, instead of a long silence.
    """
    return settings.sqlite_busy_timeout()


def make_engine(url: str | None = None) -> Engine:
    """Create an engine; SQLite gets foreign keys and a busy timeout for concurrent writers."""
    url = url or database_url()
    if url.startswith("sqlite:///"):
        quiet_sqlite_decimal_warning()  # else every process of `make run` logs it on each query
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, future=True, connect_args={"timeout": sqlite_busy_timeout()})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(url, future=True, pool_pre_ping=True)


@lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """One engine per URL per process."""
    return make_engine(url or database_url())


def session_factory(url: str | None = None) -> sessionmaker:
    return sessionmaker(bind=get_engine(url or database_url()), future=True, expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transactional scope: commit on success, roll back on any error."""
    with transaction(session_factory(url)) as session:
        yield session


@contextmanager
def transaction(factory: Callable[[], Session]) -> Iterator[Session]:
    """A session of ``factory`` that commits on success, rolls back on any error and closes."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def in_session(factory: Callable[[], ContextManager[Session]], fn: Callable[[Session], T]) -> T:
    """``fn(session)`` in a session of ``factory`` (blocking: for ``asyncio.to_thread``)."""
    with factory() as session:
        return fn(session)


def upgrade_database(url: str | None = None) -> None:
    """Apply Alembic migrations up to ``head`` on the given database."""
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url or database_url())
    command.upgrade(cfg, "head")
