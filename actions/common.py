"""Shared translation between the Rasa tracker and ``bot.retention``."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from bot.db import session_scope
from bot.nlu_model import reason_part
from bot.offers import Catalogue, load_catalogue
from bot.retention import Conversation, RetentionService, Turn

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """Loaded once per action-server process; an invalid catalogue fails at start-up."""
    return load_catalogue()


def conversation_of(tracker: Tracker) -> Conversation:
    customer_id = tracker.get_slot("customer_id")
    return Conversation(
        conversation_id=tracker.sender_id,
        language=tracker.get_slot("language") or "es",
        channel=tracker.get_slot("channel") or tracker.get_latest_input_channel() or "web",
        customer_id=int(customer_id) if customer_id is not None else None,
        verified=bool(tracker.get_slot("verified")),
        stage=tracker.get_slot("retention_stage"),
        pending=tracker.get_slot("pending_request"),
        plan_change_to=tracker.get_slot("plan_change_to"),
    )


def latest_text(tracker: Tracker) -> str:
    return (tracker.latest_message or {}).get("text") or ""


def recent_user_texts(tracker: Tracker, count: int) -> list[str]:
    """The customer's last ``count`` messages, newest first (the latest one included)."""
    texts = [e.get("text") or "" for e in reversed(tracker.events or []) if e.get("event") == "user"]
    if not texts and latest_text(tracker):
        texts = [latest_text(tracker)]
    return texts[:count]


@contextmanager
def service() -> Iterator[tuple[Session, RetentionService]]:
    with session_scope() as session:
        yield session, RetentionService(session, catalogue())


def emit(turn: Turn, dispatcher: CollectingDispatcher) -> list[EventType]:
    """Say the turn's responses and return its slot events."""
    for reply in turn.replies:
        dispatcher.utter_message(response=reply.response, **reply.params)
    events: list[EventType] = [SlotSet(k, v) for k, v in turn.slots.items()]
    events.append(SlotSet("retention_stage", turn.stage))
    return events


def reason_from_intent(intent: str | None) -> tuple[bool, str | None]:
    """``cancel+reason_price`` -> (True, "price"); ``reason_low_usage`` -> (False, "low_usage")."""
    if not intent:
        return False, None
    part = reason_part(intent)
    return "cancel" in intent.split("+"), part[len("reason_"):] if part else None


def slots_from(values: dict[str, Any]) -> list[EventType]:
    return [SlotSet(k, v) for k, v in values.items()]
