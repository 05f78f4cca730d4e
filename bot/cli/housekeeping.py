"""``python -m bot.cli.housekeeping [--every SECONDS] [--now T]``: end the offers whose time is
over and close the cases nobody answered (the rules are in ``bot.core.housekeeping``);
`make run` runs it every hour."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from bot.cli.periodic import every_error, repeat
from bot.config.errors import ConfigError
from bot.core.housekeeping import run_once
from bot.core.process import load_policy


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bot.cli.housekeeping", description=__doc__.split("\n\n")[0])
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
