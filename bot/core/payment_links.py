"""Single-use, expiring links to update the payment method after a failed payment.

The link carries a random token; only its SHA-256 is stored. A link works once (the update is
recorded with a conditional write, so two submissions cannot both succeed) and not after
``expires_at``. No card data is ever stored: the page records that the method was updated and
which kind the customer chose.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.storage.models import PaymentLink, utcnow

METHODS = ("card", "direct_debit")
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def create_link(session: Session, customer_id: int, *, ttl: timedelta, alert_id: int | None = None,
                now: datetime | None = None) -> str:
    """A new link's token (shown once: put it in the URL and forget it)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(24)
    session.add(PaymentLink(customer_id=customer_id, alert_id=alert_id, token_hash=_hash(token),
                            created_at=now, expires_at=now + ttl))
    session.flush()
    return token


def _well_formed(token: str) -> bool:
    return 16 <= len(token) <= 64 and set(token) <= _TOKEN_CHARS


def find_link(session: Session, token: str) -> PaymentLink | None:
    """The link of ``token`` in any state (used, expired), or None."""
    if not _well_formed(token):
        return None
    return session.scalar(select(PaymentLink).where(PaymentLink.token_hash == _hash(token)))


def find_valid(session: Session, token: str, now: datetime | None = None) -> PaymentLink | None:
    """The link if it exists, is unused and has not expired; otherwise None (never says which)."""
    link = find_link(session, token)
    now = now or utcnow()
    return link if link is not None and link.used_at is None and link.expires_at > now else None


def use_link(session: Session, token: str, method: str, now: datetime | None = None) -> bool:
    """Record the update once; False when the link is unknown, used or expired."""
    if method not in METHODS or not _well_formed(token):
        return False
    now = now or utcnow()
    done = session.execute(update(PaymentLink).where(
        PaymentLink.token_hash == _hash(token), PaymentLink.used_at.is_(None), PaymentLink.expires_at > now)
        .values(used_at=now, method=method))
    return bool(done.rowcount)
