"""Rendering what the assistant says for Twilio: SMS text and speech (no Rasa request handling).

Bot messages are collected (:class:`CollectingOutput`) and turned into SMS text
(:func:`render_sms`: numbered choices instead of buttons, no markdown or emoji, ordered segments
of at most 1,600 characters) or speech (:func:`render_voice`: no buttons, links or emoji; spoken
choices). A reply "1" or a key press maps back to the button's payload (:func:`resolve_choice`).

Payload contract with the actions (a bot message's ``custom`` JSON): ``{"handoff": true}`` (voice:
``<Dial>`` the agent), ``{"end_call": true}`` (voice: ``<Hangup>`` after speaking),
``{"language": "es"|"en"}``; until the actions send them, ``utter_handoff`` and
``utter_goodbye`` mean the same.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import OutputChannel

from bot.core.language import LANGUAGES
from bot.messaging.text import SMS_SEGMENT_CHARS, plain_text, split_segments

logger = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "es"

HANDOFF_KEY = "handoff"
END_CALL_KEY = "end_call"
LANGUAGE_KEY = "language"
HANDOFF_RESPONSES = frozenset({"utter_handoff"})
END_CALL_RESPONSES = frozenset({"utter_goodbye"})




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


