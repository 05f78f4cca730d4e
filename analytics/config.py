"""The dashboard's settings: the session cookie's names, lifetime and signing key, where it listens.

``ANALYTICS_SECRET_KEY`` (else a random key kept in ``var/analytics_secret``), ``ANALYTICS_SESSION_HOURS``
(8), ``ANALYTICS_COOKIE_SECURE``; the defaults of ``ANALYTICS_HOST`` and ``ANALYTICS_PORT`` are read by
:func:`analytics.app.main`. One place for what the app factory, the login and the tests read from the
environment.
"""

from __future__ import annotations

from pathlib import Path

from bot.config import settings
from bot.config.settings import PROJECT_ROOT, persistent_secret

SECRET_FILE = PROJECT_ROOT / "var" / "analytics_secret"
DEFAULT_PORT = 8050
DEFAULT_HOST = "127.0.0.1"
DEFAULT_SESSION_HOURS = 8
CSRF_COOKIE = "_csrf_token"
SESSION_COOKIE = "nubia_analytics_session"


def secret_key(path: Path | None = None) -> str:
    """``ANALYTICS_SECRET_KEY``, else a random key created once in ``var/analytics_secret`` (mode 600)."""
    return persistent_secret("ANALYTICS_SECRET_KEY", path or SECRET_FILE)


def session_hours() -> float:
    value = settings.env("ANALYTICS_SESSION_HOURS")
    try:
        hours = float(value) if value else DEFAULT_SESSION_HOURS
    except ValueError as exc:
        raise ValueError(f"ANALYTICS_SESSION_HOURS must be a number, got {value!r}") from exc
    return min(max(hours, 0.05), 24 * 7)


def cookie_secure_from_env() -> bool:
    """``ANALYTICS_COOKIE_SECURE``: whether the session cookie is sent over HTTPS only."""
    return (settings.env("ANALYTICS_COOKIE_SECURE") or "0").lower() in ("1", "true", "yes")
