"""One phone call between webhook requests (``CallState``) and whether the caller's number
alone identifies the customer (STIR/SHAKEN, ``caller_vouched_for``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.channels.twilio_common import Choice


@dataclass
class CallState:
    """What one call needs between requests (kept in memory, bounded)."""

    language: str
    said: list[str] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    #: the carrier's STIR/SHAKEN verdict on the caller's number, as first reported for the call
    stir_verstat: str | None = None


def caller_vouched_for(phone: str | None, stir_verstat: str | None, trust_caller_id: bool) -> bool:
    """Whether the caller's number identifies the customer without the identity check.

    STIR/SHAKEN (``StirVerstat``) decides whenever the carrier reports on the call: only a full
    attestation ("TN-Validation-Passed-A") vouches for the number; a failed one
    ("TN-Validation-Failed...", likely spoofed), a partial or gateway one (B, C) and
    "No-TN-Validation" never do, whatever ``trust_caller_id`` says. With no report at all (most
    calls outside the US) ``trust_caller_id`` decides.
    """
    if phone is None:
        return False
    verstat = (stir_verstat or "").strip()
    if verstat:
        return verstat.startswith("TN-Validation-Passed-A")
    return trust_caller_id
