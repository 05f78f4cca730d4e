"""Identity check of an anonymous visitor: customer number, then the contract's postcode.

Three wrong answers end the attempt politely with a way forward (log in on the website).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy.orm import Session

from bot.customers import find_customer

# A customer number is a C and five digits ("C00042"); written with spaces, a dash or in lower
# case, or spoken ("ce cero cero cero cuatro dos"). Five digits without the C are a postcode
# or a phone fragment, not a customer number: they are asked again.
REF = re.compile(r"(?<![a-z0-9])c\s?-?\s?((?:\d\s?){5})(?![0-9])", re.IGNORECASE)
POSTCODE = re.compile(r"(?<!\d)(\d{5})(?!\d)")
_DIGIT_WORDS = {
    "cero": "0", "zero": "0", "oh": "0", "uno": "1", "un": "1", "una": "1", "one": "1", "dos": "2",
    "two": "2", "tres": "3", "three": "3", "cuatro": "4", "four": "4", "cinco": "5", "five": "5",
    "seis": "6", "six": "6", "siete": "7", "seven": "7", "ocho": "8", "eight": "8", "nueve": "9",
    "nine": "9"}
_LETTER_C = {"ce", "c", "see", "sea", "si"}
# "no sé cuál es mi número", "where do I find it": help, not a wrong answer
DONT_KNOW = re.compile(
    r"\b(no (lo )?se|nose|ni idea|no (lo )?tengo|no me acuerdo|no recuerdo|donde (lo )?(encuentro|veo|miro)|"
    r"cual es|don'?t know|dont have|no idea|where (do|can) i find|can'?t find|cannot find|"
    r"don'?t remember|forgot)\b")
MAX_ATTEMPTS = 3


@dataclass
class IdentityStep:
    """Result of one answer: what to say, the next stage, and (when done) the customer."""

    responses: list[str] = field(default_factory=list)
    stage: Optional[str] = None
    ref: Optional[str] = None
    attempts: int = 0
    customer_id: Optional[int] = None
    failed: bool = False
    params: dict[str, Any] = field(default_factory=dict)


def spoken_to_digits(text: str) -> str:
    """ "ce cero cero cero cinco uno" -> "c 0 0 0 5 1"; "doble cero" and "double oh" too."""
    words = re.sub(r"[^\w\s]", " ", _fold(text)).split()
    out: list[str] = []
    repeat = 1
    for i, word in enumerate(words):
        if word in ("doble", "double"):
            repeat = 2
            continue
        if word in ("triple",):
            repeat = 3
            continue
        if word in _DIGIT_WORDS and (word not in ("un", "una", "oh") or out):
            out.extend([_DIGIT_WORDS[word]] * repeat)
        elif word in _LETTER_C and i + 1 < len(words) and (words[i + 1] in _DIGIT_WORDS
                                                          or words[i + 1].isdigit()):
            out.append("c")
        else:
            out.append(word)
        repeat = 1
    return " ".join(out)


def _fold(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", text or "")
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def parse_ref(text: str) -> Optional[str]:
    """The customer number in ``text`` (``C`` + five digits), or None."""
    for candidate in (text or "", spoken_to_digits(text or "")):
        match = REF.search(candidate)
        if match:
            return "C" + re.sub(r"\s", "", match.group(1))
    return None


def parse_postcode(text: str) -> Optional[str]:
    for candidate in (text or "", spoken_to_digits(text or "")):
        match = POSTCODE.search(re.sub(r"(?<=\d)\s(?=\d)", "", candidate))
        if match:
            return match.group(1)
    return None


def answer(session: Session, stage: str, text: str, ref: Optional[str], attempts: int) -> IdentityStep:
    """Process the visitor's answer at ``stage`` ("verify_ref" or "verify_postcode")."""
    if stage == "verify_ref":
        parsed = parse_ref(text)
        if parsed is None and DONT_KNOW.search(_fold(text)):
            return IdentityStep(responses=["utter_verify_ref_help"], stage="verify_ref",
                                attempts=attempts)
        if parsed is None:
            return _wrong(attempts, ["utter_verify_ref_format"], "verify_ref")
        return IdentityStep(responses=["utter_ask_verify_postcode"], stage="verify_postcode",
                            ref=parsed, attempts=attempts)
    postcode = parse_postcode(text)
    customer = find_customer(session, ref=ref) if ref else None
    if customer is not None and postcode and customer.postcode == postcode:
        return IdentityStep(responses=["utter_verified"], stage=None, ref=ref, attempts=attempts,
                            customer_id=customer.id,
                            params={"customer_first_name": customer.first_name})
    return _wrong(attempts, ["utter_verify_failed_retry", "utter_ask_verify_ref"], "verify_ref")


def _wrong(attempts: int, responses: list[str], stage: str) -> IdentityStep:
    attempts += 1
    if attempts >= MAX_ATTEMPTS:
        return IdentityStep(responses=["utter_verify_failed"], stage=None, attempts=attempts,
                            failed=True)
    return IdentityStep(responses=responses, stage=stage, attempts=attempts)
