"""What the Twilio SMS and voice channels share: trust, idempotency and conversation state
(the rendering of SMS text and speech is ``bot.channels.twilio_rendering``).

Everything here is plain Python (no Sanic request handling), so it is unit-tested without a
server:

* **Signatures.** Twilio signs each webhook with the account's auth token over the URL it
  called plus the POST parameters (``X-Twilio-Signature``). :func:`signed_url` rebuilds that
  URL (``PUBLIC_BASE_URL`` + path + query behind a proxy or tunnel, else the request's URL)
  and :func:`signature_is_valid` checks it with the ``twilio`` library's ``RequestValidator``.
  The form is parsed by :func:`parse_form` *keeping blank values*: Twilio signs empty
  parameters too, and Sanic's ``request.form`` drops them.
* **Idempotency.** Twilio retries webhooks; :func:`claim` records a key (``sms:<MessageSid>``,
  ``voice:<CallSid>:<turn>``) in the ``processed_messages`` table and says whether this is
  its first delivery.
* **Choices.** The choices offered last are remembered per conversation
  (:class:`BoundedTTLStore`) so that a reply "1" or a key press maps back to the button's payload.

Payload contract with the actions (a bot message's ``custom`` JSON):

* ``{"handoff": true}``: the customer asked for a person (voice: ``<Dial>`` the agent);
* ``{"end_call": true}``: the conversation is over (voice: ``<Hangup>`` after speaking);
* ``{"language": "es"|"en"}``: the conversation's language, when an action knows it.

Until the actions send them, ``utter_handoff`` and ``utter_goodbye`` (Rasa adds the response
name to each bot message as ``utter_action``) mean the same.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from twilio.request_validator import RequestValidator

from bot.channels import safe_text
from bot.channels.rest import SERVER_OWNED_KEYS
from bot.channels.twilio_rendering import (  # noqa: F401 - re-exported for the channels
    DEFAULT_LANGUAGE,
    LANGUAGE_KEY,
    BotMessage,
    Choice,
    CollectingOutput,
    bcp47,
    choice_number,
    pick_language,
    render_sms,
    render_voice,
    resolve_choice,
    sms_choice_prompt,
    turn_language,
    voice_choice_prompt,
)
from bot.core.customers import find_customer
from bot.core.language import LANGUAGES
from bot.core.privacy import mask_phone  # noqa: F401 - re-exported for the channels
from bot.messaging.text import (  # noqa: F401 - re-exported for the channels
    E164_RE,
    SMS_SEGMENT_CHARS,
    e164,
    plain_text,
    split_segments,
    strip_emoji,
)
from bot.storage.db import session_scope
from bot.storage.models import ProcessedMessage

logger = logging.getLogger(__name__)

MAX_INBOUND_CHARS = 2000


# --- signatures -----------------------------------------------------------------------------


class FormParams(dict[str, list[str]]):
    """POST parameters with every value kept (``getlist`` is what ``RequestValidator`` uses)."""

    def getlist(self, name: str) -> list[str]:
        return list(self.get(name, []))

    def first(self, name: str) -> str | None:
        values = self.get(name)
        return values[0] if values else None


def parse_form(body: bytes | None) -> FormParams:
    """An ``application/x-www-form-urlencoded`` body, blank values included."""
    try:
        text = (body or b"").decode("utf-8")
    except UnicodeDecodeError:
        return FormParams()
    return FormParams(parse_qs(text, keep_blank_values=True))


def signed_url(request_url: str, path: str, query_string: str, public_base: str | None) -> str:
    """The URL Twilio signed: ``public_base`` + path (+ query) when set, else the request URL."""
    if not public_base:
        return request_url
    url = public_base.rstrip("/") + path
    return f"{url}?{query_string}" if query_string else url


def signature_is_valid(auth_token: str | None, url: str, params: FormParams,
                       signature: str | None) -> bool:
    """True only for a request signed with ``auth_token`` for exactly this URL and body."""
    if not auth_token or not signature:
        return False
    try:
        return bool(RequestValidator(auth_token).validate(url, params, signature))
    except Exception:  # a malformed URL or header must never become a 500
        logger.warning("Could not check a Twilio signature.", exc_info=True)
        return False


def signed_params(request: Any, auth_token: str | None, public_base: str | None, kind: str) -> FormParams | None:
    """The webhook's form parameters when Twilio signed the request, else None (answer 403)."""
    params = parse_form(request.body)
    url = signed_url(request.url, request.path, request.query_string, public_base)
    if signature_is_valid(auth_token, url, params, request.headers.get("X-Twilio-Signature")):
        return params
    logger.warning("Refused a %s webhook request with a missing or invalid Twilio signature (from %s).",
                   kind, request.ip)
    return None


def base_url_of(request_url: str, public_base: str | None) -> str:
    """``scheme://host[:port]`` for absolute URLs we hand to Twilio."""
    if public_base:
        return public_base.rstrip("/")
    match = re.match(r"^(https?://[^/?#]+)", request_url)
    return match.group(1) if match else ""


# --- identity -------------------------------------------------------------------------------




def server_metadata(channel: str, phone: str | None, verified: bool,
                    extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Message metadata built on the server: ``extra`` minus the identity keys, plus ours."""
    metadata = {k: v for k, v in (extra or {}).items()
                if isinstance(k, str) and k.strip().lower() not in SERVER_OWNED_KEYS}
    metadata["channel"] = channel
    metadata["authenticated"] = False
    metadata["source"] = f"{channel}:{phone or 'unknown'}"
    if phone:
        metadata["customer_phone"] = phone
        metadata["phone_verified"] = bool(verified)
    return metadata


def profile_language(phone: str | None) -> str | None:
    """The language on file for the customer with this number (blocking: DB)."""
    if not phone:
        return None
    try:
        with session_scope() as session:
            customer = find_customer(session, phone=phone)
            language = customer.language if customer is not None else None
    except Exception:
        logger.warning("Could not look up the language of %s.", mask_phone(phone), exc_info=True)
        return None
    return language if language in LANGUAGES else None


def clean_inbound(text: str | None) -> str:
    """Inbound text for the bot: trimmed, capped, and never a ``/intent`` payload.

    Only the server turns a reply into a payload (a numbered choice); a leading ``/`` from
    the customer is dropped so nobody can inject intents or entities.
    """
    text = safe_text(text or "").strip()
    while text.startswith("/"):
        text = text[1:].lstrip()
    return text[:MAX_INBOUND_CHARS]


# --- idempotency ----------------------------------------------------------------------------


def claim(key: str) -> bool:
    """Record ``key``; True the first time it is seen, False for a repeat (blocking: DB).

    If the database cannot be written the message is processed anyway (logged): a rare
    double turn is better than losing what the customer said.
    """
    try:
        with session_scope() as session:
            session.add(ProcessedMessage(key=key[:128]))
            session.flush()
    except IntegrityError:
        return False
    except SQLAlchemyError:
        logger.error("Could not record idempotency key %s; processing it anyway.", key,
                     exc_info=True)
    return True


def release(key: str) -> None:
    """Forget ``key`` so that Twilio's retry is processed (the first attempt failed)."""
    try:
        with session_scope() as session:
            session.execute(delete(ProcessedMessage).where(ProcessedMessage.key == key[:128]))
    except Exception:
        logger.warning("Could not release idempotency key %s.", key, exc_info=True)


# --- bounded memory -------------------------------------------------------------------------

T = TypeVar("T")


class BoundedTTLStore(Generic[T]):
    """A small thread-safe LRU map whose entries expire (choices offered, call state...)."""

    def __init__(self, max_items: int = 10_000, ttl_seconds: float = 3600.0) -> None:
        self.max_items = max(1, max_items)
        self.ttl_seconds = ttl_seconds
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, value: T) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def get(self, key: str) -> T | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            stamp, value = item
            if time.monotonic() - stamp > self.ttl_seconds:
                del self._items[key]
                return None
            self._items.move_to_end(key)
            return value

    def pop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class ConversationState:
    """What the channel needs from the tracker after a turn."""

    language: str | None = None
    paused: bool = False  # handed off to a person: the assistant stays silent


async def conversation_state(app: Any, sender_id: str) -> ConversationState:
    """The ``language`` slot and pause state of ``sender_id``'s tracker in this Rasa server."""
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return ConversationState()
    try:
        tracker = await store.retrieve(sender_id)
    except Exception:
        logger.warning("Could not read the tracker of %s.", sender_id, exc_info=True)
        return ConversationState()
    if tracker is None:
        return ConversationState()
    value = tracker.get_slot(LANGUAGE_KEY)
    return ConversationState(value if value in LANGUAGES else None, bool(tracker.is_paused()))


async def resume_conversation(app: Any, sender_id: str) -> bool:
    """Hand a paused conversation back to the assistant (nobody could take the call).

    A phone caller whose transfer failed must not be left with an assistant that stays silent
    and hangs up on "entonces quiero darme de baja": the handoff ticket stays open for the
    callback, and the assistant goes on helping in the same call.
    """
    from rasa.shared.core.events import ConversationResumed

    agent = getattr(getattr(app, "ctx", None), "agent", None)
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return False
    try:
        tracker = await store.retrieve(sender_id)
        if tracker is None or not tracker.is_paused():
            return False
        tracker.update(ConversationResumed())
        await store.save(tracker)
        return True
    except Exception:
        logger.warning("Could not resume the conversation %s.", sender_id, exc_info=True)
        return False
