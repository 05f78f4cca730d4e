"""Login throttling, server-side sessions and safe redirects of the dashboard (:mod:`analytics.app`).

State lives in the memory of the dashboard process. That is enough because the dashboard runs as one
process (``python -m analytics.app``, Flask's threaded server; the Procfile starts exactly one), and
the locks below make it safe across its threads. Run under several worker processes, the throttles
would count per worker and a session would be known only to the worker that opened it (its user would
be sent back to the login page, never let in elsewhere): move both to the database before doing that.
Client addresses are the TCP peer's (``request.remote_addr``) or, when the peer is one of
``TRUSTED_PROXIES``, the client it names in ``X-Forwarded-For`` (``bot.config.network.source_address``,
the one rule of every per-client limit); behind a reverse proxy set ``TRUSTED_PROXIES`` to its address.

Sessions are an allow-list, not a deny-list: a signed cookie is accepted only while its session id is
open here. Logging out closes it, so a copied cookie stops working on every route at once, and a
restart closes all of them, so no revoked cookie can come back (everyone logs in again after one).
"""

from __future__ import annotations

import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

CLIENT_LIMIT = 10  # failed logins per client address...
CLIENT_WINDOW = 5 * 60.0  # ...in this many seconds
USER_LIMIT = 5  # failed logins per user name (from any address)...
USER_WINDOW = 15 * 60.0  # ...in this many seconds
MAX_USERNAME_KEY = 80  # DashboardUser.username's length: longer names cannot exist
SWEEP_SECONDS = 60.0
MAX_NEXT_LENGTH = 2048


# ============================================================================ login throttling


@dataclass
class _Window:
    """Failures of one key (an address or a user name) in a sliding window of ``seconds``."""

    limit: int
    seconds: float
    failures: dict[str, list[float]] = field(default_factory=dict)

    def recent(self, key: str, now: float) -> list[float]:
        kept = [t for t in self.failures.get(key, ()) if now - t < self.seconds]
        if kept:
            self.failures[key] = kept
        else:
            self.failures.pop(key, None)
        return kept

    def retry_after(self, key: str, now: float) -> float:
        """Seconds until ``key`` may try again (0 when it may now)."""
        recent = self.recent(key, now)
        if len(recent) < self.limit:
            return 0.0
        return recent[-self.limit] + self.seconds - now

    def add(self, key: str, now: float) -> None:
        self.failures.setdefault(key, []).append(now)

    def sweep(self, now: float) -> None:
        for key in list(self.failures):
            self.recent(key, now)


class LoginThrottle:
    """Failed logins limited per client address and per user name.

    Both limits count failures only: a refused (throttled) attempt checks no password and does not
    extend the lock, so a locked-out user gets in again when the window has passed. A successful login
    clears its user name's count, not its address's: an attacker logging into an account of their own
    between guesses gains nothing.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._by_client = _Window(CLIENT_LIMIT, CLIENT_WINDOW)
        self._by_user = _Window(USER_LIMIT, USER_WINDOW)
        self._swept = clock()

    def retry_after(self, address: str, username: str) -> int:
        """Whole seconds to wait before this address may try this user name (0: go ahead)."""
        now = self._clock()
        with self._lock:
            wait = max(self._by_client.retry_after(address, now), self._by_user.retry_after(_user_key(username), now))
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, address: str, username: str) -> None:
        now = self._clock()
        with self._lock:
            self._by_client.add(address, now)
            self._by_user.add(_user_key(username), now)
            if now - self._swept > SWEEP_SECONDS:  # forget keys whose failures are all old
                self._by_client.sweep(now)
                self._by_user.sweep(now)
                self._swept = now

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._by_user.failures.pop(_user_key(username), None)


def _user_key(username: str) -> str:
    return username.strip().casefold()[:MAX_USERNAME_KEY]


# ============================================================================ server-side sessions


@dataclass(frozen=True)
class _OpenSession:
    user_id: int
    expires: float


class SessionRegistry:
    """The sessions this process opened and has not closed; a cookie is valid only while listed here."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, _OpenSession] = {}

    def open(self, user_id: int, lifetime: float) -> str:
        """A new session id for ``user_id`` (random, 256 bits), valid for ``lifetime`` seconds."""
        sid = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._forget_expired(now)
            self._open[sid] = _OpenSession(user_id=user_id, expires=now + lifetime)
        return sid

    def is_open(self, sid: object, user_id: int) -> bool:
        if not isinstance(sid, str):
            return False
        with self._lock:
            entry = self._open.get(sid)
        return entry is not None and entry.user_id == user_id and self._clock() < entry.expires

    def close(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock:
                self._open.pop(sid, None)

    def _forget_expired(self, now: float) -> None:
        for sid in [s for s, entry in self._open.items() if entry.expires <= now]:
            del self._open[sid]


# ============================================================================ redirects after login


def safe_next(target: object) -> str:
    """``target`` when it is a path on this site, else ``/``.

    Browsers drop tabs and newlines from URLs and read ``\\`` as ``/``, so ``/\\t/evil.example`` is
    ``//evil.example``: another site. A target is kept only if it starts with a single ``/`` and has
    no backslash, whitespace or control character, neither as sent nor once percent-decoded.
    """
    if not isinstance(target, str) or len(target) > MAX_NEXT_LENGTH:
        return "/"
    if not _is_local_path(target) or not _is_local_path(unquote(target)):
        return "/"
    return target


def _is_local_path(value: str) -> bool:
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return False
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc
