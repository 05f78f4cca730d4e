"""Key events from the command line: take them in, text the queued SMS, see the open alerts.

    python -m bot.cli.events ingest event.json     # a JSON object, or a list of them; - = stdin
    python -m bot.cli.events send [--every 60]     # text queued alert SMS (make run: every minute)
    python -m bot.cli.events status                # open alerts by priority, overdue tasks
    python -m bot.cli.events take 12 --owner ana   # a person takes alert 12's task
    python -m bot.cli.events done 12               # ... and closes it

An event is the same JSON object as the body of ``POST /api/events`` (README, "Key events"):

    {"id": "NET-2026-1203-01", "type": "outage", "postcodes": ["28013"],
     "started_at": "2026-12-03T08:00:00Z", "ended_at": "2026-12-04T20:00:00Z"}
    {"id": "BILL-77", "type": "double_charge", "customer": "C00001", "amount": 32.90,
     "started_at": "2026-12-03T00:00:00Z"}

Each printed line is the JSON result of one event (``duplicate: true`` when its id was taken in
before: nothing is done twice). Exit 2 on a bad event or file, 1 on a database error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from bot.cli.periodic import every_error, repeat, utc_moment
from bot.config.errors import ConfigError
from bot.core.vocabulary import AlertActionStatus, AlertStatus
from bot.storage.db import transaction

MAX_FILE_BYTES = 5_000_000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.cli.events", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    ingest = sub.add_parser("ingest", help="take in events from a JSON file (- = stdin)")
    ingest.add_argument("file")
    send = sub.add_parser("send", help="text the queued alert SMS that may go out now")
    send.add_argument("--every", type=int, default=0, help="run again every N seconds (>= 60)")
    send.add_argument("--now", type=utc_moment, default=None, metavar="YYYY-MM-DDTHH:MM",
                      help="act as if it were this UTC time (quiet hours; previews, tests)")
    sub.add_parser("status", help="alerts by priority and status, overdue tasks, payment links")
    take = sub.add_parser("take", help="a person takes an alert's task")
    take.add_argument("alert", type=int)
    take.add_argument("--owner", required=True)
    take.add_argument("--force", action="store_true", help="take it over from the person who has it")
    done = sub.add_parser("done", help="close an alert whose task is done")
    done.add_argument("alert", type=int)
    return parser


def _read(path: str) -> list[Any]:
    try:
        text = sys.stdin.read(MAX_FILE_BYTES + 1) if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if len(text) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from exc
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: not JSON this tool reads ({type(exc).__name__})") from exc
    return raw if isinstance(raw, list) else [raw]


def ingest_one(factory: Any, raw: Any, source: str) -> dict[str, Any]:
    """Validate and take in one event in its own transaction; a concurrent twin is a duplicate."""
    from bot.core.alerts import ingest, parse_event

    event = parse_event(raw)
    for attempt in (1, 2):
        try:
            with transaction(factory) as session:
                return ingest(session, event, source=source).as_json()
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _status(factory: Any) -> int:
    from bot.storage.models import Alert, PaymentLink, utcnow

    with transaction(factory) as session:
        rows = session.execute(select(Alert.priority, Alert.status, func.count())
                               .group_by(Alert.priority, Alert.status).order_by(Alert.priority))
        for priority, status, n in rows:
            print(f"{priority:7} {status:6} {n}")
        overdue = session.scalar(select(func.count()).select_from(Alert).where(
            Alert.status == AlertStatus.OPEN, Alert.due_at < utcnow()))
        print(f"overdue tasks: {overdue}")
        links = list(session.execute(select(PaymentLink.used_at, PaymentLink.expires_at)))
        used = sum(1 for u, _ in links if u is not None)
        expired = sum(1 for u, e in links if u is None and e <= utcnow())
        print(f"payment links: {len(links)} sent, {used} used, {expired} expired unused")
    return 0


def _task(factory: Any, alert_id: int, owner: str | None, force: bool = False) -> int:
    """Take (``owner``) or close (None) an alert's task; exit 2 when there is no such open alert,
    3 when someone else has taken it (``force`` takes it over: a reassignment is never silent)."""
    from bot.storage.models import Alert, AlertAction, utcnow

    with transaction(factory) as session:
        alert = session.get(Alert, alert_id)
        if alert is None or alert.status != AlertStatus.OPEN:
            print(f"error: no open alert #{alert_id}", file=sys.stderr)
            return 2
        task = session.scalar(select(AlertAction).where(AlertAction.alert_id == alert.id, AlertAction.action == "task"))
        if owner is not None:
            if alert.owner and alert.owner != owner[:80] and not force:
                print(f"error: alert #{alert.id} is already taken by {alert.owner}; "
                      "add --force to take it over", file=sys.stderr)
                return 3
            previous, alert.owner = alert.owner, owner[:80]
            if previous and previous != alert.owner:
                print(f"alert #{alert.id} taken over from {previous}")
        else:
            alert.status, alert.closed_at = AlertStatus.DONE, utcnow()
            if task is not None:
                task.status, task.done_at = AlertActionStatus.DONE, utcnow()
        print(f"alert #{alert.id} ({alert.type}, {alert.priority}): {alert.status}, owner {alert.owner or '-'}")
    return 0


def _send(factory: Any, every: int, now: datetime | None = None) -> int:
    from bot.core.alert_sms import send_pending
    from bot.messaging.sms import SmsConfigError, SmsSender

    try:
        sender = SmsSender.from_env()
    except (SmsConfigError, ValueError) as exc:
        print(f"SMS not configured ({exc}): alert SMS stay queued.", file=sys.stderr, flush=True)
        if not every:
            return 2
        sender = None

    def once() -> int:
        if sender is None:
            return 0
        summary = asyncio.run(send_pending(lambda: transaction(factory), sender, now))
        print(json.dumps(summary.as_json()), flush=True)
        return 1 if summary.failed else 0

    return repeat(once, every, "alert SMS run")


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    from bot.core.alerts import EventError
    from bot.core.key_events import load_key_events
    from bot.storage.db import database_error, session_factory

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        load_key_events()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    factory = session_factory()
    try:
        if args.cmd == "status":
            return _status(factory)
        if args.cmd in ("take", "done"):
            if args.cmd == "take":
                return _task(factory, args.alert, args.owner, args.force)
            return _task(factory, args.alert, None)
        if args.cmd == "send":
            if error := every_error(args.every):
                print(error, file=sys.stderr)
                return 2
            return _send(factory, args.every, args.now)
        try:
            events = _read(args.file)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        code = 0
        for number, raw in enumerate(events, 1):
            try:
                print(json.dumps(ingest_one(factory, raw, "cli")), flush=True)
            except EventError as exc:
                print(f"error: event {number}: {exc}", file=sys.stderr)
                code = 2
        return code
    except SQLAlchemyError as exc:
        print(database_error(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
