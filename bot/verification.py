"""Identity check of an anonymous visitor: customer number, then the contract's postcode.

Three wrong answers end the attempt politely with a way forward (log in on the website).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy.orm import Session

from bot.customers import find_customer

REF = re.compile(r"\b[cC]\s?-?\s?(\d{1,5})\b|\b(\d{5})\b")
POSTCODE = re.compile(r"\b(\d{5})\b")
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


def parse_ref(text: str) -> Optional[str]:
    match = REF.search(text or "")
    if not match:
        return None
    number = match.group(1) or match.group(2)
    return f"C{int(number):05d}"


def answer(session: Session, stage: str, text: str, ref: Optional[str], attempts: int) -> IdentityStep:
    """Process the visitor's answer at ``stage`` ("verify_ref" or "verify_postcode")."""
    if stage == "verify_ref":
        parsed = parse_ref(text)
        if parsed is None:
            return _wrong(attempts, ["utter_ask_verify_ref"], "verify_ref")
        return IdentityStep(responses=["utter_ask_verify_postcode"], stage="verify_postcode",
                            ref=parsed, attempts=attempts)
    match = POSTCODE.search(text or "")
    customer = find_customer(session, ref=ref) if ref else None
    if customer is not None and match and customer.postcode == match.group(1):
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
