"""Deterministic retention history for the dashboard demo and the performance benchmark.

``python -m analytics.demo_data --cases 2000`` adds, for the customers of ``python -m bot.storage.seed``,
``--cases`` retention cases spread over the ``--weeks`` weeks ending on ``--end`` (default: the
seed's day, 2026-11-01), with what the real flows write: offers ranked by the real offer engine
(hot and cold variants), outcomes, a holdout group, cancelled subscriptions, customers who come
back and cancel within 30 days (deflected saves), cold win-back cases, handoff tickets, action
plans with check-ins, and the transcripts in Rasa's tracker store (``TRACKER_DB_URL``).

The website's hand-made personas (C00001-C00007) get no history, so that the offer engine's
cooldowns never change what the chat demo offers them.

Same arguments, same data (one ``random.Random(seed)``; no clock, no ``secrets``). Idempotent:
every row it writes belongs to a conversation whose id starts with ``demo-``; a second run with the
same number of cases changes nothing, another number replaces the demo rows (``--remove`` only
deletes them). Rows of real conversations are never touched, and the customers' current
subscriptions are left as they are (cancellations are recorded as extra, cancelled subscription
records, so the bot keeps working with the demo customers).

The simulated process is :mod:`analytics.demo_simulation`; writing its rows (also what the tests and
the benchmark call) is :mod:`analytics.demo_rows`. This module is the command line.
"""

from __future__ import annotations

import argparse
from datetime import date

from analytics.demo_rows import generate, remove_demo, writable_tracker
from analytics.demo_simulation import DEFAULT_CASES, DEFAULT_SEED, DEFAULT_WEEKS, HOLDOUT_SHARE
from bot.storage.db import database_url, session_scope, upgrade_database
from bot.storage.seed import SEED_TODAY


def _day_arg(value: str) -> date:
    return date.today() if value.strip().lower() == "today" else date.fromisoformat(value)


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    parser = argparse.ArgumentParser(description="Write deterministic demo retention history (idempotent).")
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help=f"how many cases (default {DEFAULT_CASES})")
    parser.add_argument("--end", type=_day_arg, default=SEED_TODAY,
                        help=f"last day of the history, YYYY-MM-DD or 'today' (default {SEED_TODAY})")
    parser.add_argument("--weeks", type=int, default=DEFAULT_WEEKS, help="weeks of history (default 52)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 6)")
    parser.add_argument("--holdout", type=float, default=HOLDOUT_SHARE, help="share of cases in the holdout")
    parser.add_argument("--no-transcripts", action="store_true", help="do not write the tracker store")
    parser.add_argument("--force", action="store_true", help="regenerate even if the demo is there")
    parser.add_argument("--remove", action="store_true", help="only delete the demo rows")
    args = parser.parse_args(argv)
    if not 0 <= args.holdout < 1:
        parser.error("--holdout must be in [0, 1)")
    upgrade_database()
    tracker = None if args.no_transcripts else writable_tracker()
    with session_scope() as session:
        if args.remove:
            print(f"demo cases removed: {remove_demo(session, tracker)}")
            return 0
        try:
            summary = generate(session, args.cases, end=args.end, weeks=args.weeks, seed=args.seed,
                               holdout_share=args.holdout, tracker=tracker, force=args.force)
        except RuntimeError as exc:
            parser.error(str(exc))
    where = database_url().split("@")[-1]
    if summary.unchanged:
        print(f"demo data already there ({summary.cases} cases in {where}); nothing to do")
    else:
        print(f"demo data written to {where}: {summary.cases} cases, {summary.offers} offers, "
              f"{summary.cold_cases} cold cases, {summary.tickets} handoff tickets, {summary.plans} action plans "
              f"({summary.checkins} check-ins), {summary.subscriptions} cancelled subscription records, "
              f"{summary.events} tracker events")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
