"""Shared translation between the Rasa tracker and ``bot.core.retention``."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from abc import ABCMeta, abstractmethod
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Text

import rasa_sdk
from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from bot.core.answer_signals import signals
from bot.core.conversation import Conversation, Turn
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import Catalogue
from bot.core.retention import RetentionService
from bot.nlu.model import reason_part
from bot.storage import outbox
from bot.storage.db import session_scope

logger = logging.getLogger(__name__)

RunFn = Callable[..., Awaitable[List[EventType]]]
_REPLAYING: contextvars.ContextVar[bool] = contextvars.ContextVar("replaying", default=False)


@contextmanager
def replaying() -> Iterator[None]:
    """While the outbox replays a kept action: a storage failure raises instead of being kept
    again (the outbox counts the attempt and tries later)."""
    token = _REPLAYING.set(True)
    try:
        yield
    finally:
        _REPLAYING.reset(token)


def _action_call(name: str, tracker: Tracker, domain: Dict[Text, Any]) -> dict[str, Any]:
    """The request Rasa sent for this action, as the action server's webhook receives it."""
    return {"next_action": name, "sender_id": tracker.sender_id,
            "tracker": tracker.current_state(), "domain": domain, "version": rasa_sdk.__version__}


async def off_the_loop(coroutine: Awaitable[List[EventType]]) -> List[EventType]:
    """Run an action's coroutine in a worker thread, on an event loop of its own. Its database
    work (synchronous SQLAlchemy through ``bot.core``) then never blocks the action server's event
    loop, which goes on serving every other conversation meanwhile."""
    return await asyncio.to_thread(asyncio.run, coroutine)  # type: ignore[arg-type]


def _kept_if_storage_fails(run: RunFn) -> RunFn:
    """Wrap an action's ``run``: when the project database is unavailable, the request goes to
    the durable outbox and the customer hears plainly what will happen (``utter_request_kept``),
    instead of a 30-second wait, silence and a lost request."""

    @functools.wraps(run)
    async def guarded(self: rasa_sdk.Action, dispatcher: CollectingDispatcher, tracker: Tracker,
                      domain: Dict[Text, Any]) -> List[EventType]:
        try:
            return await off_the_loop(run(self, dispatcher, tracker, domain))
        except Exception as exc:
            if _REPLAYING.get() or not outbox.is_unavailable(exc):
                raise
            customer_id = tracker.get_slot("customer_id")
            outbox.record("action", reason=f"project database unavailable in {self.name()}: "
                          f"{type(exc).__name__}", payload=_action_call(self.name(), tracker, domain),
                          channel=tracker.get_slot("channel") or tracker.get_latest_input_channel(),
                          conversation_id=tracker.sender_id,
                          customer_id=int(customer_id) if customer_id is not None else None,
                          language=tracker.get_slot("language"), text=latest_text(tracker))
            dispatcher.messages.clear()
            dispatcher.utter_message(response="utter_request_kept")
            return [SlotSet("retention_stage", None)]

    return guarded


class Action(rasa_sdk.Action, metaclass=ABCMeta):
    """Base of this project's actions: every ``run`` survives an unavailable project database
    (see :func:`_kept_if_storage_fails`) and runs off the action server's event loop
    (:func:`off_the_loop`). Abstract, so rasa_sdk registers only subclasses."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "run" in cls.__dict__:
            cls.run = _kept_if_storage_fails(cls.__dict__["run"])  # type: ignore[method-assign]

    @abstractmethod
    def name(self) -> Text:
        """The action's name in the domain."""


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """Loaded once per action-server process; an invalid catalogue fails at start-up."""
    return load_catalogue()


def message_source(tracker: Tracker) -> str:
    """Where the latest message came from, as its channel saw it (``rest:<ip>``, ``sms:<number>``)."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    source = metadata.get("source")
    if isinstance(source, str):
        return source
    channel = str(metadata.get("channel") or tracker.get_latest_input_channel() or "rest")
    return f"{channel}:{tracker.sender_id}"


def still_verified(tracker: Tracker) -> bool:
    """A conversation id is not a credential: an identity check passed from one source does not
    carry over to a message from another (a REST sender or a web session id someone else sends)."""
    if not tracker.get_slot("verified"):
        return False
    bound = tracker.get_slot("verified_source")
    return bound is None or bound == message_source(tracker)


def conversation_of(tracker: Tracker) -> Conversation:
    customer_id = tracker.get_slot("customer_id")
    return Conversation(
        conversation_id=tracker.sender_id,
        language=tracker.get_slot("language") or "es",
        channel=tracker.get_slot("channel") or tracker.get_latest_input_channel() or "web",
        customer_id=int(customer_id) if customer_id is not None else None,
        verified=still_verified(tracker),
        stage=tracker.get_slot("retention_stage"),
        pending=tracker.get_slot("pending_request"),
        plan_change_to=tracker.get_slot("plan_change_to"),
        asked_to_leave=asked_to_leave(tracker),
        reason=tracker.get_slot("churn_reason"),
        previous_text=next(iter(recent_user_texts(tracker, 2)[1:]), None),
    )


def asked_to_leave(tracker: Tracker) -> bool:
    """Whether the customer said, in this conversation's recent messages, that they want to
    leave (cancel or leaving words, or a cancel button's payload)."""
    for text in recent_user_texts(tracker, 12):
        if text.startswith("/cancel") or {"cancel", "leave", "considering"} & signals(text):
            return True
    return False


def last_bot_response(tracker: Tracker) -> str | None:
    """The name of the response the assistant said last ("utter_other_request"), if any."""
    for event in reversed(tracker.events or []):
        if event.get("event") == "bot":
            return (event.get("metadata") or {}).get("utter_action")
    return None


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
