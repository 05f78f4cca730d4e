"""Cold (win-back) campaigns from the command line; the rules are in the
``bot.core.campaign_*`` modules (``campaign_cases`` describes the life of a cold case).

    python -m bot.cli.campaigns run [--dry-run] [--limit N] [--runner-id X] [--now UTC-TIME] [--every SECONDS]
    python -m bot.cli.campaigns export --csv FILE [--on DAY]   (FILE "-" = standard output)
    python -m bot.cli.campaigns solved --case ID [--at YYYY-MM-DD]
    python -m bot.cli.campaigns status
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import re
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.periodic import every_error, repeat, utc_moment
from bot.config.errors import ConfigError
from bot.core.campaign_cases import CampaignError
from bot.core.campaign_config import CampaignConfig, load_campaigns
from bot.core.campaign_export import export_due_csv, status_counts
from bot.core.campaign_runner import SessionFactory, run_campaign
from bot.core.campaign_scheduling import mark_solved
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import Catalogue
from bot.core.process import Policy, load_policy
from bot.core.vocabulary import ColdStatus
from bot.storage.models import ColdCase, utcnow


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _runner_id(text: str) -> str:
    if not re.fullmatch(r"[\w.:@-]{1,64}", text):
        raise argparse.ArgumentTypeError("1 to 64 letters, digits or . _ - : @")
    return text


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-24, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bot.cli.campaigns",
                                 description="Cold retention (win-back) campaigns by SMS.")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="{run,export,solved,status}")
    run = sub.add_parser("run", help="send the due cold SMS")
    run.add_argument("--dry-run", action="store_true", help="show what would be sent; send and change nothing")
    run.add_argument("--limit", type=_positive_int, default=None, help="at most N messages in this run")
    run.add_argument("--runner-id", type=_runner_id, default=None, help="name of this runner (default host-pid)")
    run.add_argument("--now", type=utc_moment, default=None, metavar="YYYY-MM-DDTHH:MM",
                     help="act as if it were this UTC time (previews, tests); default now")
    run.add_argument("--every", type=int, default=0, metavar="SECONDS",
                     help="keep running, once every SECONDS (at least 60); without SMS settings each"
                          " run is a dry run that reports what is due")
    export = sub.add_parser("export", help="write the due list as CSV for the call centre")
    export.add_argument("--csv", required=True, metavar="FILE", help="output file ('-' = standard output)")
    export.add_argument("--on", type=_day, default=None, metavar="YYYY-MM-DD", help="due on this day (default today)")
    solved = sub.add_parser("solved", help="mark the problem of a cold case solved")
    solved.add_argument("--case", required=True, type=_positive_int, metavar="ID", help="cold case id (see status)")
    solved.add_argument("--at", type=_day, default=None, metavar="YYYY-MM-DD", help="when (default now)")
    sub.add_parser("status", help="cold cases per status")
    return ap


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    from bot.storage.db import database_error, session_factory

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        policy, config, catalogue = load_policy(), load_campaigns(), load_catalogue()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return _command(args, session_factory(), policy, config, catalogue)
    except SQLAlchemyError as exc:
        print(database_error(exc), file=sys.stderr)
        return 1


def _command(args: argparse.Namespace, factory: SessionFactory, policy: Policy, config: CampaignConfig,
             catalogue: Catalogue) -> int:
    if args.cmd == "run":
        from bot.storage.db import database_error

        if error := every_error(args.every):
            print(error, file=sys.stderr)
            return 2
        dry_run, sender = args.dry_run, None
        if not dry_run:
            from bot.messaging.sms import SmsConfigError, SmsSender

            try:
                sender = SmsSender.from_env()
            except (SmsConfigError, ValueError) as exc:
                if not args.every:
                    print(f"error: {exc} (or use --dry-run)", file=sys.stderr)
                    return 2
                # under `make run` without Twilio settings: stay up and report what is due
                print(f"SMS not configured ({exc}): every run is a dry run; nothing is sent. The due"
                      " list for a call centre: python -m bot.cli.campaigns export --csv FILE", flush=True)
                dry_run = True

        def once() -> int:
            try:
                summary = asyncio.run(run_campaign(factory, sender, args.runner_id, args.now, dry_run,
                                                   args.limit, policy=policy, config=config,
                                                   catalogue=catalogue))
            except SQLAlchemyError as exc:
                print(database_error(exc), file=sys.stderr, flush=True)
                return 1
            for line in summary.lines():
                print(line, flush=True)
            if dry_run and not args.every:
                for m in summary.messages:
                    print(f"\n#{m.cold_case_id} {m.customer_ref} [{m.language}] {m.offer_id} "
                          f"({m.segments} segment(s)):\n{m.body}")
            return 1 if summary.failed else 0

        return repeat(once, args.every, "campaign run")
    with factory() as session:
        if args.cmd == "export":
            today = args.on or utcnow().date()
            if args.csv == "-":
                buffer = io.StringIO()
                count = export_due_csv(session, buffer, today, policy, config, catalogue)
                sys.stdout.write(buffer.getvalue())
            else:
                target = Path(args.csv)
                if target.is_dir() or not target.parent.is_dir():
                    print(f"error: cannot write {args.csv}: not a file in an existing folder", file=sys.stderr)
                    return 2
                count = export_due_csv(session, target, today, policy, config, catalogue)
            session.commit()
            print(f"{count} due cold case(s) exported", file=sys.stderr)
            return 0
        if args.cmd == "solved":
            when = datetime.combine(args.at, time(12)) if args.at else None
            try:
                cold = mark_solved(session, args.case, when)
            except CampaignError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            session.commit()
            print(f"cold case #{cold.id} ({cold.reason}): problem solved at "
                  f"{cold.problem_solved_at:%Y-%m-%d %H:%M}; status {cold.status}, due on {cold.due_on}")
            return 0
        counts = status_counts(session)
        for status, n in counts.items():
            print(f"{status:12} {n}")
        stuck_before = utcnow() - timedelta(hours=1)
        stuck = session.scalars(select(ColdCase).where(ColdCase.status == ColdStatus.CLAIMED,
                                                       ColdCase.claimed_at < stuck_before)).all()
        for cold in stuck:
            print(f"claimed for over an hour: #{cold.id} by {cold.claimed_by} at {cold.claimed_at:%Y-%m-%d %H:%M}"
                  f" (attempts {cold.attempts}); check the SMS log before releasing it")
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
