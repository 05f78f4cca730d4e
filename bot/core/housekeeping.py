"""Housekeeping that keeps the records true over time; `make run` runs it every hour.

* Offers whose time is over end: a discount goes back to the list price, a pause resumes the
  service, a free upgrade returns to the previous plan (``expire_offers``).
* A retention conversation the customer never finished (no answer for
  ``cases.abandon_after_hours`` in ``data/retention.yml``) gets its final status, ``abandoned``,
  so the dashboard counts it and the case no longer waits for an answer.

``python -m bot.core.housekeeping`` runs both once; ``--every SECONDS`` keeps running them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.cli.periodic import every_error, repeat
from bot.config.errors import ConfigError
from bot.core.cases import OPEN
from bot.core.process import Policy, load_policy
from bot.core.subscriptions import expire_offers
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
    stale = session.scalars(select(RetentionCase).where(RetentionCase.status == OPEN,
                                                        RetentionCase.opened_at < cutoff, ~recent_offer)).all()
    for case in stale:
        case.status, case.closed_at = "abandoned", now
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


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bot.core.housekeeping", description=__doc__.split("\n\n")[0])
    ap.add_argument("--now", type=datetime.fromisoformat, default=None,
                    help="pretend it is this UTC time (YYYY-MM-DDTHH:MM), e.g. to replay a day")
    ap.add_argument("--every", type=int, default=0, metavar="SECONDS",
                    help="keep running, once every SECONDS (at least 60)")
    return ap


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    from bot.storage.db import database_error, session_scope

    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the reason
        return int(exc.code or 0)
    if error := every_error(args.every):
        print(error, file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        policy = load_policy()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def once() -> int:
        try:
            with session_scope() as session:
                summary = run_once(session, policy, args.now)
        except SQLAlchemyError as exc:
            print(database_error(exc), file=sys.stderr, flush=True)
            return 1
        print(summary.line(), flush=True)
        return 0

    return repeat(once, args.every, "housekeeping run")


if __name__ == "__main__":
    raise SystemExit(main())
