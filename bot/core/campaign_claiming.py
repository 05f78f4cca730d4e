"""Quiet hours and claiming: which due cold cases may be texted now, and claiming them
atomically so that two runners never text the same customer."""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from bot.core.campaign_cases import naive_utc
from bot.core.process import Policy, load_policy
from bot.core.vocabulary import ColdStatus
from bot.storage.models import ColdCase, Customer

logger = logging.getLogger(__name__)


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or fallback)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("Unknown time zone %r on a customer; using %s.", name, fallback)
        return ZoneInfo(fallback)


def in_quiet_hours(policy: Policy, tz_name: str | None, now: datetime) -> bool:
    """True when it is quiet time (``cold.quiet_hours``) in the time zone ``tz_name``."""
    local = naive_utc(now).replace(tzinfo=timezone.utc).astimezone(_zone(tz_name, policy.handoff.timezone)).time()
    start, end = policy.cold.quiet_start, policy.cold.quiet_end
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # the window spans midnight


def _zones(session: Session, now: datetime, policy: Policy) -> tuple[list[str], list[str]]:
    """The time zones of customers with due cases: (those where one may text now, quiet ones).
    Quiet hours depend only on the zone, so the claim filters in SQL and can use LIMIT."""
    zones = session.scalars(select(Customer.timezone).join(ColdCase, ColdCase.customer_id == Customer.id)
                            .where(ColdCase.status == ColdStatus.DUE).distinct()).all()
    awake: list[str] = []
    quiet: list[str] = []
    for zone in zones:
        (quiet if in_quiet_hours(policy, zone, now) else awake).append(zone)
    return awake, quiet


def _due_in(zones: list[str], exclude: Collection[int]) -> Select:
    query = (select(ColdCase).join(Customer, Customer.id == ColdCase.customer_id)
             .where(ColdCase.status == ColdStatus.DUE, Customer.timezone.in_(zones)))
    if exclude:
        query = query.where(ColdCase.id.not_in(list(exclude)))
    return query.order_by(ColdCase.due_on, ColdCase.id)


def due_candidates(session: Session, now: datetime, policy: Policy | None = None,
                   exclude: Collection[int] = (), limit: int | None = None) -> tuple[list[int], list[int]]:
    """Ids of due cases, oldest first: (up to ``limit`` that may be texted now, those in their
    customers' quiet hours)."""
    policy = policy or load_policy()
    awake, quiet = _zones(session, now, policy)
    sendable_query = _due_in(awake, exclude).with_only_columns(ColdCase.id)
    if limit is not None:
        sendable_query = sendable_query.limit(limit)
    sendable = list(session.scalars(sendable_query)) if awake else []
    waiting = list(session.scalars(_due_in(quiet, ()).with_only_columns(ColdCase.id))) if quiet else []
    return sendable, waiting


def claim_due(session: Session, runner_id: str, limit: int | None, now: datetime,
              policy: Policy | None = None, exclude: Collection[int] = ()) -> list[ColdCase]:
    """Claim up to ``limit`` due cases (None: all), oldest first, outside their customers' quiet
    hours, for ``runner_id``, atomically: two runners never get the same case. ``exclude``: ids
    not to claim (cases this runner already tried). Commits.

    PostgreSQL (and other databases with row locks): ``SELECT ... FOR UPDATE SKIP LOCKED
    LIMIT n`` then the update, in one transaction: rows another runner is claiming are skipped,
    not waited for. SQLite (one writer at a time): a compare-and-set ``UPDATE ... WHERE id = :id
    AND status = 'due'`` per candidate, kept only when it changed a row.
    """
    if not runner_id or len(runner_id) > 64:
        raise ValueError("runner_id must be 1 to 64 characters")
    if limit is not None and limit < 1:
        raise ValueError("limit must be at least 1")
    policy = policy or load_policy()
    now = naive_utc(now)
    claimed: list[int] = []
    if session.get_bind().dialect.name == "sqlite":
        while limit is None or len(claimed) < limit:
            ids, _ = due_candidates(session, now, policy, exclude, None if limit is None else limit - len(claimed))
            session.commit()  # no read transaction is held across the writes
            if not ids:
                break
            for cold_id in ids:  # each candidate ends claimed, by us or by another runner
                result = session.execute(
                    update(ColdCase).where(ColdCase.id == cold_id, ColdCase.status == ColdStatus.DUE)
                    .values(status=ColdStatus.CLAIMED, claimed_by=runner_id, claimed_at=now)
                    .execution_options(synchronize_session=False))
                session.commit()
                if result.rowcount == 1:
                    claimed.append(cold_id)
    else:
        awake, _ = _zones(session, now, policy)
        if awake:
            query = (_due_in(awake, exclude).with_for_update(skip_locked=True, of=ColdCase)
                     .execution_options(populate_existing=True))
            if limit is not None:
                query = query.limit(limit)
            for cold in session.scalars(query).all():
                cold.status, cold.claimed_by, cold.claimed_at = ColdStatus.CLAIMED, runner_id, now
                claimed.append(cold.id)
        session.commit()
    if not claimed:
        return []
    return list(session.scalars(select(ColdCase).where(ColdCase.id.in_(claimed)).order_by(
        ColdCase.due_on, ColdCase.id).execution_options(populate_existing=True)).all())
