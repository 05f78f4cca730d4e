"""Housekeeping that keeps the records true over time; `make run` runs it every hour.

* Offers whose time is over end: a discount goes back to the list price, a pause resumes the
  service, a free upgrade returns to the previous plan (``expire_offers``).
* A retention conversation the customer never finished (no answer for
  ``cases.abandon_after_hours`` in ``data/retention.yml``) gets its final status, ``abandoned``,
  so the dashboard counts it and the case no longer waits for an answer.

``python -m bot.cli.housekeeping`` runs both once; ``--every SECONDS`` keeps running them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.process import Policy
from bot.core.subscriptions import expire_offers
from bot.core.vocabulary import CaseStatus
from bot.storage.models import CaseOffer, RetentionCase, utcnow


def abandon_stale_cases(session: Session, now: datetime, after: timedelta) -> int:
    """Open cases with no activity for ``after`` become ``abandoned``; returns how many.

    Activity is the case's opening and every offer made or answered in it. An unanswered offer
    stays ``pending`` (it was never answered); nothing is applied or cancelled.
    """
    cutoff = now - after
    recent_offer = (select(CaseOffer.id)
                    .where(CaseOffer.case_id == RetentionCase.id,
                           func.coalesce(CaseOffer.decided_at, CaseOffer.presented_at) >= cutoff)
                    .exists())
    stale = session.scalars(select(RetentionCase).where(RetentionCase.status == CaseStatus.OPEN,
                                                        RetentionCase.opened_at < cutoff, ~recent_offer)).all()
    for case in stale:
        case.status, case.closed_at = CaseStatus.ABANDONED, now
    return len(stale)


@dataclass(frozen=True)
class Summary:
    offers_ended: int
    cases_abandoned: int

    def line(self) -> str:
        return f"{self.offers_ended} running offer(s) ended, {self.cases_abandoned} case(s) abandoned"


def run_once(session: Session, policy: Policy, now: datetime | None = None) -> Summary:
    now = now or utcnow()
    return Summary(offers_ended=expire_offers(session, now.date()),
                   cases_abandoned=abandon_stale_cases(session, now, policy.abandon_after))
