"""Durable outbox: requests the product could not serve when a part of it failed.

When the project database is locked or down, when the action server cannot be reached, or
when a message could not be processed at all, the request is written here (its own SQLite
file, ``var/outbox.db``, independent of the project database and of the tracker store) and
the customer is told plainly what will happen. ``python -m bot.cli.outbox replay`` (a process
of ``make run``, running ``actions.outbox_replay``) applies what can be applied once the failed
part is back, and opens a handoff ticket for the rest, so that a person confirms the outcome:
nothing a customer asked for is lost. This module is only the store.

Kinds:

- ``action``: an action that failed on the project database; its action call (tracker state
  and domain, as Rasa sent it) is run again by the same action code.
- ``unserved``: a message nobody could answer (action server down, tracker store or NLU
  failure); a person follows it up.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.config import settings

KINDS = ("action", "unserved")
PENDING, APPLIED, FAILED = "pending", "applied", "failed"
MAX_ATTEMPTS = 50  # replays, about 50 minutes at ``--every 60``, before a person is asked
# Error words of the databases that mean "unavailable", not "wrong request".
UNAVAILABLE_WORDS = ("locked", "busy", "unable to open", "could not connect", "connection refused",
                     "server closed", "terminating connection", "timeout", "timed out",
                     "no such host", "connection reset", "is starting up", "shutting down",
                     "disk i/o")

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel TEXT,
    conversation_id TEXT,
    customer_id INTEGER,
    language TEXT,
    text TEXT,
    reason TEXT,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    done_at TEXT,
    outcome TEXT
)
"""


@dataclass(frozen=True)
class Entry:
    id: str
    created_at: str
    kind: str
    channel: str | None
    conversation_id: str | None
    customer_id: int | None
    language: str | None
    text: str | None
    reason: str | None
    payload: dict[str, Any]
    status: str
    attempts: int
    last_error: str | None
    outcome: str | None


def outbox_path() -> Path:
    """``OUTBOX_PATH``, else ``var/outbox.db``."""
    return settings.outbox_path()


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def _connect(path: Path | None = None) -> sqlite3.Connection:
    path = path or outbox_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # created private: it holds what customers wrote
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(str(path), timeout=10, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # a recorded request survives a power cut
    conn.execute(_SCHEMA)
    return conn


def is_unavailable(exc: BaseException) -> bool:
    """True when ``exc`` says a database is unavailable (locked, down, unreachable)."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError

    if isinstance(exc, (InterfaceError, TimeoutError)):
        return True
    if isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError)
                                             and exc.connection_invalidated):
        return True
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and any(w in text for w in UNAVAILABLE_WORDS)


def record(kind: str, *, reason: str, payload: dict[str, Any] | None = None,
           channel: str | None = None, conversation_id: str | None = None,
           customer_id: int | None = None, language: str | None = None,
           text: str | None = None, path: Path | None = None) -> str:
    """Write one request durably and return its id (raises only if the disk itself fails)."""
    if kind not in KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}")
    entry_id = uuid.uuid4().hex
    with closing(_connect(path)) as conn:
        conn.execute(
            "INSERT INTO outbox (id, created_at, kind, channel, conversation_id, customer_id, "
            "language, text, reason, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (entry_id, _now(), kind, channel, conversation_id, customer_id, language,
             text, reason, json.dumps(payload or {}, ensure_ascii=False, default=str)))
    logger.critical("Request %s kept in the outbox (%s, %s): %s", entry_id, kind,
                    conversation_id, reason)
    return entry_id


def entries(status: str | None = None, path: Path | None = None) -> list[Entry]:
    """Entries, oldest first; only those with ``status`` when given."""
    query = "SELECT * FROM outbox" + (" WHERE status = ?" if status else "") + \
        " ORDER BY created_at, rowid"
    with closing(_connect(path)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(query, (status,) if status else ()).fetchall()
    return [_entry(row) for row in rows]


def _entry(row: sqlite3.Row) -> Entry:
    data = dict(row)
    data.pop("done_at", None)
    data["payload"] = json.loads(data["payload"] or "{}")
    return Entry(**data)


def mark(entry_id: str, status: str, *, error: str | None = None, outcome: str | None = None,
          path: Path | None = None) -> None:
    with closing(_connect(path)) as conn:
        conn.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, outcome = "
            "COALESCE(?, outcome), done_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END "
            "WHERE id = ?", (status, error, outcome, status, _now(), entry_id))
