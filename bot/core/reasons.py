"""The one churn-reason taxonomy shared by NLU, offers, analytics and the database."""

from __future__ import annotations

REASONS: tuple[str, ...] = (
    "price",
    "competitor",
    "service_failure",
    "billing_error",
    "poor_support",
    "low_usage",
    "financial_hardship",
    "relocation",
    "temporary",
    "other",
)


def is_reason(code: str) -> bool:
    """True when ``code`` is one of REASONS (exact, lower-case match)."""
    return isinstance(code, str) and code in REASONS

#: kinds of incident on a customer's record (``incidents.kind``): what went wrong for them
INCIDENT_KINDS: tuple[str, ...] = ("outage", "billing_error", "support_complaint", "slow_speed")
