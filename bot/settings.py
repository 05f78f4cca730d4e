"""Typed settings read from the environment.

Each setting is a small function so that it is read when used (tests and subprocesses can set
the environment before calling it) and so that the default lives next to its name.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WEB_JWT_SECRET_FILE = PROJECT_ROOT / "var" / "web_jwt_secret"


def _env(name: str) -> str | None:
    """The variable's value, or None when it is unset or blank."""
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {value!r}") from exc


def web_jwt_secret(secret_file: Path | None = None) -> str:
    """HS256 secret shared by the website (signs) and the Rasa web channel (verifies).

    ``WEB_JWT_SECRET`` wins. Without it a random secret is created once and stored in
    ``var/web_jwt_secret`` (mode 600), so the Rasa process and the web process on one machine
    agree on it without any configuration.
    """
    value = _env("WEB_JWT_SECRET")
    if value:
        return value
    path = secret_file or WEB_JWT_SECRET_FILE
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        stored = ""
    if stored:
        return stored
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate = secrets.token_urlsafe(48)
    try:
        # O_EXCL: if two processes start at once, only one writes and both read its secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the other process may not have written it yet
            stored = path.read_text(encoding="utf-8").strip()
            if stored:
                return stored
            time.sleep(0.02)
        raise RuntimeError(f"{path} exists but is empty; delete it or set WEB_JWT_SECRET")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(candidate + "\n")
    os.chmod(path, 0o600)
    return candidate


def web_token_ttl_seconds() -> int:
    """Lifetime of the website's signed chat token (``WEB_TOKEN_TTL_SECONDS``, 8 hours)."""
    return max(60, _env_int("WEB_TOKEN_TTL_SECONDS", 8 * 3600))


def rasa_public_url() -> str:
    """Rasa's address as the visitor's browser reaches it (``RASA_PUBLIC_URL``)."""
    return (_env("RASA_PUBLIC_URL") or "http://localhost:5005").rstrip("/")


def web_host() -> str:
    """Interface the demo website listens on (``WEB_HOST``, all interfaces by default)."""
    return _env("WEB_HOST") or "0.0.0.0"


def web_port() -> int:
    """Port of the demo website (``WEB_PORT``, 8080)."""
    return _env_int("WEB_PORT", 8080)
