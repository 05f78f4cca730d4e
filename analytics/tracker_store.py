"""Reading Rasa's tracker store (``TRACKER_DB_URL``): the NLU fallback rate and conversation transcripts.

The tracker store is another database than the project's, written by Rasa's ``SQLTrackerStore``;
:data:`EVENTS` describes its ``events`` table, which the dashboard only reads (``analytics.demo_rows``
writes demo transcripts into it). The tracker store knows no case, so of the filters only the date
range applies. Kept apart so that everything that touches Rasa's table is in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Column as SAColumn
from sqlalchemy import Float, Integer, MetaData, String, Text, create_engine, func, select
from sqlalchemy import Table as SATable
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from analytics.filters import Filters
from analytics.results import NluStats
from bot.config import settings

_TRACKER_META = MetaData()
EVENTS = SATable(
    "events", _TRACKER_META,
    SAColumn("id", Integer, primary_key=True),
    SAColumn("sender_id", String(255), nullable=False, index=True),
    SAColumn("type_name", String(255), nullable=False),
    SAColumn("timestamp", Float),
    SAColumn("intent_name", String(255)),
    SAColumn("action_name", String(255)),
    SAColumn("data", Text),
)  # Rasa 3.6's SQLTrackerStore.SQLEvent, read-only here


def tracker_url() -> str:
    return settings.tracker_db_url()


@lru_cache(maxsize=4)
def _tracker_engine_for(url: str) -> Engine:
    return create_engine(url, future=True)


def tracker_engine(url: str | None = None) -> Engine | None:
    """A read-only engine on Rasa's tracker store (``TRACKER_DB_URL``); None when a SQLite
    tracker file does not exist yet (no conversation so far)."""
    url = url or tracker_url()
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):].split("?", 1)[0])
        if not path.is_file():
            return None
        return _tracker_engine_for(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
    return _tracker_engine_for(url)


def _epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=timezone.utc).timestamp()


def nlu_stats(tracker: Engine | None, filters: Filters) -> NluStats:
    if tracker is None:
        return NluStats()
    start, end = filters.bounds()
    conds = [EVENTS.c.type_name == "user"]
    if start is not None:
        conds.append(EVENTS.c.timestamp >= _epoch(start))
    if end is not None:
        conds.append(EVENTS.c.timestamp < _epoch(end))
    query = select(func.count()).where(*conds)
    fallback_texts = select(EVENTS.c.data).where(*conds, EVENTS.c.intent_name == "nlu_fallback")
    try:
        with tracker.connect() as conn:
            total = conn.execute(query).scalar_one()
            fallbacks = sum(1 for (data,) in conn.execute(fallback_texts) if not _identity_answer(data))
    except SQLAlchemyError:
        return NluStats()
    return NluStats(available=True, user_messages=total or 0, fallbacks=fallbacks)


def _identity_answer(data: str | None) -> bool:
    """A customer number or a postcode typed as asked: understood, not a fallback."""
    from bot.core.verification import parse_postcode, parse_ref

    try:
        text = (json.loads(data) if data else {}).get("text") or ""
    except (ValueError, AttributeError):
        return False
    return len(text) <= 40 and (parse_ref(text) is not None or parse_postcode(text) is not None)


@dataclass(frozen=True)
class TranscriptLine:
    speaker: str  # "user" | "bot"
    text: str
    at: datetime | None
    intent: str | None = None


def transcript(tracker: Engine | None, conversation_id: str, limit: int = 2000) -> list[TranscriptLine] | None:
    """The conversation's user and bot messages in order; None when the tracker store is unavailable."""
    if tracker is None:
        return None
    query = (select(EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.intent_name, EVENTS.c.data)
             .where(EVENTS.c.sender_id == conversation_id, EVENTS.c.type_name.in_(("user", "bot")))
             .order_by(EVENTS.c.id).limit(limit))
    try:
        with tracker.connect() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError:
        return None
    out = []
    for type_name, ts, intent, data in rows:
        try:
            payload = json.loads(data) if data else {}
        except ValueError:
            payload = {}
        text = payload.get("text") if isinstance(payload, dict) else None
        if not text and isinstance(payload, dict) and payload.get("data"):
            text = json.dumps(payload["data"], ensure_ascii=False)[:500]
        at = datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None) if ts else None
        out.append(TranscriptLine(speaker=type_name, text=text or "", at=at,
                                  intent=intent if type_name == "user" else None))
    return out
