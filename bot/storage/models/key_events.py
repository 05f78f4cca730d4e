"""Proactive retention: key events and the alerts and actions they create, payment links, and
the customers the churn-risk model contacted or held out."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
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


class KeyEvent(Base):
    """A key event taken in (``data/key_events.yml`` types): an outage, a double charge, ...

    ``external_id`` is the id the sender gave it: posting the same event again does nothing."""

    __tablename__ = "key_events"

    id = Column(Integer, primary_key=True)
    external_id = Column(String(100), nullable=False, unique=True)
    type = Column(String(40), nullable=False, index=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=True, index=True)
    postcodes = Column(JSON, nullable=True)  # an area event: the postcodes it hit
    amount = Column(Numeric(10, 2), nullable=True)  # a charge, a bill, a payment (EUR)
    started_at = Column(DateTime, nullable=False)
    ended_at = Column(DateTime, nullable=True)
    description = Column(Text, nullable=False, default="")
    source = Column(String(20), nullable=False, default="api")  # api|cli
    reach = Column(Integer, nullable=False, default=0)  # customers it reached
    received_at = Column(DateTime, nullable=False, default=utcnow, index=True)

    alerts = relationship("Alert", back_populates="event", order_by="Alert.id")


class Alert(Base):
    """One customer hit by one key event, once: priority, owner, due time and what was done."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("event_id", "customer_id"),
                      Index("ix_alerts_customer_created", "customer_id", "created_at"))

    id = Column(Integer, primary_key=True)
    event_id = Column(Integer, ForeignKey("key_events.id"), nullable=False, index=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False)
    type = Column(String(40), nullable=False)
    priority = Column(String(10), nullable=False, index=True)  # high|medium|low
    status = Column(String(12), nullable=False, default="open", index=True)  # open|done
    owner = Column(String(80), nullable=True)  # the person who took the task
    due_at = Column(DateTime, nullable=True)  # a task for a person: by when (priority's due hours)
    params = Column(JSON, nullable=False, default=dict)  # day, days, amount, credit (texts)
    noticed_at = Column(DateTime, nullable=True)  # the assistant told the customer about it
    created_at = Column(DateTime, nullable=False, default=utcnow)
    closed_at = Column(DateTime, nullable=True)

    event = relationship("KeyEvent", back_populates="alerts")
    actions = relationship("AlertAction", back_populates="alert", order_by="AlertAction.id")
    customer = relationship("Customer")


class AlertAction(Base):
    """One action of an alert (sms, compensation, task, note), run once: its outcome."""

    __tablename__ = "alert_actions"
    __table_args__ = (UniqueConstraint("alert_id", "action"),)

    id = Column(Integer, primary_key=True)
    alert_id = Column(Integer, ForeignKey("alerts.id"), nullable=False, index=True)
    action = Column(String(20), nullable=False)  # sms|compensation|task|note
    status = Column(String(12), nullable=False, index=True)
    # done|pending|sending|sent|failed|skipped
    amount = Column(Numeric(10, 2), nullable=True)  # a compensation credit (EUR)
    detail = Column(String(200), nullable=True)  # why skipped, the message sid, the error
    attempts = Column(Integer, nullable=False, default=0)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    done_at = Column(DateTime, nullable=True)

    alert = relationship("Alert", back_populates="actions")


class PaymentLink(Base):
    """A single-use, expiring link to update the payment method after a failed payment.

    Only the token's hash is kept; the page records that the method was updated and its kind,
    never card data."""

    __tablename__ = "payment_links"

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    alert_id = Column(Integer, ForeignKey("alerts.id"), nullable=True, index=True)
    token_hash = Column(String(64), nullable=False, unique=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)
    used_at = Column(DateTime, nullable=True)
    method = Column(String(20), nullable=True)  # card|direct_debit (what the customer chose)


class ProactiveContact(Base):
    """A customer the churn-risk model found at risk in a proactive run: contacted or held out.

    The holdout rows are the control group: never contacted, so that the churn of contacted
    customers can be compared with theirs (the uplift on the dashboard)."""

    __tablename__ = "proactive_contacts"
    __table_args__ = (Index("ix_proactive_contacts_customer_created", "customer_id", "created_at"),)

    id = Column(Integer, primary_key=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False)
    scored_on = Column(Date, nullable=False, index=True)
    probability = Column(Numeric(6, 4), nullable=False)
    drivers = Column(JSON, nullable=False, default=list)
    model_version = Column(String(40), nullable=False)
    reason = Column(String(30), nullable=False)
    holdout = Column(Boolean, nullable=False, default=False)
    status = Column(String(12), nullable=False, index=True)
    # holdout|skipped|due|sending|sent|accepted|declined|no_answer|failed
    skip_reason = Column(String(60), nullable=True)
    offer_id = Column(String(60), nullable=True)
    offer_kind = Column(String(20), nullable=True)
    offer_params = Column(JSON, nullable=False, default=dict)
    offer_cost = Column(Numeric(10, 2), nullable=True)
    message_sid = Column(String(200), nullable=True)
    sent_at = Column(DateTime, nullable=True)
    outcome_at = Column(DateTime, nullable=True)
    reference = Column(String(32), nullable=True, unique=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    customer = relationship("Customer")
