"""Proactive retention campaigns from the command line (``make run`` runs ``run --every 900``).

    python -m bot.cli.proactive run [--dry-run] [--now YYYY-MM-DDTHH:MM] [--every SECONDS]
    python -m bot.cli.proactive status

``run`` loads the churn-risk model (``models/churn_risk.joblib``; ``make risk-model``), records
this run's at-risk customers (contacted, skipped with the reason, or held out as the control
group; ``data/proactive.yml``), ends contacts unanswered for 7 days and texts the due ones
outside quiet hours. ``--dry-run`` records nothing and sends nothing: it prints who would be
contacted, with their risk and drivers. Without a model or SMS settings it says so and, under
``--every``, stays up and tries again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from bot.cli.periodic import every_error, repeat, utc_moment
from bot.config.errors import ConfigError
from bot.storage.db import transaction


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.cli.proactive", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="score, record and text this run's at-risk customers")
    run.add_argument("--dry-run", action="store_true")
    run.add_argument("--now", type=utc_moment, default=None)
    run.add_argument("--every", type=int, default=0)
    run.add_argument("--model", type=Path, default=None, help="the churn-risk model file (default: models/)")
    sub.add_parser("status", help="proactive contacts by status")
    return parser


def _once(factory: Any, args: argparse.Namespace, sender: Any) -> int:
    from bot.core.proactive import plan_run
    from bot.core.proactive_sms import expire_unanswered, send_due
    from bot.risk.model import RiskModelError, load

    try:
        model = load(args.model) if args.model else load()
    except RiskModelError as exc:
        print(f"proactive run skipped: {exc}", flush=True)
        return 0 if args.every else 2
    now = args.now or datetime.now(timezone.utc).replace(tzinfo=None)
    with transaction(factory) as session:
        summary = plan_run(session, model, now.date())
        if args.dry_run:
            from bot.storage.models import Customer, ProactiveContact

            fresh = session.scalars(select(ProactiveContact).where(ProactiveContact.scored_on == now.date(),
                                                                   ProactiveContact.id.in_(summary.ids))
                                    .order_by(ProactiveContact.probability.desc()))
            for contact in fresh:
                ref = session.get(Customer, contact.customer_id).ref
                print(f"{ref} {float(contact.probability):.3f} {contact.status} {contact.reason} "
                      f"{','.join(contact.drivers)} {contact.offer_id or contact.skip_reason or ''}")
            session.rollback()
            print(json.dumps({"dry_run": True, **summary.as_json()}), flush=True)
            return 0
        expired = expire_unanswered(session, now)
    sent: dict[str, int] = {}
    if sender is not None:
        sent = asyncio.run(send_due(lambda: transaction(factory), sender, now))
    print(json.dumps({**summary.as_json(), "no_answer": expired, "sms": sent}), flush=True)
    return 0


def _status(factory: Any) -> int:
    from bot.storage.models import ProactiveContact

    with transaction(factory) as session:
        for status, n in session.execute(select(ProactiveContact.status, func.count())
                                         .group_by(ProactiveContact.status).order_by(ProactiveContact.status)):
            print(f"{status:10} {n}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()
    from bot.core.proactive import load_proactive
    from bot.storage.db import database_error, session_factory

    args = _parser().parse_args(argv)
    try:
        load_proactive()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    factory = session_factory()
    try:
        if args.cmd == "status":
            return _status(factory)
        if error := every_error(args.every):
            print(error, file=sys.stderr)
            return 2
        sender = None
        if not args.dry_run:
            from bot.messaging.sms import SmsConfigError, SmsSender

            try:
                sender = SmsSender.from_env()
            except (SmsConfigError, ValueError) as exc:
                print(f"SMS not configured ({exc}): contacts stay due.", file=sys.stderr, flush=True)
        return repeat(lambda: _once(factory, args, sender), args.every, "proactive run")
    except SQLAlchemyError as exc:
        print(database_error(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
