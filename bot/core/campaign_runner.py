"""The campaign runner: one run expires unanswered SMS, makes cases due, claims them and texts
each customer (``run_campaign``), or, as a dry run, lists what would go out."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time as time_module
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from bot.core.campaign_cases import QUIET, SKIP_KEY, naive_utc
from bot.core.campaign_claiming import claim_due, due_candidates, in_quiet_hours
from bot.core.campaign_config import CampaignConfig, load_campaigns
from bot.core.campaign_messages import PlannedMessage, plan_message
from bot.core.campaign_replies import expire_unanswered
from bot.core.campaign_scheduling import refresh
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import Catalogue
from bot.core.process import Policy, load_policy
from bot.core.vocabulary import ColdStatus
from bot.storage.models import ColdCase, Customer, utcnow

if TYPE_CHECKING:
    from bot.messaging.sms import SmsSender

logger = logging.getLogger(__name__)


def _skip(cold: ColdCase, reason: str) -> None:
    cold.status = ColdStatus.SKIPPED
    cold.outcome_at = utcnow()
    cold.offer_params = {**(cold.offer_params or {}), SKIP_KEY: reason}
    logger.info("Cold case #%s skipped: %s.", cold.id, reason)


@dataclass
class CampaignSummary:
    runner_id: str
    dry_run: bool
    now: datetime
    became_due: int = 0
    expired: int = 0
    claimed: int = 0
    sent: int = 0
    quiet_hours: int = 0  # due but in the customer's quiet hours: left for a later run
    retry_later: int = 0  # delivery failed, attempts left: due again
    failed: int = 0  # delivery failed for good
    skipped: Counter[str] = field(default_factory=Counter)
    messages: list[PlannedMessage] = field(default_factory=list)  # sent, or would be sent

    def lines(self) -> list[str]:
        head = "DRY RUN: nothing sent, nothing changed. " if self.dry_run else ""
        out = [f"{head}runner {self.runner_id} at {self.now:%Y-%m-%d %H:%M} UTC",
               f"became due: {self.became_due}; expired without answer: {self.expired}; "
               f"in quiet hours: {self.quiet_hours}",
               f"{'would send' if self.dry_run else 'claimed'}: "
               f"{len(self.messages) if self.dry_run else self.claimed}; sent: {self.sent}; "
               f"retry later: {self.retry_later}; failed: {self.failed}; skipped: {sum(self.skipped.values())}"]
        out += [f"  skipped {reason}: {n}" for reason, n in sorted(self.skipped.items())]
        if self.messages:
            segments = [m.segments for m in self.messages]
            out.append(f"SMS segments per message: {min(segments)}-{max(segments)} "
                       f"(total {sum(segments)})")
        return out


SessionFactory = Callable[[], Session]


def default_runner_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"[:64]


def _housekeeping(factory: SessionFactory, now: datetime, policy: Policy, config: CampaignConfig,
                  summary: CampaignSummary) -> None:
    with factory() as session:
        summary.expired = expire_unanswered(session, now, config.no_answer_days, policy)
        summary.became_due = refresh(session, now.date(), policy, config)
        session.commit()


def _dry_run(factory: SessionFactory, now: datetime, limit: int | None, policy: Policy, config: CampaignConfig,
             catalogue: Catalogue, summary: CampaignSummary) -> None:
    with factory() as session:
        try:
            summary.expired = expire_unanswered(session, now, config.no_answer_days, policy)
            summary.became_due = refresh(session, now.date(), policy, config)
            sendable, quiet = due_candidates(session, now, policy)
            summary.quiet_hours = len(quiet)
            for cold_id in sendable:
                if limit is not None and len(summary.messages) >= limit:
                    break
                cold = session.get(ColdCase, cold_id)
                planned = plan_message(session, cold, now.date(), policy, config, catalogue)
                if isinstance(planned, str):
                    summary.skipped[planned] += 1
                else:
                    summary.messages.append(planned)
        finally:
            session.rollback()


def _prepare(factory: SessionFactory, cold_id: int, runner_id: str, now: datetime, policy: Policy,
             config: CampaignConfig, catalogue: Catalogue) -> PlannedMessage | str | None:
    """Checks, offer and text for a claimed case; the attempt is committed before sending."""
    with factory() as session:
        cold = session.get(ColdCase, cold_id)
        if cold is None or cold.status != ColdStatus.CLAIMED or cold.claimed_by != runner_id:
            return None
        customer = session.get(Customer, cold.customer_id)
        if customer is not None and in_quiet_hours(policy, customer.timezone, now):
            # The run went on into the customer's quiet hours: leave the case for a later run.
            cold.status, cold.claimed_by, cold.claimed_at = ColdStatus.DUE, None, None
            session.commit()
            return QUIET
        planned = plan_message(session, cold, now.date(), policy, config, catalogue)
        if isinstance(planned, str):
            _skip(cold, planned)
        else:
            cold.attempts += 1
        session.commit()
        return planned


async def _send_one(factory: SessionFactory, sender: SmsSender, cold_id: int, runner_id: str, now: datetime,
                    policy: Policy, config: CampaignConfig, catalogue: Catalogue, summary: CampaignSummary) -> str:
    """Text one claimed case; returns the outcome ("sent", "skipped", "retry", "failed")."""
    from bot.messaging.sms import SmsError, SmsNotAllowed, SmsRejected

    planned = await asyncio.to_thread(_prepare, factory, cold_id, runner_id, now, policy, config, catalogue)
    if planned is None:
        return "lost"
    if planned == QUIET:
        return QUIET
    if isinstance(planned, str):
        summary.skipped[planned] += 1
        return "skipped"
    sid: str | None = None
    skip: str | None = None
    try:
        result = await sender.send(customer_id=planned.customer_id, body=planned.body, purpose="marketing")
        sid = result.sids[0]
    except SmsNotAllowed as exc:
        skip = f"not_allowed: {exc.reason}"
    except SmsRejected as exc:
        skip = f"rejected_{exc.code or exc.status}"
    except SmsError as exc:  # SmsDeliveryFailed: Twilio kept failing
        logger.warning("Cold case #%s: %s", cold_id, exc)
    except Exception:  # never leave the case claimed because of one bad message
        logger.exception("Cold case #%s: unexpected error while sending", cold_id)
    outcome = await asyncio.to_thread(_record, factory, cold_id, now, policy, sid=sid, skip=skip)
    if outcome == "sent":
        summary.sent += 1
        summary.messages.append(planned)
    elif outcome == "skipped":
        summary.skipped[skip or "error"] += 1
    elif outcome == "retry":
        summary.retry_later += 1
    else:
        summary.failed += 1
    return outcome


def _record(factory: SessionFactory, cold_id: int, now: datetime, policy: Policy, *,
            sid: str | None = None, skip: str | None = None) -> str:
    """Store the outcome of a send: "sent", "skipped", "retry" (due again) or "failed"."""
    with factory() as session:
        cold = session.get(ColdCase, cold_id)
        assert cold is not None
        if sid is not None:
            cold.status, cold.sent_at, cold.message_sid = ColdStatus.SENT, now, sid[:64]
            outcome = "sent"
        elif skip is not None:
            _skip(cold, skip)
            outcome = "skipped"
        elif cold.attempts < policy.cold.max_attempts:
            cold.status, cold.claimed_by, cold.claimed_at = ColdStatus.DUE, None, None
            outcome = "retry"
        else:
            _skip(cold, "delivery_failed")
            outcome = "failed"
        session.commit()
        return outcome


async def run_campaign(session_factory: SessionFactory, sender: SmsSender | None = None,
                       runner_id: str | None = None, now: datetime | None = None, dry_run: bool = False,
                       limit: int | None = None, *, policy: Policy | None = None,
                       config: CampaignConfig | None = None, catalogue: Catalogue | None = None,
                       batch_size: int = 10) -> CampaignSummary:
    """One campaign run: expire unanswered SMS, make cases due, claim, and text each customer.

    ``dry_run`` sends nothing and changes nothing (every change is rolled back) and lists the
    messages that would go out. Cases are claimed ``batch_size`` at a time (so that runners
    started together share the work), at most ``limit`` in all. Database work runs in worker
    threads, so the event loop never blocks; the SMS go through ``sender`` (which checks
    consent again).
    """
    policy = policy or load_policy()
    config = config or load_campaigns()
    catalogue = catalogue or load_catalogue()
    runner_id = runner_id or default_runner_id()
    now = naive_utc(now)
    summary = CampaignSummary(runner_id=runner_id, dry_run=dry_run, now=now)
    if dry_run:
        await asyncio.to_thread(_dry_run, session_factory, now, limit, policy, config, catalogue, summary)
        return summary
    if sender is None:
        raise ValueError("a sender is needed unless dry_run")
    if batch_size < 1 or (limit is not None and limit < 1):
        raise ValueError("batch_size and limit must be at least 1")
    await asyncio.to_thread(_housekeeping, session_factory, now, policy, config, summary)
    started = time_module.monotonic()

    def clock() -> datetime:
        """``now`` moved on by the time this run has taken: a long run must stop texting a
        customer whose quiet hours begin while it is still going."""
        return now + timedelta(seconds=time_module.monotonic() - started)

    def claim(size: int, seen: frozenset[int]) -> list[int]:
        with session_factory() as session:
            return [c.id for c in claim_due(session, runner_id, size, clock(), policy, seen)]

    def quiet_count() -> int:
        with session_factory() as session:
            return len(due_candidates(session, clock(), policy)[1])

    retried: set[int] = set()  # put back for a later run: not claimed again in this one
    while limit is None or summary.claimed < limit:
        size = batch_size if limit is None else min(batch_size, limit - summary.claimed)
        claimed_ids = await asyncio.to_thread(claim, size, frozenset(retried))
        if not claimed_ids:
            break
        summary.claimed += len(claimed_ids)
        for cold_id in claimed_ids:
            outcome = await _send_one(session_factory, sender, cold_id, runner_id, clock(), policy, config,
                                      catalogue, summary)
            if outcome == "retry":
                retried.add(cold_id)
    summary.quiet_hours = await asyncio.to_thread(quiet_count)
    logger.info("Campaign run %s: %s", runner_id, "; ".join(summary.lines()[1:]))
    return summary
