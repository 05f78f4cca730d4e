"""Who may do what: the dashboard's users, and the answers and codes of the identity check."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
)

from bot.storage.models.base import Base, utcnow


class DashboardUser(Base):
    """Supervisors and agents of the analytics dashboard (passwords hashed, never stored)."""

    __tablename__ = "dashboard_users"

    id = Column(Integer, primary_key=True)
    username = Column(String(80), nullable=False, unique=True)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(20), nullable=False, default="supervisor")  # admin|supervisor|agent
    can_see_contact = Column(Boolean, nullable=False, default=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_login_at = Column(DateTime, nullable=True)


class VerificationAttempt(Base):
    """One answer to the identity check, kept across conversations so that guessing is limited
    per customer number and per source (an IP address, a phone number), not per conversation."""

    __tablename__ = "verification_attempts"
    __table_args__ = (Index("ix_verification_attempts_ref_at", "customer_ref", "created_at"),
                      Index("ix_verification_attempts_source_at", "source", "created_at"))

    id = Column(Integer, primary_key=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    customer_ref = Column(String(16), nullable=True)  # the number tried, "C00042"
    source = Column(String(128), nullable=False)      # "rest:203.0.113.9", "web:...", ...
    conversation_id = Column(String(200), nullable=True)
    succeeded = Column(Boolean, nullable=False, default=False)


class VerificationCode(Base):
    """A one-time code texted to the number on file; only its hash is kept."""

    __tablename__ = "verification_codes"

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    conversation_id = Column(String(200), nullable=False, index=True)
    code_hash = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    used_at = Column(DateTime, nullable=True)
