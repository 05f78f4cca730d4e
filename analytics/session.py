"""Who is logged in to the dashboard and the state one dashboard process keeps.

Shared by the pages (:mod:`analytics.app`) and the agent desk (:mod:`analytics.agent`), so that
neither imports the other.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g, has_request_context, session
from sqlalchemy.orm import Session

from analytics import auth
from analytics.tables import holds_contact
from analytics.tracker_store import tracker_engine
from bot.storage.db import session_factory
from bot.storage.models import DashboardUser

ROLES: tuple[str, ...] = ("admin", "supervisor", "agent")
SUPERVISOR_ROLES = frozenset({"admin", "supervisor"})
AGENT_HOME = "/queue"
CACHE_SECONDS = 30.0


def same_secret(expected: object, sent: object) -> bool:
    """Constant-time comparison of a stored token with what a client sent; any type and any
    character (a lone surrogate, non-ASCII) is simply unequal, never an error."""
    if not isinstance(expected, str) or not isinstance(sent, str):
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"),
                               sent.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class CurrentUser:
    id: int
    username: str
    role: str
    can_see_contact: bool

    @property
    def is_supervisor(self) -> bool:
        return self.role in SUPERVISOR_ROLES

    def may_open_by_id(self, conversation_id: str) -> bool:
        """Whether this user may address a conversation by its id. An agent without contact rights
        may not when the id holds a phone number (SMS, voice): they use its ticket, so a guessed
        number tells them nothing."""
        return self.is_supervisor or self.can_see_contact or not holds_contact(conversation_id)


@dataclass
class AppState:
    db_url: str
    tracker_url: str | None
    lifetime: float  # seconds
    clock: Callable[[], float]
    cache: dict[Any, tuple[float, Any]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    throttle: auth.LoginThrottle = field(init=False)
    sessions: auth.SessionRegistry = field(init=False)
    callbacks: dict[str, Any] = field(default_factory=dict)  # Dash's callback map, for checking requests

    def __post_init__(self) -> None:
        self.throttle = auth.LoginThrottle(self.clock)
        self.sessions = auth.SessionRegistry(self.clock)

    def session(self) -> Session:
        return session_factory(self.db_url)()

    def tracker(self) -> Any:
        return tracker_engine(self.tracker_url)

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A small time-bounded cache of the figures (they are the same for every user)."""
        now = time.monotonic()
        with self.lock:
            hit = self.cache.get(key)
            if hit is not None and now - hit[0] < CACHE_SECONDS:
                return hit[1]
        value = compute()
        with self.lock:
            if len(self.cache) > 32:
                self.cache.clear()
            self.cache[key] = (now, value)
        return value


def app_state() -> AppState:
    return current_app.extensions["nubia_analytics"]


def password_fingerprint(password_hash: str) -> str:
    """Ties a session to the password it was opened with (a new password ends old sessions)."""
    return hashlib.sha256(password_hash.encode("utf-8")).hexdigest()[:20]


def session_user(state: AppState) -> CurrentUser | None:
    """The logged-in user of this request, or None (the session is cleared when no longer valid)."""
    uid, issued, fingerprint = session.get("uid"), session.get("iat"), session.get("pwf")
    if not isinstance(uid, int) or not isinstance(issued, (int, float)) or not isinstance(fingerprint, str):
        return None
    now = state.clock()
    if now - issued > state.lifetime or issued > now + 60 or not state.sessions.is_open(session.get("sid"), uid):
        session.clear()
        return None
    with state.session() as s:
        user = s.get(DashboardUser, uid)
        if user is None or user.role not in ROLES or not hmac.compare_digest(
                password_fingerprint(user.password_hash), fingerprint):
            session.clear()
            return None
        return CurrentUser(id=user.id, username=user.username, role=user.role,
                           can_see_contact=bool(user.can_see_contact))


def current_user() -> CurrentUser | None:
    return getattr(g, "user", None) if has_request_context() else None
