"""What the Twilio SMS and voice channels share: trust, idempotency and rendering.

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
* **Rendering.** Bot messages are collected (:class:`CollectingOutput`) and turned into SMS
  text (:func:`render_sms`: numbered choices instead of buttons, no markdown or emoji,
  ordered segments of at most 1,600 characters) or speech (:func:`render_voice`: no
  buttons, links or emoji; spoken choices). The choices offered last are remembered per
  conversation (:class:`BoundedTTLStore`) so that a reply "1" or a key press maps back to
  the button's payload.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qs

from rasa.core.channels.channel import OutputChannel
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from twilio.request_validator import RequestValidator

from bot.channels import safe_text
from bot.channels.rest import SERVER_OWNED_KEYS
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
DEFAULT_LANGUAGE = "es"

HANDOFF_KEY = "handoff"
END_CALL_KEY = "end_call"
LANGUAGE_KEY = "language"
HANDOFF_RESPONSES = frozenset({"utter_handoff"})
END_CALL_RESPONSES = frozenset({"utter_goodbye"})



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


# --- bot messages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    title: str
    payload: str


@dataclass
class BotMessage:
    """One bot utterance as Rasa handed it to the channel."""

    text: str = ""
    choices: list[Choice] = field(default_factory=list)
    image: str | None = None
    custom: dict[str, Any] = field(default_factory=dict)
    utter_action: str | None = None

    @classmethod
    def from_rasa(cls, message: Mapping[str, Any]) -> BotMessage:
        text = message.get("text")
        buttons = message.get("buttons") or message.get("quick_replies") or []
        choices = []
        for button in buttons if isinstance(buttons, list) else []:
            if not isinstance(button, Mapping):
                continue
            title = str(button.get("title") or "").strip()
            payload = str(button.get("payload") or "").strip()
            if title and payload:
                choices.append(Choice(title, payload))
        custom = message.get("custom")
        image = message.get("image")
        action = message.get("utter_action")
        return cls(text=text if isinstance(text, str) else "", choices=choices,
                   image=image if isinstance(image, str) and image else None,
                   custom=dict(custom) if isinstance(custom, Mapping) else {},
                   utter_action=action if isinstance(action, str) else None)

    @property
    def handoff(self) -> bool:
        return self.custom.get(HANDOFF_KEY) is True or self.utter_action in HANDOFF_RESPONSES

    @property
    def end_call(self) -> bool:
        return self.custom.get(END_CALL_KEY) is True or self.utter_action in END_CALL_RESPONSES

    @property
    def language(self) -> str | None:
        value = self.custom.get(LANGUAGE_KEY)
        return value if value in LANGUAGES else None


class CollectingOutput(OutputChannel):
    """Collects whole bot messages (buttons, custom JSON and response name included)."""

    def __init__(self, channel_name: str) -> None:
        self._name = channel_name
        self.messages: list[BotMessage] = []

    def name(self) -> str:  # type: ignore[override]
        # the instance's name: Rasa picks response variations by the output channel's name
        return self._name

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        try:
            self.messages.append(BotMessage.from_rasa(message))
        except Exception:  # a strange message must not break the turn
            logger.warning("Ignored a bot message the channel could not read.", exc_info=True)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.messages.append(BotMessage(text=text))


def turn_language(messages: Iterable[BotMessage]) -> str | None:
    """The language the actions announced in this turn (custom ``language``), if any."""
    found = None
    for message in messages:
        found = message.language or found
    return found


# --- text clean-up --------------------------------------------------------------------------
# --- SMS ------------------------------------------------------------------------------------


def _join_numbers(numbers: list[int], conjunction: str) -> str:
    words = [str(n) for n in numbers]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + f" {conjunction} " + words[-1]


def sms_choice_prompt(count: int, language: str) -> str:
    """``Responde 1 o 2.`` / ``Reply 1 or 2.``: how to pick one of ``count`` choices by SMS."""
    numbers = list(range(1, count + 1))
    if language == "en":
        return f"Reply {_join_numbers(numbers, 'or')}."
    return f"Responde {_join_numbers(numbers, 'o')}."


def sms_choice_block(choices: list[Choice], language: str) -> str:
    lines = [f"{i}. {plain_text(choice.title, links=True)}" for i, choice in enumerate(choices, 1)]
    return "\n".join(lines + [sms_choice_prompt(len(choices), language)])



@dataclass
class RenderedSMS:
    segments: list[str]
    choices: list[Choice]


def render_sms(messages: list[BotMessage], language: str, limit: int = SMS_SEGMENT_CHARS,
               max_segments: int | None = None) -> RenderedSMS:
    """One turn's bot messages as SMS text.

    The messages are joined with blank lines; the last message with buttons gets them as a
    numbered list with "Responde 1 o 2" (earlier buttons, if any, are listed without numbers
    so that a reply number is never ambiguous). Images become their address. A text needing
    more than ``max_segments`` segments is cut at a word and ends with "...".
    """
    last_with_choices = max((i for i, m in enumerate(messages) if m.choices), default=-1)
    parts: list[str] = []
    for index, message in enumerate(messages):
        text = plain_text(message.text, links=True)
        if message.choices:
            if index == last_with_choices:
                block = sms_choice_block(message.choices, language)
            else:
                block = "\n".join(f"- {plain_text(c.title, links=True)}" for c in message.choices)
            text = f"{text}\n{block}" if text else block
        if message.image:
            text = f"{text}\n{message.image}" if text else message.image
        if text:
            parts.append(text)
    choices = messages[last_with_choices].choices if last_with_choices >= 0 else []
    text = "\n\n".join(parts)
    segments = split_segments(text, limit)
    if max_segments is not None and len(segments) > max_segments:
        logger.warning("An SMS reply needing %d segments was cut to %d.", len(segments),
                       max_segments)
        budget = max(1, max_segments * (limit - len("(99/99) ")) - 200)
        while len(segments) > max_segments and budget > 0:
            cut = text[:budget].rsplit(" ", 1)[0].rstrip(" ,.;:") + "..."
            segments = split_segments(cut, limit)
            budget -= limit // 4
    return RenderedSMS(segments, list(choices))


_CHOICE_RE = re.compile(r"^\s*(?:n[º°o.]?\s*|#\s*|opci[oó]n\s*|option\s*)?(\d{1,2})\s*[.)!]?\s*$",
                        re.IGNORECASE)
_SPOKEN_NUMBERS = {
    "uno": 1, "una": 1, "one": 1, "el uno": 1, "la uno": 1, "number one": 1, "la primera": 1,
    "dos": 2, "two": 2, "el dos": 2, "number two": 2, "la segunda": 2,
    "tres": 3, "three": 3, "el tres": 3, "cuatro": 4, "four": 4, "cinco": 5, "five": 5,
}


def choice_number(text: str | None) -> int | None:
    """The number a reply picks ("1", "2.", "opción 2", "uno", "two"), or None."""
    if not text:
        return None
    match = _CHOICE_RE.match(text)
    if match:
        return int(match.group(1))
    spoken = re.sub(r"[^\w\s]", "", text.strip().lower())
    return _SPOKEN_NUMBERS.get(spoken)


def resolve_choice(choices: list[Choice] | None, text: str | None) -> str | None:
    """The payload of the choice ``text`` picks among ``choices``; None if it picks none."""
    number = choice_number(text)
    if not choices or number is None or not 1 <= number <= len(choices):
        return None
    return choices[number - 1].payload


# --- voice ----------------------------------------------------------------------------------

_YES = ("sí", "si", "yes")
_NO = ("no",)


def _starts_with_word(title: str, words: tuple[str, ...]) -> bool:
    first = re.split(r"[\s,.!]+", title.strip().lower(), maxsplit=1)[0]
    return first in words


def voice_choice_prompt(choices: list[Choice], language: str) -> str:
    """How to answer out loud or with the keypad: "Di sí o no, o pulsa 1 o 2."."""
    count = len(choices)
    numbers = list(range(1, count + 1))
    if count == 2 and _starts_with_word(choices[0].title, _YES) \
            and _starts_with_word(choices[1].title, _NO):
        return "Say yes or no, or press 1 or 2." if language == "en" \
            else "Di sí o no, o pulsa 1 o 2."
    options = " ".join(f"{i}: {plain_text(c.title, links=False).rstrip('.')}."
                       for i, c in enumerate(choices, 1))
    if language == "en":
        return (f"You can say one of these options or press its number. {options} "
                f"Press {_join_numbers(numbers, 'or')}.")
    return (f"Puedes decir una de estas opciones o pulsar su número. {options} "
            f"Pulsa {_join_numbers(numbers, 'o')}.")


@dataclass
class RenderedVoice:
    sentences: list[str]
    choices: list[Choice]
    handoff: bool = False
    end_call: bool = False


def speakable(text: str) -> str:
    """Text for ``<Say>``: no markdown, links or emoji, lines joined into sentences."""
    text = plain_text(text, links=False)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # a line break is a pause: end each line as a sentence
    text = " ".join(line if line[-1] in ".!?:;," else f"{line}." for line in lines)
    text = re.sub(r"(?<=[^\s.!?:;,])\s+-\s+", ", ", text)
    return text.strip()


def render_voice(messages: list[BotMessage], language: str) -> RenderedVoice:
    """One turn's bot messages as things to say (images and bare custom JSON are skipped)."""
    sentences: list[str] = []
    choices: list[Choice] = []
    for message in messages:
        text = speakable(message.text)
        if message.choices:
            choices = list(message.choices)
            prompt = voice_choice_prompt(choices, language)
            text = f"{text} {prompt}" if text else prompt
        if text:
            sentences.append(text)
    return RenderedVoice(sentences, choices,
                         handoff=any(m.handoff for m in messages),
                         end_call=any(m.end_call for m in messages))


def bcp47(language: str) -> str:
    return "en-US" if language == "en" else "es-ES"


def pick_language(*candidates: str | None) -> str:
    """The first supported language among ``candidates``, Spanish otherwise."""
    for candidate in candidates:
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


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
