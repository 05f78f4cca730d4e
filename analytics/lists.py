"""The dashboard's row lists: conversations (cases), one case in detail, action plans with their
check-ins and the handoff queue.

Unlike the figures (:mod:`analytics.figures`) these are rows, newest or oldest first and capped, with
the customer's contact data in full: masking is the tables' job (:mod:`analytics.tables`), which
turn these rows into what a user may see and export.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from analytics.filters import Filters, case_conditions, to_money
from analytics.results import NO_REASON
from bot.storage.models import (
    ActionPlan,
    ActionPlanCheckin,
    CaseOffer,
    ColdCase,
    Customer,
    HandoffTicket,
    utcnow,
)
from bot.storage.models import RetentionCase as RC

QUEUE_STATUSES: tuple[str, ...] = ("waiting", "in_progress", "callback")


@dataclass(frozen=True)
class ConversationRow:
    case_id: int
    conversation_id: str
    opened_at: datetime
    closed_at: datetime | None
    channel: str
    language: str
    status: str
    reason: str
    holdout: bool
    customer_ref: str
    customer_name: str
    phone: str | None
    email: str | None
    offers: str  # "discount_short: declined; credit_outage: accepted"
    accepted_offer_id: str
    revenue_at_stake: Decimal
    offer_cost: Decimal
    handoff: bool
    cold_status: str


def conversations(session: Session, filters: Filters, *, limit: int = 500) -> list[ConversationRow]:
    """The latest cases in scope with their customer, offers, handoff and cold follow-up."""
    conds = case_conditions(session, filters)
    rows = session.execute(
        select(RC, Customer).outerjoin(Customer, Customer.id == RC.customer_id).where(*conds)
        .order_by(RC.opened_at.desc(), RC.id.desc()).limit(limit)).all()
    ids = [c.id for c, _ in rows]
    offers: dict[int, list[str]] = defaultdict(list)
    tickets: set[int] = set()
    cold: dict[int, str] = {}
    if ids:
        for case_id, offer_id, outcome in session.execute(
                select(CaseOffer.case_id, CaseOffer.offer_id, CaseOffer.outcome)
                .where(CaseOffer.case_id.in_(ids)).order_by(CaseOffer.case_id, CaseOffer.position)):
            offers[case_id].append(f"{offer_id}: {outcome}")
        tickets = set(session.scalars(select(HandoffTicket.case_id).where(HandoffTicket.case_id.in_(ids))))
        cold = dict(session.execute(select(ColdCase.case_id, ColdCase.status).where(ColdCase.case_id.in_(ids))).all())
    out = []
    for c, customer in rows:
        out.append(ConversationRow(
            case_id=c.id, conversation_id=c.conversation_id, opened_at=c.opened_at, closed_at=c.closed_at,
            channel=c.channel, language=c.language, status=c.status, reason=c.reason or NO_REASON,
            holdout=bool(c.holdout), customer_ref=customer.ref if customer else "",
            customer_name=customer.full_name if customer else "", phone=customer.phone if customer else None,
            email=customer.email if customer else None, offers="; ".join(offers.get(c.id, [])),
            accepted_offer_id=c.accepted_offer_id or "", revenue_at_stake=to_money(c.monthly_revenue_at_stake),
            offer_cost=to_money(c.offer_cost), handoff=c.id in tickets or c.status == "handed_off",
            cold_status=cold.get(c.id, "")))
    return out


@dataclass(frozen=True)
class CaseOfferLine:
    position: int
    offer_id: str
    kind: str
    variant: str
    cost: Decimal
    expected_value: Decimal
    outcome: str
    text: str
    presented_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class CaseDetail:
    case_id: int
    conversation_id: str
    status: str
    reason: str
    reason_verbatim: str
    channel: str
    language: str
    holdout: bool
    opened_at: datetime
    closed_at: datetime | None
    customer_ref: str
    customer_name: str
    phone: str | None
    email: str | None
    revenue_at_stake: Decimal
    offer_cost: Decimal
    accepted_offer_id: str
    reference: str
    confirmation_number: str
    offers: tuple[CaseOfferLine, ...]
    cold_status: str
    ticket_status: str
    plan_reference: str


def case_detail(session: Session, case_id: int) -> CaseDetail | None:
    c = session.get(RC, case_id)
    if c is None:
        return None
    customer = session.get(Customer, c.customer_id) if c.customer_id else None
    lines = []
    for o in c.offers:
        texts = (o.params or {}).get("_text") or {}
        lines.append(CaseOfferLine(position=o.position, offer_id=o.offer_id, kind=o.kind, variant=o.variant,
                                   cost=to_money(o.cost), expected_value=to_money(o.expected_value), outcome=o.outcome,
                                   text=str(texts.get(c.language) or texts.get("es") or ""),
                                   presented_at=o.presented_at, decided_at=o.decided_at))
    cold = session.scalar(select(ColdCase.status).where(ColdCase.case_id == c.id)) or ""
    ticket = session.scalar(select(HandoffTicket.status).where(HandoffTicket.case_id == c.id)
                            .order_by(HandoffTicket.id.desc()).limit(1)) or ""
    plan = session.scalar(select(ActionPlan.reference).where(ActionPlan.case_id == c.id)) or ""
    return CaseDetail(
        case_id=c.id, conversation_id=c.conversation_id, status=c.status, reason=c.reason or NO_REASON,
        reason_verbatim=c.reason_verbatim or "", channel=c.channel, language=c.language, holdout=bool(c.holdout),
        opened_at=c.opened_at, closed_at=c.closed_at, customer_ref=customer.ref if customer else "",
        customer_name=customer.full_name if customer else "", phone=customer.phone if customer else None,
        email=customer.email if customer else None, revenue_at_stake=to_money(c.monthly_revenue_at_stake),
        offer_cost=to_money(c.offer_cost), accepted_offer_id=c.accepted_offer_id or "", reference=c.reference or "",
        confirmation_number=c.confirmation_number or "", offers=tuple(lines), cold_status=cold,
        ticket_status=ticket, plan_reference=plan)


@dataclass(frozen=True)
class PlanRow:
    plan_id: int
    reference: str
    case_id: int
    case_status: str
    customer_ref: str
    customer_name: str
    phone: str | None
    email: str | None
    language: str
    created_at: datetime
    gift: str
    gift_cost: Decimal
    customer_commitments: str
    company_commitments: str
    checkins: int
    checkins_done: int
    checkins_overdue: int
    next_due: date | None


@dataclass(frozen=True)
class CheckinRow:
    plan_reference: str
    customer_ref: str
    customer_name: str
    due_date: date
    done_at: datetime | None
    state: str  # done | overdue | due_today | upcoming
    note: str


def checkin_state(due: date, done_at: datetime | None, today: date) -> str:
    if done_at is not None:
        return "done"
    if due < today:
        return "overdue"
    return "due_today" if due == today else "upcoming"


def action_plans(session: Session, filters: Filters, *, as_of: datetime | None = None,
                 limit: int = 500) -> tuple[list[PlanRow], list[CheckinRow]]:
    """Action plans of the cases in scope (latest first) and all their check-ins."""
    today = (as_of or utcnow()).date()
    conds = case_conditions(session, filters)
    rows = session.execute(
        select(ActionPlan, RC.status, Customer).join(RC, RC.id == ActionPlan.case_id)
        .join(Customer, Customer.id == ActionPlan.customer_id).where(*conds)
        .order_by(ActionPlan.created_at.desc(), ActionPlan.id.desc()).limit(limit)).all()
    plan_ids = [p.id for p, _, _ in rows]
    checkins: dict[int, list[ActionPlanCheckin]] = defaultdict(list)
    if plan_ids:
        for ch in session.scalars(select(ActionPlanCheckin).where(ActionPlanCheckin.plan_id.in_(plan_ids))
                                  .order_by(ActionPlanCheckin.due_date, ActionPlanCheckin.id)):
            checkins[ch.plan_id].append(ch)
    plans: list[PlanRow] = []
    lines: list[CheckinRow] = []
    for plan, case_status, customer in rows:
        mine = checkins.get(plan.id, [])
        states = [checkin_state(ch.due_date, ch.done_at, today) for ch in mine]
        open_dues = [ch.due_date for ch, s in zip(mine, states) if s != "done"]
        plans.append(PlanRow(
            plan_id=plan.id, reference=plan.reference, case_id=plan.case_id, case_status=case_status,
            customer_ref=customer.ref, customer_name=customer.full_name, phone=customer.phone,
            email=customer.email, language=plan.language, created_at=plan.created_at, gift=plan.gift or "",
            gift_cost=to_money(plan.gift_cost), customer_commitments=" | ".join(plan.customer_commitments or []),
            company_commitments=" | ".join(plan.company_commitments or []), checkins=len(mine),
            checkins_done=states.count("done"), checkins_overdue=states.count("overdue"),
            next_due=min(open_dues) if open_dues else None))
        for ch, state in zip(mine, states):
            lines.append(CheckinRow(plan_reference=plan.reference, customer_ref=customer.ref,
                                    customer_name=customer.full_name, due_date=ch.due_date, done_at=ch.done_at,
                                    state=state, note=ch.note or ""))
    lines.sort(key=lambda r: (r.state == "done", r.due_date, r.plan_reference))
    return plans, lines


@dataclass(frozen=True)
class QueueRow:
    ticket_id: int
    created_at: datetime
    waiting_minutes: int
    status: str
    trigger: str
    channel: str
    language: str
    sentiment: str
    out_of_hours: bool
    assigned_to: str
    customer_ref: str
    customer_name: str
    phone: str | None
    email: str | None
    conversation_id: str
    case_id: int | None
    reason: str
    summary: str


def summary_text(summary: Any) -> str:
    """A handoff summary (JSON) as one line an agent can read."""
    if isinstance(summary, str):
        return summary
    if not isinstance(summary, dict):
        return "" if summary is None else json.dumps(summary, ensure_ascii=False)
    for key in ("text", "summary", "es", "en"):
        if isinstance(summary.get(key), str):
            return summary[key]
    parts = []
    for key, value in summary.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def handoff_queue(session: Session, filters: Filters | None = None, *, as_of: datetime | None = None,
                  statuses: Sequence[str] = QUEUE_STATUSES, limit: int = 500) -> list[QueueRow]:
    """Tickets waiting for a person (oldest first); only the channel and language filters apply."""
    as_of = as_of or utcnow()
    filters = filters or Filters()
    conds: list[ColumnElement[bool]] = [HandoffTicket.status.in_(tuple(statuses))]
    if filters.channels:
        conds.append(HandoffTicket.channel.in_(filters.channels))
    if filters.languages:
        conds.append(HandoffTicket.language.in_(filters.languages))
    order = case({s: i for i, s in enumerate(QUEUE_STATUSES)}, value=HandoffTicket.status, else_=len(QUEUE_STATUSES))
    rows = session.execute(
        select(HandoffTicket, Customer, RC.reason).outerjoin(Customer, Customer.id == HandoffTicket.customer_id)
        .outerjoin(RC, RC.id == HandoffTicket.case_id).where(*conds)
        .order_by(order, HandoffTicket.created_at, HandoffTicket.id).limit(limit)).all()
    out = []
    for t, customer, reason in rows:
        out.append(QueueRow(
            ticket_id=t.id, created_at=t.created_at,
            waiting_minutes=max(int((as_of - t.created_at).total_seconds() // 60), 0), status=t.status,
            trigger=t.trigger, channel=t.channel, language=t.language, sentiment=t.sentiment or "",
            out_of_hours=bool(t.out_of_hours), assigned_to=t.assigned_to or "",
            customer_ref=customer.ref if customer else "", customer_name=customer.full_name if customer else "",
            phone=customer.phone if customer else None, email=customer.email if customer else None,
            conversation_id=t.conversation_id, case_id=t.case_id, reason=reason or "",
            summary=summary_text(t.summary)))
    return out
