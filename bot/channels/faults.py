"""What the Rasa server does when a part of it fails: tell the customer, keep the request.

Rasa 3.6 has three behaviours that lose what a customer asked, and no setting to change them:

- every tracker store is wrapped in ``FailSafeTrackerStore``, which falls back to an
  in-memory store when the database is locked or down: the customer is answered, but the
  conversation state is gone afterwards and the transcript is never stored;
- ``SQLTrackerStore.session_scope`` exits the whole process on any ``ValueError`` (it
  assumes a missing PostgreSQL schema), so one odd value stops the server;
- a custom action that cannot reach the action server is logged and skipped, and the
  customer hears the next prediction (often "no lo he entendido") and then silence.

:func:`install` (called by every channel of this project when Rasa builds its routes, before
the agent is loaded) replaces them: a failing tracker store raises after a short retry, a
``ValueError`` is an error of that request only, an unreachable action server gets a polite
reply. :func:`guarded` wraps a channel's ``on_new_message`` so that any failure of a turn
becomes that polite reply plus an outbox entry (``bot.storage.outbox``) that a person follows up.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
from collections.abc import Awaitable, Callable, Generator
from typing import Any

from bot.config import settings
from bot.storage import outbox

logger = logging.getLogger(__name__)

FAULT_TEXT = {
    "es": "Perdona, ahora mismo tengo un problema técnico y no he podido atender tu mensaje. "
          "Lo he guardado: una persona lo revisará y te contestará en menos de 24 horas, no "
          "hace falta que lo repitas.",
    "en": "Sorry, I have a technical problem right now and couldn't handle your message. "
          "I've kept it: a person will review it and answer you within 24 hours, there is no "
          "need to repeat it.",
}
SAVE_RETRIES = (0.2, 0.5, 1.0, 2.0, 3.0)  # seconds between tries of a tracker read or write

_installed = False


class TrackerStoreUnavailable(RuntimeError):
    """The conversation store could not be read or written: the turn must not go on."""


def fault_text(language: str | None) -> str:
    return FAULT_TEXT.get(language or "es", FAULT_TEXT["es"])


def _language_of(message: Any) -> str | None:
    metadata = getattr(message, "metadata", None) or {}
    language = metadata.get("language") if isinstance(metadata, dict) else None
    if language in FAULT_TEXT:
        return language
    try:
        from bot.core.language import pick

        return pick(getattr(message, "text", "") or "", None)
    except Exception:  # noqa: BLE001 - a language guess must never fail the reply
        return None


def _keep(kind_reason: str, message: Any, language: str | None) -> None:
    metadata = getattr(message, "metadata", None) or {}
    try:
        outbox.record("unserved", reason=kind_reason,
                      channel=getattr(message, "input_channel", None)
                      or (metadata.get("channel") if isinstance(metadata, dict) else None),
                      conversation_id=getattr(message, "sender_id", None), language=language,
                      text=(getattr(message, "text", "") or "")[:2000])
    except Exception:  # noqa: BLE001 - the disk itself failed; the log is all that is left
        logger.critical("Could not keep an unserved message of %s in the outbox.",
                        getattr(message, "sender_id", None), exc_info=True)


def guarded(on_new_message: Callable[[Any], Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
    """``on_new_message`` that never fails a channel: a turn that raises is kept in the outbox
    and answered with :data:`FAULT_TEXT` (replies of the failed turn are dropped, since its
    state was not stored)."""

    async def handle(message: Any) -> Any:
        try:
            with turn():
                return await on_new_message(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - see the docstring
            logger.error("Turn of %s failed (%s: %s); the message is kept in the outbox.",
                         getattr(message, "sender_id", "?"), type(exc).__name__,
                         str(exc).splitlines()[0][:200] if str(exc) else "")
            language = _language_of(message)
            await asyncio.to_thread(_keep, f"turn failed: {type(exc).__name__}", message, language)
            output = getattr(message, "output_channel", None)
            if output is not None:
                if isinstance(getattr(output, "messages", None), list):
                    output.messages.clear()
                with contextlib.suppress(Exception):
                    await output.send_text_message(message.sender_id, fault_text(language))
            return None

    return handle


# --- Rasa replacements ------------------------------------------------------------------------


def loud_tracker_store(store: Any) -> Any:
    """``store`` where Rasa puts ``FailSafeTrackerStore``: a failed read or write is retried a
    few times, then raises :class:`TrackerStoreUnavailable` (never an in-memory fallback)."""
    return _loud_class()(store)


@functools.lru_cache(maxsize=1)
def _loud_class() -> type:
    from rasa.core.tracker_store import TrackerStore

    class LoudTrackerStore(TrackerStore):
        def __init__(self, store: TrackerStore) -> None:
            self._store = store
            super().__init__(store.domain, store.event_broker)

        @property
        def domain(self) -> Any:
            return self._store.domain

        @domain.setter
        def domain(self, domain: Any) -> None:
            self._store.domain = domain

        async def retrieve(self, sender_id: str) -> Any:
            return await self._call("read", self._store.retrieve, sender_id)

        async def retrieve_full_tracker(self, sender_id: str) -> Any:
            return await self._call("read", self._store.retrieve_full_tracker, sender_id)

        async def keys(self) -> Any:
            return await self._call("read", self._store.keys)

        async def save(self, tracker: Any) -> None:
            await self._call("write", self._store.save, tracker)

        @staticmethod
        async def _call(what: str, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
            for pause in (*SAVE_RETRIES, None):
                try:
                    return await fn(*args)
                except Exception as exc:  # noqa: BLE001 - retried, then raised loudly
                    if pause is None:
                        logger.critical("The conversation store failed to %s: %s", what, exc)
                        raise TrackerStoreUnavailable(f"tracker store {what} failed: "
                                                      f"{type(exc).__name__}") from exc
                    await asyncio.sleep(pause)
            return None  # not reached

    return LoudTrackerStore


def _session_scope_without_exit(self: Any) -> Generator[Any, None, None]:
    """``SQLTrackerStore.session_scope`` minus the process exit on ``ValueError``."""
    from rasa.core.tracker_store import ensure_schema_exists

    session = self.sessionmaker()
    try:
        ensure_schema_exists(session)
        yield session
    finally:
        session.close()


#: the turn being handled (set by :func:`guarded` for each customer message): once one of its
#: actions timed out, its other actions fail at once instead of each waiting out the timeout (a
#: new conversation's session start and first action would wait twice); the next message tries
#: the action server again
_TURN: contextvars.ContextVar[dict[str, bool] | None] = contextvars.ContextVar("nubia_turn", default=None)


@contextlib.contextmanager
def turn() -> Generator[None, None, None]:
    token = _TURN.set({"hung": False})
    try:
        yield
    finally:
        _TURN.reset(token)


def _remote_action_run(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def run(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> Any:
        from rasa.core.actions.action import ActionExecutionRejection
        from rasa.shared.core.events import BotUttered, FollowupAction
        from rasa.shared.exceptions import RasaException

        state = _TURN.get()
        try:
            if state is not None and state["hung"]:
                raise asyncio.TimeoutError  # an action of this turn already waited it out
            try:
                return await asyncio.wait_for(original(self, output_channel, nlg, tracker, domain),
                                              settings.action_timeout_seconds())
            except asyncio.TimeoutError:
                if state is not None:
                    state["hung"] = True
                raise
        except ActionExecutionRejection:
            raise
        except (RasaException, asyncio.TimeoutError) as exc:  # down, failing, or hanging
            if self.name() == "action_session_start":
                # the session still starts (Rasa's own default); the customer's message is
                # answered, or kept, by the action that fails next
                from rasa.core.actions.action import ActionSessionStart

                logger.error("action_session_start failed (%s); Rasa's default is used.", exc)
                return await ActionSessionStart().run(output_channel, nlg, tracker, domain)
            if _fault_said_this_turn(tracker):
                return [FollowupAction("action_listen")]
            language = tracker.get_slot("language") if "language" in tracker.slots else None
            latest = tracker.latest_message
            logger.error("Action %s failed (%s); the customer is told and the message kept.",
                         self.name(), exc)
            await asyncio.to_thread(
                _keep, f"action server unavailable ({self.name()})",
                _Message(tracker.sender_id, getattr(latest, "text", "") or "",
                         tracker.get_latest_input_channel(), {"language": language}), language)
            return [BotUttered(fault_text(language), metadata={"fault": True}),
                    FollowupAction("action_listen")]

    return run


def _fault_said_this_turn(tracker: Any) -> bool:
    from rasa.shared.core.events import BotUttered, UserUttered

    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered) and (event.metadata or {}).get("fault"):
            return True
    return False


class _Message:
    """The parts of a ``UserMessage`` :func:`_keep` reads."""

    def __init__(self, sender_id: str, text: str, input_channel: str | None,
                 metadata: dict[str, Any]) -> None:
        self.sender_id, self.text = sender_id, text
        self.input_channel, self.metadata = input_channel, metadata


def install() -> None:
    """Put the replacements in place (once per process; Rasa must be importable)."""
    global _installed
    if _installed:
        return
    from rasa.core import agent, tracker_store
    from rasa.core.actions import action

    def _create_tracker_store(store: Any, domain: Any) -> Any:
        if store is None:
            store = tracker_store.InMemoryTrackerStore(domain)
        else:
            store.domain = domain
        return loud_tracker_store(store)

    agent.Agent._create_tracker_store = staticmethod(_create_tracker_store)
    tracker_store.SQLTrackerStore.session_scope = contextlib.contextmanager(
        _session_scope_without_exit)
    action.RemoteAction.run = _remote_action_run(action.RemoteAction.run)
    _installed = True
