"""How contact data is masked wherever it is shown or logged (no Rasa, no database)."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str:
    """"+447700900123" -> "•••••••••123": the last three digits, enough to recognise, not to call.

    The one rule for logs, the dashboard and exports; "" for no number.
    """
    if not phone:
        return ""
    digits = [ch for ch in phone if ch.isdigit()]
    if len(digits) <= 5:
        return "•" * len(digits)
    return "•" * (len(digits) - 3) + "".join(digits[-3:])


def mask_email(email: str | None) -> str:
    """"lucia.garcia.1@example.com" -> "l•••@example.com"."""
    if not email:
        return ""
    local, at, domain = email.partition("@")
    if not at:
        return "•••"
    return f"{local[:1]}•••@{domain}"
