"""Custom Rasa input channels, and the website's signed chat token.

The token helpers live here (not in ``bot.channels.web``) so that the website can sign tokens
without importing Rasa: the website signs with :func:`issue_web_token`, the socket.io channel
checks with :func:`verify_web_token`, both with ``bot.config.settings.web_jwt_secret()``.
"""

from __future__ import annotations

import re
import time

import jwt

JWT_ALGORITHM = "HS256"
CUSTOMER_REF_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Lone UTF-16 surrogates cannot be encoded as UTF-8: SQLite raises while binding them and the
# NLU fails on them. Control characters other than tab and newline mean nothing in a message.
_UNSAFE_CHARS = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A conversation id a client may choose: printable ASCII without spaces or separators that
# other channels use in their own ids.
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,128}\Z")


def safe_text(text: str) -> str:
    """``text`` without lone surrogates and control characters (each becomes a space)."""
    return _UNSAFE_CHARS.sub(" ", text)


def valid_client_id(value: object) -> bool:
    """True when ``value`` can be a client-chosen conversation id (see :data:`CLIENT_ID_RE`)."""
    return isinstance(value, str) and bool(CLIENT_ID_RE.match(value))


class InvalidWebToken(ValueError):
    """The chat token is malformed, badly signed, expired or names no customer."""


def issue_web_token(customer_ref: str, secret: str, ttl_seconds: int,
                    now: float | None = None) -> str:
    """A signed HS256 token saying that the visitor is logged in as ``customer_ref``."""
    if not CUSTOMER_REF_RE.match(customer_ref):
        raise ValueError(f"not a customer reference: {customer_ref!r}")
    issued = int(now if now is not None else time.time())
    claims = {"sub": customer_ref, "iat": issued, "exp": issued + int(ttl_seconds)}
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def verify_web_token(token: str, secret: str) -> str:
    """The customer reference that a valid token names; :class:`InvalidWebToken` otherwise."""
    if not isinstance(token, str) or not token or len(token) > 4096 or not token.isascii():
        raise InvalidWebToken("missing, oversized or non-ASCII token")
    try:
        claims = jwt.decode(token, secret, algorithms=[JWT_ALGORITHM],
                            options={"require": ["sub", "exp"]})
    except jwt.ExpiredSignatureError as exc:
        raise InvalidWebToken("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidWebToken(f"invalid token: {exc}") from exc
    ref = claims.get("sub")
    if not isinstance(ref, str) or not CUSTOMER_REF_RE.match(ref):
        raise InvalidWebToken("token names no valid customer reference")
    return ref
