"""Rules for the SMS texts written in the business data files (campaigns, key events, proactive).

A text a business writes must be plain for phones (no emoji, no markdown), must never contain
CANCEL (a Twilio opt-out keyword that would end all texting) and may use only the placeholders
its file documents. Errors name the file and the entry (:class:`ConfigError`).
"""

from __future__ import annotations

import re
import string
import unicodedata
from pathlib import Path
from typing import Any, Callable, Collection

from bot.config.errors import ConfigError
from bot.core.language import LANGUAGES

_MARKDOWN = re.compile(r"[*_#`\[\]~]")
_CANCEL = re.compile(r"\bcancel\b", re.IGNORECASE)


def has_emoji(text: str) -> bool:
    return any(unicodedata.category(ch) == "So" or 0x1F000 <= ord(ch) <= 0x1FAFF or ch == "\ufe0f"
               for ch in text)


def plain_sms_problem(text: str) -> str | None:
    """Why ``text`` is not fit for an SMS, or None (placeholders are not looked at)."""
    text = re.sub(r"\{\w*\}", "", text)
    if has_emoji(text):
        return "no emoji in SMS texts"
    if _MARKDOWN.search(text):
        return "no markdown in SMS texts (*, _, #, `, [, ], ~)"
    if _CANCEL.search(text):
        return "never mention CANCEL: it is a Twilio opt-out keyword that would stop all texting"
    return None


def template_placeholders(path: Path, template: str, entry: str, allowed: Collection[str]) -> set[str]:
    """The placeholders ``template`` uses; a malformed or unknown one is a ConfigError."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError.at(path, f"malformed braces ({exc})", entry) from exc
    used: set[str] = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion or name not in allowed:
            raise ConfigError.at(path, f"unknown placeholder {{{name}}} (available: "
                                       f"{', '.join('{' + p + '}' for p in sorted(allowed))})", entry)
        used.add(name)
    return used


def language_texts(path: Path, raw: Any, entry: str, check: Callable[[str, str, str], None], *, sms: bool = True,
                   may_be_empty: bool = False, exact: bool = False) -> dict[str, str]:
    """The texts of one entry, ``{es: ..., en: ...}``, each on one line: every language given
    (``exact``: and only those, else an unknown one is named), none empty unless ``may_be_empty``,
    plain for phones when ``sms``; then ``check(language, text, where)`` applies the entry's own
    placeholder rule. Errors name the file and ``entry.language``, one language after the other."""
    if exact:
        if not isinstance(raw, dict) or set(raw) != set(LANGUAGES):
            raise ConfigError.at(path, f"must give exactly {', '.join(LANGUAGES)}", entry)
    else:
        if not isinstance(raw, dict):
            raise ConfigError.at(path, "must be a mapping {es: ..., en: ...}", entry)
        unknown = sorted(set(map(str, raw)) - set(LANGUAGES))
        if unknown:
            raise ConfigError.at(path, f"unknown language(s): {', '.join(unknown)}", entry)
    out: dict[str, str] = {}
    for language in LANGUAGES:
        where = f"{entry}.{language}"
        text = raw.get(language)
        if not isinstance(text, str) or (not text.strip() and not may_be_empty):
            raise ConfigError.at(path, "missing or empty", where)
        text = " ".join(text.split())
        problem = plain_sms_problem(text) if sms else None
        if problem:
            raise ConfigError.at(path, problem, where)
        check(language, text, where)
        out[language] = text
    return out
