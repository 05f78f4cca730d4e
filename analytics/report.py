"""The dashboard's figures on the command line (same code: :func:`analytics.figures.load_dashboard`).

    python -m analytics.report --since 2026-01-01 [--until 2026-06-30] [--channel web,sms]
        [--language es] [--reason price,competitor] [--segment high] [--format table|csv|json]
        [--table kpis --table reasons ...] [--show-contacts]

Without ``--since``/``--until`` the range is the dashboard's default view (the last 26 weeks).
``table`` prints every table aligned for a terminal, ``csv`` prints them one after the other
(each after a ``# name: title`` line; with a single ``--table`` it is plain CSV), ``json`` prints
``{"filters", "as_of", "figures", "tables"}``. Phone numbers and e-mails in free text are masked
unless ``--show-contacts``. Reads ``DATABASE_URL`` and ``TRACKER_DB_URL`` like the dashboard.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

from analytics.figures import load_dashboard
from analytics.filters import CENT, Filters, default_filters
from analytics.results import CASE_STATUSES, Dashboard, Rate
from analytics.tables import Table, dashboard_tables
from analytics.tracker_store import tracker_engine
from bot.storage.db import session_scope


def figures(d: Dashboard) -> dict[str, Any]:
    """The headline figures as exact numbers (rates with their numerator and denominator)."""
    def rate(r: Rate) -> dict[str, Any]:
        return {"numerator": r.numerator, "denominator": r.denominator, "percent": r.percent}

    def money(v: Decimal) -> str:
        return str(v.quantize(CENT))

    c, r, cold, ret, h = d.counts, d.real_saves, d.cold, d.returns, d.holdout
    return {
        "cancellation_requests": c.requests,
        "cases_by_status": {s: getattr(c, s) for s in CASE_STATUSES},
        "holdout_cases": c.holdout,
        "hot_save_rate": rate(d.hot_save_rate),
        "saves": {"saved": r.saved, "really_saved": r.really_saved, "deflected": r.deflected, "pending": r.pending,
                  "unverifiable": r.unverifiable, "stick_rate": rate(r.stick_rate)},
        "cold": {"cases": cold.cases, "waiting": cold.waiting, "sent": cold.sent, "won_back": cold.won_back,
                 "declined": cold.declined, "no_answer": cold.no_answer, "skipped": cold.skipped,
                 "win_back_rate": rate(cold.win_back_rate)},
        "revenue_kept": money(ret.revenue_kept), "months_kept": ret.months_kept,
        "offer_cost": money(ret.offer_cost), "return_of_retention": money(ret.net_return),
        "roi": None if ret.roi is None else str(ret.roi),
        "handoff": {"handed_off_cases": d.handoff.handed_off_cases, "rate": rate(d.handoff.rate),
                    "waiting_tickets": d.handoff.waiting_now},
        "nlu": {"available": d.nlu.available, "user_messages": d.nlu.user_messages, "fallbacks": d.nlu.fallbacks,
                "fallback_rate": rate(d.nlu.rate)},
        "holdout": {"offered_rate": rate(h.offered_rate), "holdout_rate": rate(h.holdout_rate),
                    "lift_points": h.lift_points, "incremental_saves": h.incremental_saves, "p_value": h.p_value},
    }


def _text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "pct":
        return f"{value:.1f}"
    return str(value)


def print_table(table: Table, out: TextIO, *, show_contacts: bool, max_width: int = 60) -> None:
    records = table.records(show_contacts=show_contacts)
    headers = [c.label for c in table.columns]
    cells = [[_text(rec[c.key], c.kind).replace("\n", " ") for c in table.columns] for rec in records]
    cells = [[v if len(v) <= max_width else v[:max_width - 1] + "…" for v in row] for row in cells]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    right = [c.kind in ("int", "money", "pct", "ratio", "number") for c in table.columns]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right)).rstrip()

    out.write(f"{table.title}\n{'=' * len(table.title)}\n")
    out.write(line(headers) + "\n" + "  ".join("-" * w for w in widths) + "\n")
    for row in cells:
        out.write(line(row) + "\n")
    if not cells:
        out.write("(nothing)\n")
    out.write("\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v for item in values or [] for v in item.split(",") if v.strip())


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(description="Retention figures (the dashboard's) on the command line.")
    parser.add_argument("--since", type=date.fromisoformat, help="first day (YYYY-MM-DD, UTC)")
    parser.add_argument("--until", type=date.fromisoformat, help="last day, inclusive (default: today)")
    parser.add_argument("--channel", action="append", help="web, rest, sms, voice (comma-separated or repeated)")
    parser.add_argument("--language", action="append", help="es, en")
    parser.add_argument("--reason", action="append", help="churn reason(s), see bot/core/reasons.py")
    parser.add_argument("--segment", action="append", help="value segment(s): high, medium, low, unprofitable")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--table", action="append", help="only these tables (default: all); see --list-tables")
    parser.add_argument("--list-tables", action="store_true", help="print the table names and exit")
    parser.add_argument("--show-contacts", action="store_true", help="do not mask phone numbers and e-mails")
    args = parser.parse_args(argv)

    with session_scope() as session:
        if args.since is None and args.until is None:
            default = default_filters(session)
            since, until = default.since, default.until
        else:
            since, until = args.since, args.until or date.today()
        try:
            filters = Filters(since=since, until=until, channels=_split(args.channel),
                              languages=_split(args.language), reasons=_split(args.reason),
                              segments=_split(args.segment))
        except ValueError as exc:
            parser.error(str(exc))
        d = load_dashboard(session, filters, tracker=tracker_engine())
    tables = dashboard_tables(d)
    if args.list_tables:
        for name, table in tables.items():
            out.write(f"{name:<18} {table.title}\n")
        return 0
    names = list(tables) if not args.table else _split(args.table)
    unknown = [n for n in names if n not in tables]
    if unknown:
        parser.error(f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(tables)}")
    chosen = [tables[n] for n in names]

    if args.format == "json":
        payload = {"filters": {"since": filters.since, "until": filters.until, "channels": filters.channels,
                               "languages": filters.languages, "reasons": filters.reasons,
                               "segments": filters.segments},
                   "as_of": d.as_of, "figures": figures(d),
                   "tables": {t.name: t.records(show_contacts=args.show_contacts) for t in chosen}}
        json.dump(payload, out, default=_json_default, ensure_ascii=False, indent=2)
        out.write("\n")
    elif args.format == "csv":
        for i, table in enumerate(chosen):
            if len(chosen) > 1:
                out.write(("\n" if i else "") + f"# {table.name}: {table.title}\n")
            out.write(table.to_csv(show_contacts=args.show_contacts))
    else:
        out.write(f"Nubia retention report · {filters.describe()} · as of {d.as_of:%Y-%m-%d %H:%M} UTC\n\n")
        for table in chosen:
            print_table(table, out, show_contacts=args.show_contacts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
