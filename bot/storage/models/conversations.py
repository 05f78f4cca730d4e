"""What the conversations leave: retention cases with their offers, action plans and their
check-ins, handoff tickets, cold cases for win-back, and the idempotency keys of inbound messages."""

from __future__ import annotations

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
from sqlalchemy.orm import relationship

from bot.storage.models.base import Base, utcnow


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
