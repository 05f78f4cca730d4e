"""Text rules for messages sent as SMS or spoken (no Rasa, no database): plain text without
markdown or emoji, Twilio-sized segments split at sentence ends, E.164 numbers.

Used by the Twilio channels (``bot.channels.twilio_common`` re-exports them) and by the
outbound sender (``bot.messaging.sms``), so that the campaign runner never loads Rasa.
"""

from __future__ import annotations

import re
import unicodedata

SMS_SEGMENT_CHARS = 1600  # Twilio's limit for one message body
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")


def e164(value: str | None) -> str | None:
    """The sender's number in E.164, or None (withheld numbers, short codes, other channels)."""
    if not value:
        return None
    value = value.strip()
    if value.lower().startswith(("whatsapp:", "tel:")):
        value = value.split(":", 1)[1]
    value = value.replace(" ", "")
    return value if E164_RE.match(value) else None


_EMOJI_RE = re.compile(
    "["
    "\U0001F000-\U0001FAFF"  # emoticons, pictographs, transport, flags, symbols & pictographs
    "\U00002600-\U000027BF"  # misc symbols, dingbats
    "\U00002B00-\U00002BFF"  # arrows, stars
    "\U00002300-\U000023FF"  # misc technical (watch, hourglass...)
    "\U0000FE00-\U0000FE0F"  # variation selectors
    "\U0000200D"  # zero-width joiner
    "\U000020E3"  # combining keycap
    "\U000E0000-\U000E007F"  # tags
    "]+")
_LINK_RE = re.compile(r"\[([^\]\n]+)\]\((\S+?)\)")
_URL_RE = re.compile(r"(?:https?://|www\.)[^\s)>\]]+", re.IGNORECASE)
_BOLD_RE = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_ITALIC_STAR_RE = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC_UNDERSCORE_RE = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE_RE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_CODE_RE = re.compile(r"`+([^`]+)`+")
_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_QUOTE_RE = re.compile(r"^\s{0,3}>\s?", re.MULTILINE)
_BULLET_RE = re.compile(r"^\s*[-*+•]\s+", re.MULTILINE)
_RULE_RE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$", re.MULTILINE)
_TYPOGRAPHY = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-",
                             "…": "...", "\u00a0": " ", "\u2009": " ", "\u202f": " "})


def strip_emoji(text: str) -> str:
    return _EMOJI_RE.sub("", text)


def plain_text(text: str, *, links: bool) -> str:
    """Text without markdown, emoji or typographic characters that phones render badly.

    ``links=True`` keeps addresses (``[label](url)`` becomes ``label: url``); ``links=False``
    drops them (speech), keeping only a link's label.
    """
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text).translate(_TYPOGRAPHY)
    text = _LINK_RE.sub((lambda m: f"{m.group(1)}: {m.group(2)}") if links
                        else (lambda m: m.group(1)), text)
    if not links:
        text = re.sub(r"[:\s]*" + _URL_RE.pattern, " ", text, flags=re.IGNORECASE)
    text = _RULE_RE.sub("", text)
    text = _HEADING_RE.sub("", text)
    text = _QUOTE_RE.sub("", text)
    text = _BULLET_RE.sub("- " if links else "", text)
    text = _CODE_RE.sub(r"\1", text)
    for _ in range(2):  # nested emphasis
        text = _BOLD_RE.sub(r"\2", text)
        text = _STRIKE_RE.sub(r"\1", text)
        text = _ITALIC_STAR_RE.sub(r"\1", text)
        text = _ITALIC_UNDERSCORE_RE.sub(r"\1", text)
    text = re.sub(r"[ \t]*" + _EMOJI_RE.pattern + r"[ \t]*(?=[,.;:!?])", "", text)  # "hola 🙂."
    text = strip_emoji(text)
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch)[0] != "C")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    if not links:
        text = re.sub(r"\s+([,.;:!?])", r"\1", text)
        text = re.sub(r"[:,]\s*(?=[.!?]|$)", "", text)
    return text.strip()


_SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def _pieces(text: str, limit: int) -> list[tuple[str, bool]]:
    """``(piece, starts_a_paragraph)`` pairs, each piece at most ``limit`` characters long.

    A paragraph that fits stays whole; a longer one is cut between sentences, and a sentence
    that is still too long between words (a word longer than ``limit`` is cut as it is).
    """
    out: list[tuple[str, bool]] = []
    for paragraph in re.split(r"\n{2,}", text):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if len(paragraph) <= limit:
            out.append((paragraph, True))
            continue
        first = True
        for sentence in _SENTENCE_END_RE.split(paragraph):
            sentence = sentence.strip()
            if not sentence:
                continue
            if len(sentence) <= limit:
                out.append((sentence, first))
                first = False
                continue
            run = ""
            for word in sentence.split():
                while len(word) > limit:
                    if run:
                        out.append((run, first))
                        first, run = False, ""
                    out.append((word[:limit], first))
                    first, word = False, word[limit:]
                candidate = f"{run} {word}" if run else word
                if len(candidate) <= limit:
                    run = candidate
                else:
                    out.append((run, first))
                    first, run = False, word
            if run:
                out.append((run, first))
                first = False
    return out


def split_segments(text: str, limit: int = SMS_SEGMENT_CHARS) -> list[str]:
    """Split ``text`` into ordered segments of at most ``limit`` characters.

    Breaks fall between paragraphs or sentences when possible. When there is more than one
    segment each starts with ``(i/n)``, since separate messages can arrive out of order.
    """
    text = text.strip()
    if not text:
        return []
    if len(text) <= limit:
        return [text]
    room = limit - len("(99/99) ")
    segments: list[str] = []
    current = ""
    for piece, new_paragraph in _pieces(text, room):
        candidate = f"{current}{chr(10) * 2 if new_paragraph else ' '}{piece}" if current else piece
        if len(candidate) <= room:
            current = candidate
        else:
            segments.append(current)
            current = piece
    if current:
        segments.append(current)
    total = len(segments)
    return [f"({i}/{total}) {segment}" for i, segment in enumerate(segments, 1)]
