"""Scheduling cold cases: a cancelled case becomes a cold case, due once its cool-down is over
and, where its reason requires it, the problem behind it is solved."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from bot.core.campaign_cases import CampaignError, move_case
from bot.core.campaign_config import CampaignConfig, load_campaigns
from bot.core.process import Policy, load_policy
from bot.core.reasons import REASONS
from bot.core.vocabulary import OPEN_COLD_STATUSES, WAITING_COLD_STATUSES, CaseStatus, ColdStatus
from bot.storage.models import ColdCase, Incident, RetentionCase, utcnow

logger = logging.getLogger(__name__)


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time.max)


def problem_solved_at(session: Session, customer_id: int, reason: str, cancelled_on: date,
                      config: CampaignConfig | None = None) -> datetime | None:
    """When the problem behind ``reason`` was solved, from the customer's incidents of the
    matching kinds opened up to the cancellation day: all solved -> the latest ``solved_at``;
    one still open, or none on record -> None (a person has to mark it solved)."""
    config = config or load_campaigns()
    kinds = config.problem_incidents.get(reason, ())
    if not kinds:
        return None
    rows = session.execute(select(Incident.solved_at).where(
        Incident.customer_id == customer_id, Incident.kind.in_(kinds),
        Incident.opened_at <= _end_of(cancelled_on))).scalars().all()
    if not rows or any(solved is None for solved in rows):
        return None
    return max(rows)


def _cancelled_on(cold: ColdCase, policy: Policy) -> date:
    return cold.due_on - timedelta(days=policy.cold.cooldown_days.get(cold.reason, 0))


def schedule_cold_case(session: Session, case: RetentionCase, today: date | None = None,
                       policy: Policy | None = None, config: CampaignConfig | None = None) -> ColdCase | None:
    """Make a cancelled case a cold case (idempotent: the existing one is returned, and a
    customer with a cold case still open keeps that one: never two contacts at once).

    Only cases closed as ``cancelled`` with a known customer qualify; anything else gives None.
    ``today`` is the cancellation day (default: the day the case was closed). Flushes, never
    commits: it runs inside the caller's transaction (``RetentionService.cancel``).
    """
    if case.status != CaseStatus.CANCELLED or case.customer_id is None:
        return None
    existing = session.scalar(select(ColdCase).where(ColdCase.case_id == case.id))
    if existing is not None:
        return existing
    pending = session.scalar(select(ColdCase).where(ColdCase.customer_id == case.customer_id,
                                                    ColdCase.status.in_(OPEN_COLD_STATUSES)).limit(1))
    if pending is not None:  # cancelled again while already waiting for a cold contact: one is enough
        logger.info("Case #%s: customer already has open cold case #%s.", case.id, pending.id)
        return pending
    policy = policy or load_policy()
    config = config or load_campaigns()
    day = today or (case.closed_at.date() if case.closed_at else date.today())
    reason = case.reason if case.reason in REASONS else "other"
    solved_at = None
    requires = reason in policy.cold.requires_problem_solved
    if requires:
        solved_at = problem_solved_at(session, case.customer_id, reason, day, config)
    cold = ColdCase(case_id=case.id, customer_id=case.customer_id, reason=reason,
                    status=ColdStatus.WAITING_FIX if requires and solved_at is None else ColdStatus.COOLING,
                    due_on=day + timedelta(days=policy.cold.cooldown_days[reason]),
                    problem_solved_at=solved_at, offer_params={}, attempts=0)
    session.add(cold)
    session.flush()
    logger.info("Cold case #%s scheduled for case #%s (%s), due %s, %s.", cold.id, case.id, reason,
                cold.due_on.isoformat(), cold.status)
    return cold


def mark_solved(session: Session, cold_case_id: int, when: datetime | None = None) -> ColdCase:
    """A person confirms the customer's problem is solved; ``refresh`` makes the case due once
    its cool-down is over. Raises CampaignError for an unknown case. Flushes."""
    cold = session.get(ColdCase, cold_case_id)
    if cold is None:
        raise CampaignError(f"no cold case #{cold_case_id}")
    when = when or utcnow()
    if not move_case(session, cold, ColdStatus.WAITING_FIX, status=ColdStatus.COOLING, problem_solved_at=when):
        session.execute(update(ColdCase).where(ColdCase.id == cold.id).values(problem_solved_at=when)
                        .execution_options(synchronize_session=False))
        session.expire(cold)
    session.flush()
    return cold


def refresh(session: Session, today: date, policy: Policy | None = None,
            config: CampaignConfig | None = None) -> int:
    """Move cooling / waiting_fix cases to ``due`` when their cool-down is over and, where the
    reason requires it, their problem is solved (re-read from the incidents). Flushes; returns
    how many became due."""
    policy = policy or load_policy()
    config = config or load_campaigns()
    waiting = session.scalars(select(ColdCase).where(ColdCase.status.in_(WAITING_COLD_STATUSES))
                              .order_by(ColdCase.id)).all()
    became_due = 0
    for cold in waiting:
        status, solved_at = cold.status, cold.problem_solved_at
        requires = cold.reason in policy.cold.requires_problem_solved
        if requires and solved_at is None:
            solved_at = problem_solved_at(session, cold.customer_id, cold.reason, _cancelled_on(cold, policy), config)
        new_status = status
        if not requires or solved_at is not None:
            new_status = ColdStatus.DUE if cold.due_on <= today else ColdStatus.COOLING
        if (new_status, solved_at) == (status, cold.problem_solved_at):
            continue
        moved = move_case(session, cold, status, status=new_status, problem_solved_at=solved_at)
        if moved and new_status == ColdStatus.DUE:
            became_due += 1
    session.flush()
    return became_due
