"""Durable outbox: requests the product could not serve when a part of it failed.

When the project database is locked or down, when the action server cannot be reached, or
when a message could not be processed at all, the request is written here (its own SQLite
file, ``var/outbox.db``, independent of the project database and of the tracker store) and
the customer is told plainly what will happen. ``python -m bot.storage.outbox replay`` (a process of
``make run``) applies what can be applied once the failed part is back, and opens a handoff
ticket for the rest, so that a person confirms the outcome: nothing a customer asked for is
lost.

Kinds:

- ``action``: an action that failed on the project database; its action call (tracker state
  and domain, as Rasa sent it) is run again by the same action code.
- ``unserved``: a message nobody could answer (action server down, tracker store or NLU
  failure); a person follows it up.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

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


def _mark(entry_id: str, status: str, *, error: str | None = None, outcome: str | None = None,
          path: Path | None = None) -> None:
    with closing(_connect(path)) as conn:
        conn.execute(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, outcome = "
            "COALESCE(?, outcome), done_at = CASE WHEN ? = 'pending' THEN NULL ELSE ? END "
            "WHERE id = ?", (status, error, outcome, status, _now(), entry_id))


# --- replay -----------------------------------------------------------------------------------


def _run_action(entry: Entry) -> list[str]:
    """Run the stored action call again; the texts it would have said (raises on failure)."""
    import asyncio

    from rasa_sdk.executor import ActionExecutor

    from actions.common import replaying

    executor = ActionExecutor()
    executor.register_package("actions")
    with replaying():
        result = asyncio.run(executor.run(entry.payload))
    return [r.get("text") or r.get("response") or "" for r in (result or {}).get("responses", [])]


def _confirmation_ticket(entry: Entry, outcome: str) -> None:
    """A person confirms to the customer what was (or could not be) done."""
    from bot.core.handoff import open_ticket
    from bot.storage.db import session_scope

    with session_scope() as session:
        open_ticket(session, conversation_id=entry.conversation_id or f"outbox-{entry.id}",
                    trigger="fault", channel=entry.channel or "unknown",
                    language=entry.language or "es", customer_id=entry.customer_id, case=None,
                    verbatim=(f"[kept {entry.created_at}: {entry.reason}] {entry.text or ''} "
                              f"-- {outcome} Confirm it to the customer by SMS or e-mail."))


def replay_once(path: Path | None = None) -> tuple[int, int]:
    """Apply pending entries: (applied, still pending). Never raises for one bad entry."""
    applied = waiting = 0
    for entry in entries(PENDING, path):
        try:
            if entry.kind == "action":
                said = _run_action(entry)
                outcome = "Applied after the fault. The assistant would have said: " + \
                    " | ".join(t for t in said if t)
            else:
                outcome = "Nobody answered the customer at the time."
            _confirmation_ticket(entry, outcome)
        except Exception as exc:  # noqa: BLE001 - kept for the next run, with its error
            status = FAILED if entry.attempts + 1 >= MAX_ATTEMPTS else PENDING
            _mark(entry.id, status, error=f"{type(exc).__name__}: {exc}"[:500], path=path)
            waiting += status == PENDING
            logger.warning("Outbox entry %s not applied yet: %s", entry.id, exc)
            continue
        _mark(entry.id, APPLIED, outcome=outcome[:2000], path=path)
        applied += 1
    return applied, waiting


def _print_entries(rows: Iterator[Entry] | list[Entry]) -> None:
    for e in rows:
        print(f"{e.created_at} {e.status:8} {e.kind:9} {e.conversation_id or '-'} "
              f"attempts={e.attempts} {e.reason}: {e.text!r}")


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    from bot.cli.periodic import every_error, repeat

    ap = argparse.ArgumentParser(prog="python -m bot.storage.outbox", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="show every kept request")
    rp = sub.add_parser("replay", help="apply pending requests (once, or --every SECONDS)")
    rp.add_argument("--every", type=int, default=0, metavar="SECONDS")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "list":
        _print_entries(entries())
        return 0
    if error := every_error(args.every):
        print(error, file=sys.stderr)
        return 2

    def once() -> int:
        applied, waiting = replay_once()
        if applied or waiting:
            print(f"outbox: {applied} applied, {waiting} waiting", flush=True)
        return 0

    return repeat(once, args.every, "outbox replay")


if __name__ == "__main__":
    raise SystemExit(main())
