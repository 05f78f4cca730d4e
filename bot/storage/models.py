"""SQLAlchemy models of the retention assistant (schema managed by Alembic in ``migrations/``)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

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
from sqlalchemy.orm import declarative_base, relationship

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


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


class RetentionCase(Base):
    """One retention conversation: who, why, what was offered, how it ended."""

    __tablename__ = "retention_cases"
    # Covering index of the analytics dashboard's main queries (migration 0003).
    __table_args__ = (Index("ix_retention_cases_scope", "opened_at", "status", "reason", "holdout", "channel",
                            "language", "customer_id", "closed_at", "accepted_offer_id",
                            "monthly_revenue_at_stake", "offer_cost"),)

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=True, index=True)
    channel = Column(String(20), nullable=False, default="web")
    language = Column(String(2), nullable=False, default="es")
    status = Column(String(20), nullable=False, default="open", index=True)
    # open|retained|cancelled|handed_off|abandoned
    reason = Column(String(30), nullable=True, index=True)
    reason_verbatim = Column(Text, nullable=True)
    monthly_revenue_at_stake = Column(Numeric(10, 2), nullable=True)
    offer_cost = Column(Numeric(10, 2), nullable=False, default=Decimal("0"))
    accepted_offer_id = Column(String(60), nullable=True)
    reference = Column(String(32), nullable=True, unique=True)  # offer applied / plan reference
    confirmation_number = Column(String(32), nullable=True, unique=True)  # cancellation
    cancel_effective_date = Column(Date, nullable=True)
    # When the customer asked to cancel right away ("just cancel it", or yes to the read-back)
    # before proving who they are: once verified, the cancellation is processed, nothing else.
    cancel_requested_at = Column(DateTime, nullable=True)
    # The customer undid the cancellation before its effective date ("me he arrepentido").
    cancel_undone_at = Column(DateTime, nullable=True)
    # Reasons stated after the first one, comma-separated (the first stays in ``reason``).
    later_reasons = Column(String(200), nullable=True)
    holdout = Column(Boolean, nullable=False, default=False)
    opened_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    closed_at = Column(DateTime, nullable=True)

    offers = relationship("CaseOffer", back_populates="case", order_by="CaseOffer.position")
    customer = relationship("Customer")


class CaseOffer(Base):
    __tablename__ = "case_offers"
    __table_args__ = (UniqueConstraint("case_id", "position"),
                      Index("ix_case_offers_case_outcome", "case_id", "offer_id", "kind", "variant", "outcome", "cost"))

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("retention_cases.id"), nullable=False, index=True)
    position = Column(Integer, nullable=False)  # 1 = first save attempt
    offer_id = Column(String(60), nullable=False)
    kind = Column(String(20), nullable=False)
    variant = Column(String(4), nullable=False, default="hot")
    cost = Column(Numeric(10, 2), nullable=False)
    expected_value = Column(Numeric(10, 2), nullable=False)
    params = Column(JSON, nullable=False, default=dict)
    outcome = Column(String(10), nullable=False, default="pending")  # pending|accepted|declined
    presented_at = Column(DateTime, nullable=False, default=utcnow)
    decided_at = Column(DateTime, nullable=True)

    case = relationship("RetentionCase", back_populates="offers")


class ActionPlan(Base):
    """Written personalised action plan (seed 001) with commitments from both sides."""

    __tablename__ = "action_plans"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("retention_cases.id"), nullable=False, unique=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    token = Column(String(40), nullable=False, unique=True)  # unguessable URL token
    reference = Column(String(32), nullable=False, unique=True)
    language = Column(String(2), nullable=False, default="es")
    answers = Column(JSON, nullable=False, default=dict)
    customer_commitments = Column(JSON, nullable=False, default=list)
    company_commitments = Column(JSON, nullable=False, default=list)
    gift = Column(Text, nullable=False, default="")
    gift_cost = Column(Numeric(10, 2), nullable=False, default=Decimal("0"))
    created_at = Column(DateTime, nullable=False, default=utcnow)

    checkins = relationship("ActionPlanCheckin", back_populates="plan", order_by="ActionPlanCheckin.due_date")


class ActionPlanCheckin(Base):
    __tablename__ = "action_plan_checkins"

    id = Column(Integer, primary_key=True)
    plan_id = Column(Integer, ForeignKey("action_plans.id"), nullable=False, index=True)
    due_date = Column(Date, nullable=False)
    done_at = Column(DateTime, nullable=True)
    note = Column(Text, nullable=True)

    plan = relationship("ActionPlan", back_populates="checkins")


class ProcessedMessage(Base):
    """Idempotency keys of inbound messages (a retried webhook must not make two turns)."""

    __tablename__ = "processed_messages"

    id = Column(Integer, primary_key=True)
    key = Column(String(128), nullable=False, unique=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)


class HandoffTicket(Base):
    """A conversation handed to a person, with a summary an agent can act on in ten seconds."""

    __tablename__ = "handoff_tickets"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    case_id = Column(Integer, ForeignKey("retention_cases.id"), nullable=True, index=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=True, index=True)
    channel = Column(String(20), nullable=False, default="web")
    language = Column(String(2), nullable=False, default="es")
    trigger = Column(String(20), nullable=False)  # asked|not_understood|angry|high_value
    status = Column(String(20), nullable=False, default="waiting", index=True)
    # waiting|in_progress|resolved|callback
    summary = Column(JSON, nullable=False, default=dict)
    sentiment = Column(String(10), nullable=True)  # negative|neutral|positive
    out_of_hours = Column(Boolean, nullable=False, default=False)
    assigned_to = Column(String(80), nullable=True)
    notify_attempts = Column(Integer, nullable=False, default=0)
    notified_at = Column(DateTime, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    resolved_at = Column(DateTime, nullable=True)


class ColdCase(Base):
    """A customer who cancelled in hot, to be contacted again once cooled down (seed 000)."""

    __tablename__ = "cold_cases"

    id = Column(Integer, primary_key=True)
    case_id = Column(Integer, ForeignKey("retention_cases.id"), nullable=False, unique=True)
    customer_id = Column(Integer, ForeignKey("customers.id"), nullable=False, index=True)
    reason = Column(String(30), nullable=False, index=True)
    status = Column(String(20), nullable=False, default="cooling", index=True)
    # cooling|waiting_fix|due|claimed|sent|won_back|declined|no_answer|skipped
    due_on = Column(Date, nullable=False, index=True)
    problem_solved_at = Column(DateTime, nullable=True)
    offer_id = Column(String(60), nullable=True)
    offer_params = Column(JSON, nullable=False, default=dict)
    offer_cost = Column(Numeric(10, 2), nullable=True)
    attempts = Column(Integer, nullable=False, default=0)
    claimed_by = Column(String(64), nullable=True)
    claimed_at = Column(DateTime, nullable=True)
    sent_at = Column(DateTime, nullable=True)
    message_sid = Column(String(64), nullable=True)
    outcome_at = Column(DateTime, nullable=True)
    reference = Column(String(32), nullable=True, unique=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)


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
