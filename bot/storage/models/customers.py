"""Customers and what they have: subscriptions, incidents on the account, monthly usage."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import relationship

from bot.storage.models.base import Base, utcnow


class Customer(Base):
    __tablename__ = "customers"

    id = Column(Integer, primary_key=True)
    ref = Column(String(16), nullable=False, unique=True)  # customer number shown to people, "C00042"
    first_name = Column(String(80), nullable=False)
    last_name = Column(String(80), nullable=False)
    email = Column(String(200), nullable=False)
    phone = Column(String(20), nullable=True, index=True)  # E.164, fictional ranges
    language = Column(String(2), nullable=False, default="es")
    postcode = Column(String(10), nullable=False)
    city = Column(String(80), nullable=False)
    timezone = Column(String(40), nullable=False, default="Europe/Madrid")
    customer_since = Column(Date, nullable=False)
    extra_monthly_cost = Column(Numeric(10, 2), nullable=False, default=Decimal("0"))
    consent_sms_marketing = Column(Boolean, nullable=False, default=False)
    consent_sms_service = Column(Boolean, nullable=False, default=True)
    sms_opted_out_at = Column(DateTime, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    subscriptions = relationship("Subscription", back_populates="customer", order_by="Subscription.id")
    incidents = relationship("Incident", back_populates="customer", order_by="Incident.opened_at")
    usage = relationship("UsageMonth", back_populates="customer", order_by="UsageMonth.month")

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    def tenure_months(self, today: date | None = None) -> int:
        today = today or date.today()
        months = (today.year - self.customer_since.year) * 12 + today.month - self.customer_since.month
        if today.day < self.customer_since.day:
            months -= 1
        return max(months, 0)

    @property
    def current_subscription(self) -> "Subscription | None":
        live = [s for s in self.subscriptions if s.status in ("active", "paused")]
        return live[-1] if live else self.last_cancelled or (self.subscriptions[-1] if self.subscriptions else None)

    @property
    def last_cancelled(self) -> "Subscription | None":
        """The subscription cancelled most recently (by request time, not by row id: imported
        or demo history may add older cancelled records after the live one)."""
        cancelled = [s for s in self.subscriptions if s.status == "cancelled"]
        return max(cancelled, key=lambda s: (s.cancel_requested_at or datetime.min, s.id)) if cancelled else None


class Subscription(Base):
    __tablename__ = "subscriptions"
    __table_args__ = (Index("ix_subscriptions_cancellations", "customer_id", "status", "cancel_requested_at"),)

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    plan_code = Column(String(40), nullable=False)
    list_price = Column(Numeric(10, 2), nullable=False)  # the plan's price when not discounted
    monthly_price = Column(Numeric(10, 2), nullable=False)  # what the customer pays now
    status = Column(String(16), nullable=False, default="active")  # active|paused|cancelled
    started_at = Column(Date, nullable=False)
    discount_pct = Column(Integer, nullable=True)
    discount_until = Column(Date, nullable=True)
    paused_until = Column(Date, nullable=True)
    revert_plan_code = Column(String(40), nullable=True)  # plan to go back to after a free upgrade
    running_offer_id = Column(String(60), nullable=True)
    running_offer_until = Column(Date, nullable=True)
    cancel_requested_at = Column(DateTime, nullable=True)
    cancel_effective_date = Column(Date, nullable=True)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    customer = relationship("Customer", back_populates="subscriptions")


class Incident(Base):
    """A key event on the account (seed 004): outage, billing error, support complaint."""

    __tablename__ = "incidents"

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    kind = Column(String(30), nullable=False)  # outage|billing_error|support_complaint|slow_speed
    opened_at = Column(DateTime, nullable=False)
    solved_at = Column(DateTime, nullable=True)
    description = Column(Text, nullable=False, default="")

    customer = relationship("Customer", back_populates="incidents")


class UsageMonth(Base):
    __tablename__ = "usage_months"
    __table_args__ = (UniqueConstraint("customer_id", "month"),)

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    month = Column(Date, nullable=False)  # first day of the month
    data_gb = Column(Numeric(10, 1), nullable=False, default=0)
    tv_hours = Column(Numeric(10, 1), nullable=False, default=0)
    app_logins = Column(Integer, nullable=False, default=0)

    customer = relationship("Customer", back_populates="usage")
