"""The demo's phones: where outbound SMS go when Twilio is not configured and ``SMS_DEMO_PHONE=1``.

``make run`` sets it, so that the identity check of an anonymous visitor texts its one-time code
even on a machine without Twilio (a postcode alone is guessable), and win-back SMS can be seen.
Every text is kept in its own SQLite file (``var/demo_phone.db``, ``DEMO_PHONE_PATH``); the demo
website shows the texts of the seven demo personas' phones only (``/demo/phone``), so a code
sent to any other customer's number is read by no one, as with a real phone nobody holds.
Real Twilio settings always win over this.
"""

from __future__ import annotations

import sqlite3
import uuid
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from bot.config import settings

#: the number texts come from in the demo (Twilio's magic test number, never a real line)
DEMO_FROM_NUMBER = "+15005550006"


def enabled() -> bool:
    """``SMS_DEMO_PHONE``: 1/true/yes/on."""
    return settings.sms_demo_phone()


def path() -> Path:
    return settings.demo_phone_path()


def _connect() -> sqlite3.Connection:
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(target, timeout=5)
    conn.execute("CREATE TABLE IF NOT EXISTS texts (sid TEXT PRIMARY KEY, to_number TEXT NOT NULL, "
                 "body TEXT NOT NULL, sent_at TEXT NOT NULL)")
    return conn


@dataclass(frozen=True)
class Text:
    sid: str
    to_number: str
    body: str
    sent_at: str


def record(to_number: str, body: str) -> str:
    """Keep one text; its message id, like Twilio's."""
    sid = "SMdemo" + uuid.uuid4().hex
    with closing(_connect()) as conn, conn:
        conn.execute("INSERT INTO texts VALUES (?, ?, ?, ?)",
                     (sid, to_number, body, datetime.now(timezone.utc).isoformat(timespec="seconds")))
    return sid


def texts_to(numbers: list[str], limit: int = 20) -> list[Text]:
    """The latest texts to these numbers, newest first."""
    if not numbers or not path().exists():
        return []
    marks = ",".join("?" * len(numbers))
    with closing(_connect()) as conn:
        rows = conn.execute(f"SELECT sid, to_number, body, sent_at FROM texts WHERE to_number IN ({marks}) "
                            "ORDER BY sent_at DESC, rowid DESC LIMIT ?", (*numbers, limit)).fetchall()
    return [Text(*row) for row in rows]


class _Message:
    def __init__(self, sid: str) -> None:
        self.sid = sid


class _Messages:
    def create(self, *, to: str, from_: str, body: str) -> _Message:
        del from_
        return _Message(record(to, body))


class DemoPhoneClient:
    """Stands where ``twilio.rest.Client`` stands in ``bot.messaging.sms.SmsSender``: ``messages.create``."""

    messages = _Messages()
