"""``python -m bot.cli.outbox list | replay [--every SECONDS]``: show the requests kept in the
durable outbox, or apply the pending ones (``actions.outbox_replay``)."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Iterator

from bot.storage.outbox import Entry, entries


def _print_entries(rows: Iterator[Entry] | list[Entry]) -> None:
    for e in rows:
        print(f"{e.created_at} {e.status:8} {e.kind:9} {e.conversation_id or '-'} "
              f"attempts={e.attempts} {e.reason}: {e.text!r}")


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    from bot.cli.periodic import every_error, repeat

    ap = argparse.ArgumentParser(prog="python -m bot.cli.outbox", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="show every kept request")
    rp = sub.add_parser("replay", help="apply pending requests (once, or --every SECONDS)")
    rp.add_argument("--every", type=int, default=0, metavar="SECONDS")
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "list":
        _print_entries(entries())
        return 0
    if error := every_error(args.every):
        print(error, file=sys.stderr)
        return 2

    from actions.outbox_replay import replay_once  # loads the action code (rasa_sdk)

    def once() -> int:
        applied, waiting = replay_once()
        if applied or waiting:
            print(f"outbox: {applied} applied, {waiting} waiting", flush=True)
        return 0

    return repeat(once, args.every, "outbox replay")


if __name__ == "__main__":
    raise SystemExit(main())
