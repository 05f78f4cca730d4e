"""CSV cells that a spreadsheet opens safely (no Rasa, no database)."""

from __future__ import annotations

import re
from typing import Any

#: what a spreadsheet reads as the start of a formula (CSV injection, OWASP)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?\d[\d .]*$")  # "-3.5", "+34 600 000 000": data, not a formula


def defused(value: Any) -> Any:
    """A text cell that would run as a formula gets a leading apostrophe; numbers stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.match(value):
        return "'" + value
    return value
