"""The retention figures, as typed results of SQLAlchemy queries (issue 6).

One module computes every figure; the dashboard (:mod:`analytics.app`), the command line
(:mod:`analytics.report`) and the tests all call it, so they always agree.

Scope and filters
    A *case* (``retention_cases`` row) is one cancellation request. The filters select cases by
    the day they were opened (``since``/``until`` inclusive, UTC calendar days), channel,
    language, churn reason and the customer's value segment. The segment is the customer's
    *current* one, from :func:`bot.core.customers.profile_of` (revenue and margin of today's
    subscription); cases without an identified customer drop out when a segment is chosen.
    Cold cases, offers, tickets and action plans follow the case they belong to.

Definitions
    cancellation requests   cases in scope, whatever their status.
    hot save rate           retained / (retained + cancelled) among cases that were *not* in the
                            holdout (the holdout gets no save attempt on purpose) and were
                            offered something. Open, handed-off and abandoned cases have no
                            outcome yet and stay out, and so do cases closed without any offer.
    really saved            a retained case whose customer has no subscription cancelled in the
                            ``REAL_SAVE_DAYS`` (30) days after the case closed, checked against
                            the subscription records (cancellation moment = ``cancel_requested_at``,
                            else ``cancel_effective_date``). *Deflected*: one was cancelled in that
                            window. *Pending*: the case closed less than 30 days ago.
                            *Unverifiable*: no identified customer, so nothing to check.
                            Stick rate = really saved / (really saved + deflected + unverifiable).
    cold win-back rate      won_back / (won_back + declined + no_answer): cold cases whose contact
                            has a result. Cooling, due, claimed, sent and skipped ones stay out.
    months kept             for a really saved customer: whole calendar months from the save
                            (case closed; for a cold win-back, its outcome) to the first later
                            cancellation of one of their subscriptions, or to ``as_of`` if none,
                            capped at ``REVENUE_HORIZON_MONTHS`` (12). Deflected, pending and
                            unverifiable saves keep 0 months. This is *realised* revenue: a save
                            earns one month of revenue per month the customer really stays.
    revenue kept            monthly revenue at stake of the case x months kept.
    offer cost              the cost recorded on the case for the accepted hot offer (any status:
                            an accepted escalation costs even though the case is handed off) and
                            the cost of the cold offer of each won-back cold case.
    return of retention     revenue kept - offer cost; ROI = return / offer cost.
    offer acceptance        accepted / (accepted + declined) of the offers presented (pending
                            ones stay out).
    handoff rate            cases handed off (status ``handed_off`` or with a handoff ticket) /
                            cancellation requests. Waiting tickets: tickets waiting *now*
                            (channel and language filters only: a queue has no date range).
    NLU fallback rate       user messages of the tracker store whose intent is ``nlu_fallback``
                            / all user messages, in the date range (the tracker store knows no
                            case, so the other filters do not apply).
    holdout lift            save rate of the offered group (not holdout) minus that of the
                            holdout group, in percentage points, with a two-sided two-proportion
                            z-test p-value (intention to treat: every non-holdout case counts as
                            offered, even when no offer was eligible).
    weekly trends           cases by the ISO week (Monday) they were opened.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Column as SAColumn
from sqlalchemy import (
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Text,
    and_,
    case,
    create_engine,
    exists,
    false,
    func,
    null,
    or_,
    select,
    type_coerce,
)
from sqlalchemy import Table as SATable
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased, selectinload
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from bot.config import settings
from bot.core.customers import profile_of
from bot.core.offer_model import SEGMENTS
from bot.core.privacy import mask_email, mask_phone
from bot.core.reasons import REASONS
from bot.core.spreadsheet import defused
from bot.storage.models import (
    ActionPlan,
    ActionPlanCheckin,
    CaseOffer,
    ColdCase,
    Customer,
    HandoffTicket,
    RetentionCase,
    Subscription,
    utcnow,
)

REAL_SAVE_DAYS = 30
REVENUE_HORIZON_MONTHS = 12
DEFAULT_RANGE_DAYS = 182  # the dashboard's default view: the last 26 weeks
CASE_STATUSES: tuple[str, ...] = ("open", "retained", "cancelled", "handed_off", "abandoned")
CHANNELS: tuple[str, ...] = ("web", "rest", "sms", "voice")
COLD_WAITING: tuple[str, ...] = ("cooling", "waiting_fix", "due", "claimed")
COLD_RESOLVED: tuple[str, ...] = ("won_back", "declined", "no_answer")
TICKET_STATUSES: tuple[str, ...] = ("waiting", "in_progress", "callback", "resolved")
QUEUE_STATUSES: tuple[str, ...] = ("waiting", "in_progress", "callback")
NO_OFFER = "(no offer)"
NO_REASON = "(none)"
CENT = Decimal("0.01")
ZERO = Decimal("0")

RC = RetentionCase
_BACKGROUND = ThreadPoolExecutor(max_workers=2, thread_name_prefix="analytics-tracker")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,29}$")


# ============================================================================ filters


@dataclass(frozen=True)
class Filters:
    """What the supervisor selected. Empty tuples mean "all"; ``until`` is inclusive."""

    since: date | None = None
    until: date | None = None
    channels: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, allowed in (("channels", None), ("languages", None), ("reasons", REASONS),
                              ("segments", SEGMENTS)):
            values = tuple(sorted({str(v).strip().lower() for v in getattr(self, name) if str(v).strip()}))
            for value in values:
                if not _CODE.match(value) or (allowed is not None and value not in allowed):
                    raise ValueError(f"unknown {name[:-1]} {value!r}")
            object.__setattr__(self, name, values)
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"since ({self.since}) is after until ({self.until})")

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """[start, end) as naive UTC datetimes."""
        start = datetime.combine(self.since, time.min) if self.since else None
        end = datetime.combine(self.until + timedelta(days=1), time.min) if self.until else None
        return start, end

    def to_query(self) -> dict[str, str]:
        """URL query parameters (the inverse of :meth:`from_query`)."""
        out: dict[str, str] = {}
        if self.since:
            out["since"] = self.since.isoformat()
        if self.until:
            out["until"] = self.until.isoformat()
        for key, values in (("channel", self.channels), ("language", self.languages),
                            ("reason", self.reasons), ("segment", self.segments)):
            if values:
                out[key] = ",".join(values)
        return out

    @classmethod
    def from_query(cls, args: Mapping[str, str]) -> Filters:
        """Parse URL query parameters; raises ValueError on a bad value."""
        def day(key: str) -> date | None:
            value = (args.get(key) or "").strip()
            return date.fromisoformat(value) if value else None

        def many(key: str) -> tuple[str, ...]:
            return tuple(v for v in (args.get(key) or "").split(",") if v.strip())

        return cls(since=day("since"), until=day("until"), channels=many("channel"),
                   languages=many("language"), reasons=many("reason"), segments=many("segment"))

    def describe(self) -> str:
        parts = [f"{self.since or 'start'} to {self.until or 'today'}"]
        for label, values in (("channel", self.channels), ("language", self.languages),
                              ("reason", self.reasons), ("segment", self.segments)):
            if values:
                parts.append(f"{label}: {', '.join(values)}")
        return "; ".join(parts)


class day_of(FunctionElement):  # noqa: N801 - SQL function style
    """The calendar day of a DateTime column, portable across SQLite and PostgreSQL."""

    type = Date()
    name = "day_of"
    inherit_cache = True


@compiles(day_of)
def _day_of_default(element: day_of, compiler: Any, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


@compiles(day_of, "sqlite")
def _day_of_sqlite(element: day_of, compiler: Any, **kw: Any) -> str:
    # SQLAlchemy stores DateTime on SQLite as "YYYY-MM-DD HH:MM:SS.ffffff": the day is its first 10
    # characters (cheaper than date(), which parses the whole value).
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


def customer_segments(session: Session) -> dict[int, str]:
    """customer id -> current value segment (``bot.core.customers.profile_of``)."""
    customers = session.scalars(select(Customer).options(selectinload(Customer.subscriptions))).all()
    return {c.id: profile_of(c).value_segment for c in customers}


def case_conditions(session: Session, filters: Filters) -> list[ColumnElement[bool]]:
    """WHERE clauses selecting the cases in scope."""
    conds: list[ColumnElement[bool]] = []
    start, end = filters.bounds()
    if start is not None:
        conds.append(RC.opened_at >= start)
    if end is not None:
        conds.append(RC.opened_at < end)
    if filters.channels:
        conds.append(RC.channel.in_(filters.channels))
    if filters.languages:
        conds.append(RC.language.in_(filters.languages))
    if filters.reasons:
        conds.append(RC.reason.in_(filters.reasons))
    if filters.segments:
        ids = sorted(cid for cid, seg in customer_segments(session).items() if seg in filters.segments)
        conds.append(RC.customer_id.in_(ids) if ids else false())
    return conds


def default_filters(session: Session, today: date | None = None, days: int = DEFAULT_RANGE_DAYS) -> Filters:
    """The default view: the last 26 weeks up to today, or up to the latest case when there is
    none in that window (so that an old demo database still shows something)."""
    today = today or utcnow().date()
    since = today - timedelta(days=days - 1)
    latest = session.scalar(select(func.max(RC.opened_at)))
    if isinstance(latest, str):
        latest = datetime.fromisoformat(latest)
    if latest is not None and latest.date() < since:
        return Filters(since=latest.date() - timedelta(days=days - 1), until=latest.date())
    return Filters(since=since, until=today)


# ============================================================================ results


@dataclass(frozen=True)
class Rate:
    """numerator / denominator, kept as counts so that tests can check them exactly."""

    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return self.numerator / self.denominator if self.denominator else None

    @property
    def percent(self) -> float | None:
        v = self.value
        return None if v is None else round(v * 100, 1)

    def __str__(self) -> str:
        p = self.percent
        return "n/a" if p is None else f"{p:.1f} %"


@dataclass(frozen=True)
class CaseCounts:
    requests: int = 0
    open: int = 0
    retained: int = 0
    cancelled: int = 0
    handed_off: int = 0
    abandoned: int = 0
    holdout: int = 0


@dataclass(frozen=True)
class RealSaves:
    """Hot saves (retained cases, holdout included) by what happened in the next 30 days."""

    saved: int = 0
    really_saved: int = 0
    deflected: int = 0
    pending: int = 0
    unverifiable: int = 0

    @property
    def stick_rate(self) -> Rate:
        return Rate(self.really_saved, self.really_saved + self.deflected + self.unverifiable)


@dataclass(frozen=True)
class ColdStats:
    cases: int = 0
    waiting: int = 0  # cooling, waiting for a fix, due or claimed: not contacted yet
    sent: int = 0
    won_back: int = 0
    declined: int = 0
    no_answer: int = 0
    skipped: int = 0

    @property
    def resolved(self) -> int:
        return self.won_back + self.declined + self.no_answer

    @property
    def win_back_rate(self) -> Rate:
        return Rate(self.won_back, self.resolved)


@dataclass(frozen=True)
class ReturnRow:
    """Revenue kept against offer cost for one group (a reason, an offer, or everything)."""

    key: str
    variant: str = ""  # "hot" | "cold" for offers, "" otherwise
    kind: str = ""
    hot_saves: int = 0
    cold_wins: int = 0
    really_saved: int = 0
    months_kept: int = 0
    revenue_kept: Decimal = ZERO
    offer_cost: Decimal = ZERO

    @property
    def net_return(self) -> Decimal:
        return self.revenue_kept - self.offer_cost

    @property
    def roi(self) -> Decimal | None:
        """Return per euro of offer cost, to 4 places; None without cost."""
        if not self.offer_cost:
            return None
        return (self.net_return / self.offer_cost).quantize(Decimal("0.0001"))


@dataclass(frozen=True)
class ReasonRow:
    reason: str
    requests: int
    retained: int
    cancelled: int
    handed_off: int
    other: int  # open or abandoned
    share: Rate
    save_rate: Rate  # holdout excluded


@dataclass(frozen=True)
class Verbatim:
    case_id: int
    conversation_id: str
    opened_at: datetime
    reason: str
    status: str
    channel: str
    language: str
    text: str


@dataclass(frozen=True)
class OfferRow:
    offer_id: str
    kind: str
    variant: str
    reason: str = ""  # "" in the by-offer table
    presented: int = 0
    accepted: int = 0
    declined: int = 0
    pending: int = 0
    accepted_cost: Decimal = ZERO

    @property
    def acceptance(self) -> Rate:
        return Rate(self.accepted, self.accepted + self.declined)


@dataclass(frozen=True)
class HotColdRow:
    variant: str
    attempts: int  # hot: decided non-holdout cases; cold: contacts with a result
    saved: int
    offer_cost: Decimal
    revenue_kept: Decimal

    @property
    def rate(self) -> Rate:
        return Rate(self.saved, self.attempts)

    @property
    def net_return(self) -> Decimal:
        return self.revenue_kept - self.offer_cost


@dataclass(frozen=True)
class TriggerRow:
    trigger: str
    tickets: int = 0
    waiting: int = 0
    in_progress: int = 0
    callback: int = 0
    resolved: int = 0


@dataclass(frozen=True)
class HandoffStats:
    handed_off_cases: int = 0
    requests: int = 0
    waiting_now: int = 0
    oldest_waiting_at: datetime | None = None
    by_trigger: tuple[TriggerRow, ...] = ()

    @property
    def rate(self) -> Rate:
        return Rate(self.handed_off_cases, self.requests)


@dataclass(frozen=True)
class NluStats:
    available: bool = False
    user_messages: int = 0
    fallbacks: int = 0

    @property
    def rate(self) -> Rate:
        return Rate(self.fallbacks, self.user_messages)


@dataclass(frozen=True)
class WeekRow:
    week: date  # Monday
    requests: int = 0
    retained: int = 0
    cancelled: int = 0
    handed_off: int = 0
    offered_retained: int = 0
    offered_decided: int = 0
    really_saved: int = 0
    deflected: int = 0
    pending: int = 0

    @property
    def save_rate(self) -> Rate:
        return Rate(self.offered_retained, self.offered_decided)


@dataclass(frozen=True)
class HoldoutStats:
    offered_cases: int = 0
    offered_decided: int = 0
    offered_saved: int = 0
    holdout_cases: int = 0
    holdout_decided: int = 0
    holdout_saved: int = 0

    @property
    def offered_rate(self) -> Rate:
        return Rate(self.offered_saved, self.offered_decided)

    @property
    def holdout_rate(self) -> Rate:
        return Rate(self.holdout_saved, self.holdout_decided)

    @property
    def lift_points(self) -> float | None:
        a, b = self.offered_rate.value, self.holdout_rate.value
        return None if a is None or b is None else round((a - b) * 100, 1)

    @property
    def incremental_saves(self) -> float | None:
        """Saves the offers added over what the holdout rate would have given."""
        a, b = self.offered_rate.value, self.holdout_rate.value
        return None if a is None or b is None else round((a - b) * self.offered_decided, 1)

    @property
    def p_value(self) -> float | None:
        """Two-sided two-proportion z-test; None when it cannot be computed."""
        n1, n2 = self.offered_decided, self.holdout_decided
        if not n1 or not n2:
            return None
        pooled = (self.offered_saved + self.holdout_saved) / (n1 + n2)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
        if se == 0:
            return None
        z = (self.offered_saved / n1 - self.holdout_saved / n2) / se
        return round(math.erfc(abs(z) / math.sqrt(2)), 4)


@dataclass(frozen=True)
class Dashboard:
    """Everything the default dashboard view shows, for one set of filters."""

    filters: Filters
    as_of: datetime
    counts: CaseCounts
    hot_save_rate: Rate
    real_saves: RealSaves
    cold: ColdStats
    returns: ReturnRow
    returns_by_reason: tuple[ReturnRow, ...]
    returns_by_offer: tuple[ReturnRow, ...]
    reasons: tuple[ReasonRow, ...]
    verbatims: tuple[Verbatim, ...]
    offers: tuple[OfferRow, ...]
    offers_by_reason: tuple[OfferRow, ...]
    hot_cold: tuple[HotColdRow, ...]
    handoff: HandoffStats
    nlu: NluStats
    weekly: tuple[WeekRow, ...]
    holdout: HoldoutStats


# ============================================================================ helpers


def _dt(value: Any) -> datetime | None:
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time.min)
    return datetime.fromisoformat(str(value))


def _day(value: Any) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"not a date: {value!r}")


def _core(session: Session) -> Connection:
    """The session's connection: plain Core execution, without the ORM's per-row overhead."""
    return session.connection()


def _raw(column: Any) -> Any:
    """A column fetched as the driver returns it (no type processing; see ``_dt`` and ``_money``)."""
    return type_coerce(column, String())


def _money(value: Any) -> Decimal:
    if value is None:
        return ZERO
    return (value if isinstance(value, Decimal) else Decimal(str(value))).quantize(CENT)


def _cents(value: Any) -> int:
    """An amount as whole cents (exact for the 2-decimal amounts stored; SQLite returns floats)."""
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        return round(value * 100)
    return int((Decimal(str(value)) * 100).to_integral_value(ROUND_HALF_UP))


def _eur(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(CENT)


def full_months(start: date, end: date) -> int:
    """Whole calendar months from ``start`` to ``end`` (0 when end is not later)."""
    months = (end.year - start.year) * 12 + end.month - start.month
    if end.day < start.day:
        months -= 1
    return max(months, 0)


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _next_cancellation(customer_id: Any, after: Any, *, undated: bool = True) -> tuple[Any, Any]:
    """Correlated subqueries: the customer's first subscription cancellation strictly after ``after``.

    The moment of a cancellation is ``cancel_requested_at``; a cancelled record without it (not written
    by the bot) falls back on ``cancel_effective_date``, then on its last update. Both are index seeks on
    subscriptions (customer_id, status, cancel_requested_at)."""
    sub = aliased(Subscription)
    requested = (select(func.min(sub.cancel_requested_at))
                 .where(sub.customer_id == customer_id, sub.status == "cancelled", sub.cancel_requested_at > after)
                 .scalar_subquery())
    if not undated:  # no cancelled record without its date: spare the second look-up
        return _raw(requested), _raw(null())
    fallback = func.coalesce(sub.cancel_effective_date, sub.updated_at)
    without_date = (select(func.min(fallback))
                    .where(sub.customer_id == customer_id, sub.status == "cancelled",
                           sub.cancel_requested_at.is_(None), fallback > after)
                    .scalar_subquery())
    return _raw(requested), _raw(without_date)


def _classify(start: datetime, customer_id: int | None, next_cancel: datetime | None,
              as_of: datetime) -> tuple[str, int]:
    """(category, months kept) of a save made at ``start``; ``next_cancel``: the first cancellation after it."""
    if start + timedelta(days=REAL_SAVE_DAYS) > as_of:
        return "pending", 0
    if customer_id is None:
        return "unverifiable", 0
    if next_cancel is not None and next_cancel <= start + timedelta(days=REAL_SAVE_DAYS):
        return "deflected", 0
    end = min(next_cancel, as_of) if next_cancel is not None else as_of
    return "really_saved", min(full_months(start.date(), end.date()), REVENUE_HORIZON_MONTHS)


def _first(*moments: Any) -> datetime | None:
    found = [m for m in (_dt(v) for v in moments if v is not None) if m is not None]
    return min(found) if found else None


# ============================================================================ the main load


def load_dashboard(session: Session, filters: Filters, *, as_of: datetime | None = None,
                   tracker: Engine | None = None, verbatim_limit: int = 200,
                   offer_kinds: Mapping[str, str] | None = None) -> Dashboard:
    """Every figure of the dashboard's main view, for ``filters``, as of ``as_of`` (now, UTC)."""
    as_of = as_of or utcnow()
    conds = case_conditions(session, filters)
    kinds = dict(offer_kinds) if offer_kinds is not None else _offer_kinds()
    # The tracker store is another database: count its messages meanwhile (sqlite3 and the
    # PostgreSQL driver release the GIL while the database works).
    nlu = _BACKGROUND.submit(nlu_stats, tracker, filters) if tracker is not None else None
    conn = _core(session)

    case_rows = _case_rows(conn, conds)
    counts, reasons, holdout = _status_figures(case_rows)
    acc = _Returns(kinds, as_of)  # saves and accepted offers: real saves, revenue kept, costs
    undated = _has_undated_cancellations(conn)
    _add_hot(acc, conn, conds, undated)
    _add_cold(acc, conn, conds, undated)
    cold = _cold_status(conn, conds)
    offers, offers_by_reason = _offer_figures(conn, conds)
    handed = sum(int(row[5] or 0) for row in case_rows)
    waiting, oldest, by_trigger = _tickets(conn, filters)
    real = RealSaves(saved=counts.retained, **{k: acc.categories[k] for k in (
        "really_saved", "deflected", "pending", "unverifiable")})
    return Dashboard(
        filters=filters, as_of=as_of, counts=counts, hot_save_rate=Rate(holdout.offered_saved, holdout.offered_decided),
        real_saves=real, cold=cold, returns=acc.total_row(), returns_by_reason=acc.by_reason(),
        returns_by_offer=acc.by_offer(), reasons=reasons, verbatims=tuple(_verbatims(conn, conds,
                                                                                             verbatim_limit)),
        offers=offers, offers_by_reason=offers_by_reason,
        hot_cold=(HotColdRow("hot", holdout.offered_decided, holdout.offered_saved, _eur(acc.hot[1]), _eur(acc.hot[0])),
                  HotColdRow("cold", cold.resolved, cold.won_back, _eur(acc.cold[1]), _eur(acc.cold[0]))),
        handoff=HandoffStats(handed_off_cases=handed, requests=counts.requests, waiting_now=waiting,
                             oldest_waiting_at=oldest, by_trigger=by_trigger),
        nlu=nlu.result() if nlu is not None else NluStats(), weekly=_weekly(case_rows, filters, acc), holdout=holdout)


def _case_rows(conn: Connection, conds: Sequence[ColumnElement[bool]]) -> list[Any]:
    """Cases by day, status, reason and holdout, and how many were handed off (status or ticket):
    counts, reasons, holdout, handoff rate and weekly trends in one pass over the cases."""
    day = day_of(RC.opened_at)
    handed = case((or_(RC.status == "handed_off", exists().where(HandoffTicket.case_id == RC.id)), 1), else_=0)
    # A case outside the holdout counts for the save rate only once something was offered: a
    # case closed without any offer (a look-alike, "no, me quedo" to the read-back) saved nothing.
    offered = case((or_(RC.holdout.is_(True), exists().where(CaseOffer.case_id == RC.id)), True),
                   else_=False)
    return list(conn.execute(select(day, RC.status, RC.reason, RC.holdout, func.count(), func.sum(handed),
                                    offered)
                             .where(*conds).group_by(day, RC.status, RC.reason, RC.holdout, offered)).all())


def _offer_kinds() -> dict[str, str]:
    try:
        from bot.core.offer_loader import load_catalogue

        return {o.id: o.kind for o in load_catalogue().offers}
    except Exception:  # noqa: BLE001 - a broken catalogue must not break the dashboard
        return {}


def _status_figures(rows: Iterable[Any]) -> tuple[CaseCounts, tuple[ReasonRow, ...], HoldoutStats]:
    by_status: dict[str, int] = defaultdict(int)
    per_reason: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    hold: dict[str, int] = defaultdict(int)
    for _, status, reason, is_holdout, n, _handed, was_offered in rows:
        by_status[status] += n
        r = per_reason[reason or NO_REASON]
        r[status] += n
        r["requests"] += n
        group = "holdout" if is_holdout else "offered"
        hold[f"{group}_cases"] += n
        if status not in ("retained", "cancelled") or not (is_holdout or was_offered):
            continue
        hold[f"{group}_decided"] += n
        if not is_holdout:
            r["decided"] += n
        if status == "retained":
            hold[f"{group}_saved"] += n
            if not is_holdout:
                r["saved"] += n
    total = sum(by_status.values())
    counts = CaseCounts(requests=total, holdout=hold["holdout_cases"],
                        **{s: by_status.get(s, 0) for s in CASE_STATUSES})
    order = {r: i for i, r in enumerate(REASONS)}
    reasons = tuple(
        ReasonRow(reason=reason, requests=r["requests"], retained=r["retained"], cancelled=r["cancelled"],
                  handed_off=r["handed_off"], other=r["open"] + r["abandoned"], share=Rate(r["requests"], total),
                  save_rate=Rate(r["saved"], r["decided"]))
        for reason, r in sorted(per_reason.items(), key=lambda kv: (-kv[1]["requests"], order.get(kv[0], 99))))
    holdout = HoldoutStats(**{k: hold[k] for k in (
        "offered_cases", "offered_decided", "offered_saved", "holdout_cases", "holdout_decided", "holdout_saved")})
    return counts, reasons, holdout


class _Returns:
    """Saves and accepted offers grouped as the dashboard needs them (amounts in cents).

    Rows are added to one group per (reason, offer, hot/cold); the totals, the by-reason and the
    by-offer groups are summed from those afterwards. A group is
    [hot saves, cold wins, really saved, months kept, revenue kept, offer cost]."""

    def __init__(self, kinds: Mapping[str, str], as_of: datetime) -> None:
        self.kinds = kinds
        self.as_of = as_of
        self.groups: dict[tuple[str | None, str | None, str], list[int]] = {}
        self.categories: dict[str, int] = defaultdict(int)  # hot saves (holdout included)
        self.weeks: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # hot saves by open week
        self.hot = [0, 0]  # revenue, cost of the non-holdout hot cases
        self.cold = [0, 0]
        self._week_of: dict[str, date] = {}

    def week(self, opened: Any) -> date:
        key = opened[:10] if isinstance(opened, str) else _day(opened).isoformat()
        w = self._week_of.get(key)
        if w is None:
            w = self._week_of[key] = week_of(date.fromisoformat(key))
        return w

    def add(self, reason: str | None, offer_id: str | None, variant: str, is_save: bool, category: str,
            months: int, revenue: int, cost: int) -> None:
        key = (reason, offer_id, variant)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = [0, 0, 0, 0, 0, 0]
        if is_save:
            g[0 if variant == "hot" else 1] += 1
            if category == "really_saved":
                g[2] += 1
                g[3] += months
        g[4] += revenue
        g[5] += cost

    def _grouped(self, key: Callable[[str, str, str], tuple[str, str, str]]) -> dict[tuple[str, str, str], list[int]]:
        out: dict[tuple[str, str, str], list[int]] = {}
        for (reason, offer_id, variant), g in self.groups.items():
            k = key(reason or NO_REASON, offer_id or NO_OFFER, variant)
            total = out.setdefault(k, [0, 0, 0, 0, 0, 0])
            for i, v in enumerate(g):
                total[i] += v
        return out

    @staticmethod
    def _row(key: tuple[str, str, str], g: list[int]) -> ReturnRow:
        return ReturnRow(key=key[0], variant=key[1], kind=key[2], hot_saves=g[0], cold_wins=g[1], really_saved=g[2],
                         months_kept=g[3], revenue_kept=_eur(g[4]), offer_cost=_eur(g[5]))

    @staticmethod
    def _sorted(rows: Iterable[ReturnRow]) -> tuple[ReturnRow, ...]:
        return tuple(sorted(rows, key=lambda r: (-r.net_return, r.key, r.variant)))

    def total_row(self) -> ReturnRow:
        total = self._grouped(lambda r, o, v: ("total", "", ""))
        return self._row(("total", "", ""), total.get(("total", "", ""), [0, 0, 0, 0, 0, 0]))

    def by_reason(self) -> tuple[ReturnRow, ...]:
        return self._sorted(self._row(k, g) for k, g in self._grouped(lambda r, o, v: (r, "", "")).items())

    def by_offer(self) -> tuple[ReturnRow, ...]:
        grouped = self._grouped(lambda r, o, v: (o, v, self.kinds.get(o, "")))
        return self._sorted(self._row(k, g) for k, g in grouped.items())


def _has_undated_cancellations(conn: Connection) -> bool:
    return conn.scalar(select(Subscription.id).where(Subscription.status == "cancelled",
                                                     Subscription.cancel_requested_at.is_(None)).limit(1)) is not None


def _add_hot(acc: _Returns, conn: Connection, conds: Sequence[ColumnElement[bool]], any_undated: bool) -> None:
    """Retained cases (saves) and cases with an accepted offer (its cost), holdout included."""
    saved_at = func.coalesce(RC.closed_at, RC.opened_at)
    requested, undated = _next_cancellation(RC.customer_id, saved_at, undated=any_undated)
    # Only a save at least 30 days old, with a customer, needs the look-up (the others are pending or
    # unverifiable whatever the subscriptions say).
    checkable = and_(RC.status == "retained", RC.customer_id.is_not(None),
                     saved_at <= acc.as_of - timedelta(days=REAL_SAVE_DAYS))
    # The offer a save is credited to: the case's accepted offer, else (an action plan, whose flow closes
    # the case without setting it) the last offer the customer accepted in the case.
    last_accepted = (select(CaseOffer.offer_id).where(CaseOffer.case_id == RC.id, CaseOffer.outcome == "accepted")
                     .order_by(CaseOffer.position.desc()).limit(1).scalar_subquery())
    offer_id = func.coalesce(RC.accepted_offer_id, case((RC.status == "retained", last_accepted), else_=None))
    rows = conn.execute(
        select(RC.status, RC.customer_id, _raw(RC.opened_at), _raw(saved_at), RC.reason, offer_id,
               _raw(RC.monthly_revenue_at_stake), _raw(RC.offer_cost), RC.holdout,
               case((checkable, requested), else_=None), case((checkable, undated), else_=None))
        .where(*conds, or_(RC.status == "retained", RC.accepted_offer_id.is_not(None)))).all()
    as_of, groups, categories, weeks, hot = acc.as_of, acc.groups, acc.categories, acc.weeks, acc.hot
    for status, customer_id, opened, saved, reason, offer_id, revenue, cost, is_holdout, nxt, nxt2 in rows:
        # The hot loop of the dashboard (one pass per save): _Returns.add inlined.
        cost_cents = _cents(cost)
        revenue_cents = 0
        g = groups.get((reason, offer_id, "hot"))
        if g is None:
            g = groups[(reason, offer_id, "hot")] = [0, 0, 0, 0, 0, 0]
        if status == "retained":
            category, months = _classify(_dt(saved), customer_id,  # type: ignore[arg-type]
                                         _dt(nxt) if nxt2 is None else _first(nxt, nxt2), as_of)
            categories[category] += 1
            weeks[acc.week(opened)][category] += 1
            g[0] += 1
            if category == "really_saved":
                revenue_cents = _cents(revenue) * months
                g[2] += 1
                g[3] += months
        g[4] += revenue_cents
        g[5] += cost_cents
        if not is_holdout:
            hot[0] += revenue_cents
            hot[1] += cost_cents


def _cold_status(conn: Connection, conds: Sequence[ColumnElement[bool]]) -> ColdStats:
    by_status = dict(conn.execute(
        select(ColdCase.status, func.count()).join(RC, RC.id == ColdCase.case_id)
        .where(*conds).group_by(ColdCase.status)).all())
    return ColdStats(cases=sum(by_status.values()), waiting=sum(by_status.get(s, 0) for s in COLD_WAITING),
                     **{s: by_status.get(s, 0) for s in ("sent", "won_back", "declined", "no_answer", "skipped")})


def _add_cold(acc: _Returns, conn: Connection, conds: Sequence[ColumnElement[bool]], any_undated: bool) -> None:
    """Won-back cold cases, as saves."""
    won_at = func.coalesce(ColdCase.outcome_at, ColdCase.sent_at, ColdCase.created_at)
    requested, undated = _next_cancellation(RC.customer_id, won_at, undated=any_undated)
    rows = conn.execute(
        select(RC.customer_id, RC.reason, _raw(RC.monthly_revenue_at_stake), ColdCase.offer_id,
               _raw(ColdCase.offer_cost), _raw(won_at), requested, undated)
        .join(RC, RC.id == ColdCase.case_id).where(*conds, ColdCase.status == "won_back")).all()
    for customer_id, reason, revenue, offer_id, cost, won, nxt, nxt2 in rows:
        category, months = _classify(_dt(won), customer_id, _first(nxt, nxt2), acc.as_of)  # type: ignore[arg-type]
        revenue_cents, cost_cents = _cents(revenue) * months, _cents(cost)
        acc.add(reason, offer_id, "cold", True, category, months, revenue_cents, cost_cents)
        acc.cold[0] += revenue_cents
        acc.cold[1] += cost_cents


def _offer_figures(conn: Connection, conds: Sequence[ColumnElement[bool]]
                   ) -> tuple[tuple[OfferRow, ...], tuple[OfferRow, ...]]:
    rows = conn.execute(
        select(RC.reason, CaseOffer.offer_id, func.max(CaseOffer.kind), CaseOffer.variant, CaseOffer.outcome,
               func.count(), func.sum(CaseOffer.cost))
        .join(RC, RC.id == CaseOffer.case_id).where(*conds)
        .group_by(RC.reason, CaseOffer.offer_id, CaseOffer.variant, CaseOffer.outcome)).all()
    by_offer: dict[tuple[str, str, str], dict[str, Any]] = {}
    by_reason: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for reason, offer_id, kind, variant, outcome, n, cost in rows:
        for table, key in ((by_offer, (offer_id, kind, variant)),
                           (by_reason, (reason or NO_REASON, offer_id, kind, variant))):
            g = table.setdefault(key, {"presented": 0, "accepted": 0, "declined": 0, "pending": 0,
                                       "accepted_cost": ZERO})
            g["presented"] += n
            if outcome in ("accepted", "declined", "pending"):
                g[outcome] += n
            if outcome == "accepted":
                g["accepted_cost"] += _money(cost)
    offers = [OfferRow(offer_id=o, kind=k, variant=v, **g) for (o, k, v), g in by_offer.items()]
    offers.sort(key=lambda r: (-r.presented, r.offer_id, r.variant))
    order = {r: i for i, r in enumerate(REASONS)}
    per_reason = [OfferRow(reason=r, offer_id=o, kind=k, variant=v, **g) for (r, o, k, v), g in by_reason.items()]
    per_reason.sort(key=lambda r: (order.get(r.reason, 99), -r.presented, r.offer_id, r.variant))
    return tuple(offers), tuple(per_reason)


def _weekly(case_rows: Iterable[Any], filters: Filters, acc: _Returns) -> tuple[WeekRow, ...]:
    weeks: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d, status, _, is_holdout, n, _handed, was_offered in case_rows:
        w = weeks[week_of(_day(d))]
        w["requests"] += n
        if status in ("retained", "cancelled", "handed_off"):
            w[status] += n
        if not is_holdout and was_offered and status in ("retained", "cancelled"):
            w["offered_decided"] += n
            if status == "retained":
                w["offered_retained"] += n
    for w, categories in acc.weeks.items():
        for category, n in categories.items():
            weeks[w][category] += n
    if not weeks:
        return ()
    first = week_of(filters.since) if filters.since else min(weeks)
    last = week_of(filters.until) if filters.until else max(weeks)
    fields = ("requests", "retained", "cancelled", "handed_off", "offered_retained", "offered_decided",
              "really_saved", "deflected", "pending")
    out = []
    w = first
    while w <= last:
        g = weeks.get(w, {})
        out.append(WeekRow(week=w, **{f: g.get(f, 0) for f in fields}))
        w += timedelta(days=7)
    return tuple(out)


# ============================================================================ other sections


def _verbatims(conn: Connection, conds: Sequence[ColumnElement[bool]], limit: int) -> list[Verbatim]:
    rows = conn.execute(
        select(RC.id, RC.conversation_id, RC.opened_at, RC.reason, RC.status, RC.channel, RC.language,
               RC.reason_verbatim)
        .where(*conds, RC.reason_verbatim.is_not(None), RC.reason_verbatim != "")
        .order_by(RC.opened_at.desc(), RC.id.desc()).limit(limit)).all()
    return [Verbatim(case_id=r[0], conversation_id=r[1], opened_at=_dt(r[2]), reason=r[3] or NO_REASON,  # type: ignore[arg-type]
                     status=r[4], channel=r[5], language=r[6], text=r[7]) for r in rows]


def _tickets(conn: Connection, filters: Filters) -> tuple[int, datetime | None, tuple[TriggerRow, ...]]:
    """(tickets waiting now, the oldest waiting since, tickets opened in range by trigger)."""
    ticket_conds: list[ColumnElement[bool]] = []
    if filters.channels:
        ticket_conds.append(HandoffTicket.channel.in_(filters.channels))
    if filters.languages:
        ticket_conds.append(HandoffTicket.language.in_(filters.languages))
    waiting, oldest = conn.execute(select(func.count(), func.min(HandoffTicket.created_at)).where(
        *ticket_conds, HandoffTicket.status == "waiting")).one()
    start, end = filters.bounds()
    if start is not None:
        ticket_conds.append(HandoffTicket.created_at >= start)
    if end is not None:
        ticket_conds.append(HandoffTicket.created_at < end)
    triggers: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for trigger, status, n in conn.execute(
            select(HandoffTicket.trigger, HandoffTicket.status, func.count()).where(*ticket_conds)
            .group_by(HandoffTicket.trigger, HandoffTicket.status)).all():
        triggers[trigger]["tickets"] += n
        triggers[trigger][status] += n
    by_trigger = tuple(TriggerRow(trigger=t, **{k: g.get(k, 0) for k in ("tickets", *TICKET_STATUSES)})
                       for t, g in sorted(triggers.items(), key=lambda kv: (-kv[1]["tickets"], kv[0])))
    return waiting or 0, _dt(oldest), by_trigger


# ---------------------------------------------------------------------------- tracker store

_TRACKER_META = MetaData()
EVENTS = SATable(
    "events", _TRACKER_META,
    SAColumn("id", Integer, primary_key=True),
    SAColumn("sender_id", String(255), nullable=False, index=True),
    SAColumn("type_name", String(255), nullable=False),
    SAColumn("timestamp", Float),
    SAColumn("intent_name", String(255)),
    SAColumn("action_name", String(255)),
    SAColumn("data", Text),
)  # Rasa 3.6's SQLTrackerStore.SQLEvent, read-only here


def tracker_url() -> str:
    return settings.tracker_db_url()


@lru_cache(maxsize=4)
def _tracker_engine_for(url: str) -> Engine:
    return create_engine(url, future=True)


def tracker_engine(url: str | None = None) -> Engine | None:
    """A read-only engine on Rasa's tracker store (``TRACKER_DB_URL``); None when a SQLite
    tracker file does not exist yet (no conversation so far)."""
    url = url or tracker_url()
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):].split("?", 1)[0])
        if not path.is_file():
            return None
        return _tracker_engine_for(f"sqlite:///file:{path.resolve()}?mode=ro&uri=true")
    return _tracker_engine_for(url)


def _epoch(moment: datetime) -> float:
    return moment.replace(tzinfo=timezone.utc).timestamp()


def nlu_stats(tracker: Engine | None, filters: Filters) -> NluStats:
    if tracker is None:
        return NluStats()
    start, end = filters.bounds()
    conds = [EVENTS.c.type_name == "user"]
    if start is not None:
        conds.append(EVENTS.c.timestamp >= _epoch(start))
    if end is not None:
        conds.append(EVENTS.c.timestamp < _epoch(end))
    query = select(func.count()).where(*conds)
    fallback_texts = select(EVENTS.c.data).where(*conds, EVENTS.c.intent_name == "nlu_fallback")
    try:
        with tracker.connect() as conn:
            total = conn.execute(query).scalar_one()
            fallbacks = sum(1 for (data,) in conn.execute(fallback_texts) if not _identity_answer(data))
    except SQLAlchemyError:
        return NluStats()
    return NluStats(available=True, user_messages=total or 0, fallbacks=fallbacks)


def _identity_answer(data: str | None) -> bool:
    """A customer number or a postcode typed as asked: understood, not a fallback."""
    from bot.core.verification import parse_postcode, parse_ref

    try:
        text = (json.loads(data) if data else {}).get("text") or ""
    except (ValueError, AttributeError):
        return False
    return len(text) <= 40 and (parse_ref(text) is not None or parse_postcode(text) is not None)


@dataclass(frozen=True)
class TranscriptLine:
    speaker: str  # "user" | "bot"
    text: str
    at: datetime | None
    intent: str | None = None


def transcript(tracker: Engine | None, conversation_id: str, limit: int = 2000) -> list[TranscriptLine] | None:
    """The conversation's user and bot messages in order; None when the tracker store is unavailable."""
    if tracker is None:
        return None
    query = (select(EVENTS.c.type_name, EVENTS.c.timestamp, EVENTS.c.intent_name, EVENTS.c.data)
             .where(EVENTS.c.sender_id == conversation_id, EVENTS.c.type_name.in_(("user", "bot")))
             .order_by(EVENTS.c.id).limit(limit))
    try:
        with tracker.connect() as conn:
            rows = conn.execute(query).all()
    except SQLAlchemyError:
        return None
    out = []
    for type_name, ts, intent, data in rows:
        try:
            payload = json.loads(data) if data else {}
        except ValueError:
            payload = {}
        text = payload.get("text") if isinstance(payload, dict) else None
        if not text and isinstance(payload, dict) and payload.get("data"):
            text = json.dumps(payload["data"], ensure_ascii=False)[:500]
        at = datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None) if ts else None
        out.append(TranscriptLine(speaker=type_name, text=text or "", at=at,
                                  intent=intent if type_name == "user" else None))
    return out


# ---------------------------------------------------------------------------- lists


@dataclass(frozen=True)
class ConversationRow:
    case_id: int
    conversation_id: str
    opened_at: datetime
    closed_at: datetime | None
    channel: str
    language: str
    status: str
    reason: str
    holdout: bool
    customer_ref: str
    customer_name: str
    phone: str | None
    email: str | None
    offers: str  # "discount_short: declined; credit_outage: accepted"
    accepted_offer_id: str
    revenue_at_stake: Decimal
    offer_cost: Decimal
    handoff: bool
    cold_status: str


def conversations(session: Session, filters: Filters, *, limit: int = 500) -> list[ConversationRow]:
    """The latest cases in scope with their customer, offers, handoff and cold follow-up."""
    conds = case_conditions(session, filters)
    rows = session.execute(
        select(RC, Customer).outerjoin(Customer, Customer.id == RC.customer_id).where(*conds)
        .order_by(RC.opened_at.desc(), RC.id.desc()).limit(limit)).all()
    ids = [c.id for c, _ in rows]
    offers: dict[int, list[str]] = defaultdict(list)
    tickets: set[int] = set()
    cold: dict[int, str] = {}
    if ids:
        for case_id, offer_id, outcome in session.execute(
                select(CaseOffer.case_id, CaseOffer.offer_id, CaseOffer.outcome)
                .where(CaseOffer.case_id.in_(ids)).order_by(CaseOffer.case_id, CaseOffer.position)):
            offers[case_id].append(f"{offer_id}: {outcome}")
        tickets = set(session.scalars(select(HandoffTicket.case_id).where(HandoffTicket.case_id.in_(ids))))
        cold = dict(session.execute(select(ColdCase.case_id, ColdCase.status).where(ColdCase.case_id.in_(ids))).all())
    out = []
    for c, customer in rows:
        out.append(ConversationRow(
            case_id=c.id, conversation_id=c.conversation_id, opened_at=c.opened_at, closed_at=c.closed_at,
            channel=c.channel, language=c.language, status=c.status, reason=c.reason or NO_REASON,
            holdout=bool(c.holdout), customer_ref=customer.ref if customer else "",
            customer_name=customer.full_name if customer else "", phone=customer.phone if customer else None,
            email=customer.email if customer else None, offers="; ".join(offers.get(c.id, [])),
            accepted_offer_id=c.accepted_offer_id or "", revenue_at_stake=_money(c.monthly_revenue_at_stake),
            offer_cost=_money(c.offer_cost), handoff=c.id in tickets or c.status == "handed_off",
            cold_status=cold.get(c.id, "")))
    return out


@dataclass(frozen=True)
class CaseOfferLine:
    position: int
    offer_id: str
    kind: str
    variant: str
    cost: Decimal
    expected_value: Decimal
    outcome: str
    text: str
    presented_at: datetime
    decided_at: datetime | None


@dataclass(frozen=True)
class CaseDetail:
    case_id: int
    conversation_id: str
    status: str
    reason: str
    reason_verbatim: str
    channel: str
    language: str
    holdout: bool
    opened_at: datetime
    closed_at: datetime | None
    customer_ref: str
    customer_name: str
    phone: str | None
    email: str | None
    revenue_at_stake: Decimal
    offer_cost: Decimal
    accepted_offer_id: str
    reference: str
    confirmation_number: str
    offers: tuple[CaseOfferLine, ...]
    cold_status: str
    ticket_status: str
    plan_reference: str


def case_detail(session: Session, case_id: int) -> CaseDetail | None:
    c = session.get(RC, case_id)
    if c is None:
        return None
    customer = session.get(Customer, c.customer_id) if c.customer_id else None
    lines = []
    for o in c.offers:
        texts = (o.params or {}).get("_text") or {}
        lines.append(CaseOfferLine(position=o.position, offer_id=o.offer_id, kind=o.kind, variant=o.variant,
                                   cost=_money(o.cost), expected_value=_money(o.expected_value), outcome=o.outcome,
                                   text=str(texts.get(c.language) or texts.get("es") or ""),
                                   presented_at=o.presented_at, decided_at=o.decided_at))
    cold = session.scalar(select(ColdCase.status).where(ColdCase.case_id == c.id)) or ""
    ticket = session.scalar(select(HandoffTicket.status).where(HandoffTicket.case_id == c.id)
                            .order_by(HandoffTicket.id.desc()).limit(1)) or ""
    plan = session.scalar(select(ActionPlan.reference).where(ActionPlan.case_id == c.id)) or ""
    return CaseDetail(
        case_id=c.id, conversation_id=c.conversation_id, status=c.status, reason=c.reason or NO_REASON,
        reason_verbatim=c.reason_verbatim or "", channel=c.channel, language=c.language, holdout=bool(c.holdout),
        opened_at=c.opened_at, closed_at=c.closed_at, customer_ref=customer.ref if customer else "",
        customer_name=customer.full_name if customer else "", phone=customer.phone if customer else None,
        email=customer.email if customer else None, revenue_at_stake=_money(c.monthly_revenue_at_stake),
        offer_cost=_money(c.offer_cost), accepted_offer_id=c.accepted_offer_id or "", reference=c.reference or "",
        confirmation_number=c.confirmation_number or "", offers=tuple(lines), cold_status=cold,
        ticket_status=ticket, plan_reference=plan)


@dataclass(frozen=True)
class PlanRow:
    plan_id: int
    reference: str
    case_id: int
    case_status: str
    customer_ref: str
    customer_name: str
    phone: str | None
    email: str | None
    language: str
    created_at: datetime
    gift: str
    gift_cost: Decimal
    customer_commitments: str
    company_commitments: str
    checkins: int
    checkins_done: int
    checkins_overdue: int
    next_due: date | None


@dataclass(frozen=True)
class CheckinRow:
    plan_reference: str
    customer_ref: str
    customer_name: str
    due_date: date
    done_at: datetime | None
    state: str  # done | overdue | due_today | upcoming
    note: str


def checkin_state(due: date, done_at: datetime | None, today: date) -> str:
    if done_at is not None:
        return "done"
    if due < today:
        return "overdue"
    return "due_today" if due == today else "upcoming"


def action_plans(session: Session, filters: Filters, *, as_of: datetime | None = None,
                 limit: int = 500) -> tuple[list[PlanRow], list[CheckinRow]]:
    """Action plans of the cases in scope (latest first) and all their check-ins."""
    today = (as_of or utcnow()).date()
    conds = case_conditions(session, filters)
    rows = session.execute(
        select(ActionPlan, RC.status, Customer).join(RC, RC.id == ActionPlan.case_id)
        .join(Customer, Customer.id == ActionPlan.customer_id).where(*conds)
        .order_by(ActionPlan.created_at.desc(), ActionPlan.id.desc()).limit(limit)).all()
    plan_ids = [p.id for p, _, _ in rows]
    checkins: dict[int, list[ActionPlanCheckin]] = defaultdict(list)
    if plan_ids:
        for ch in session.scalars(select(ActionPlanCheckin).where(ActionPlanCheckin.plan_id.in_(plan_ids))
                                  .order_by(ActionPlanCheckin.due_date, ActionPlanCheckin.id)):
            checkins[ch.plan_id].append(ch)
    plans: list[PlanRow] = []
    lines: list[CheckinRow] = []
    for plan, case_status, customer in rows:
        mine = checkins.get(plan.id, [])
        states = [checkin_state(ch.due_date, ch.done_at, today) for ch in mine]
        open_dues = [ch.due_date for ch, s in zip(mine, states) if s != "done"]
        plans.append(PlanRow(
            plan_id=plan.id, reference=plan.reference, case_id=plan.case_id, case_status=case_status,
            customer_ref=customer.ref, customer_name=customer.full_name, phone=customer.phone,
            email=customer.email, language=plan.language, created_at=plan.created_at, gift=plan.gift or "",
            gift_cost=_money(plan.gift_cost), customer_commitments=" | ".join(plan.customer_commitments or []),
            company_commitments=" | ".join(plan.company_commitments or []), checkins=len(mine),
            checkins_done=states.count("done"), checkins_overdue=states.count("overdue"),
            next_due=min(open_dues) if open_dues else None))
        for ch, state in zip(mine, states):
            lines.append(CheckinRow(plan_reference=plan.reference, customer_ref=customer.ref,
                                    customer_name=customer.full_name, due_date=ch.due_date, done_at=ch.done_at,
                                    state=state, note=ch.note or ""))
    lines.sort(key=lambda r: (r.state == "done", r.due_date, r.plan_reference))
    return plans, lines


@dataclass(frozen=True)
class QueueRow:
    ticket_id: int
    created_at: datetime
    waiting_minutes: int
    status: str
    trigger: str
    channel: str
    language: str
    sentiment: str
    out_of_hours: bool
    assigned_to: str
    customer_ref: str
    customer_name: str
    phone: str | None
    email: str | None
    conversation_id: str
    case_id: int | None
    reason: str
    summary: str


def summary_text(summary: Any) -> str:
    """A handoff summary (JSON) as one line an agent can read."""
    if isinstance(summary, str):
        return summary
    if not isinstance(summary, dict):
        return "" if summary is None else json.dumps(summary, ensure_ascii=False)
    for key in ("text", "summary", "es", "en"):
        if isinstance(summary.get(key), str):
            return summary[key]
    parts = []
    for key, value in summary.items():
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            value = json.dumps(value, ensure_ascii=False)
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def handoff_queue(session: Session, filters: Filters | None = None, *, as_of: datetime | None = None,
                  statuses: Sequence[str] = QUEUE_STATUSES, limit: int = 500) -> list[QueueRow]:
    """Tickets waiting for a person (oldest first); only the channel and language filters apply."""
    as_of = as_of or utcnow()
    filters = filters or Filters()
    conds: list[ColumnElement[bool]] = [HandoffTicket.status.in_(tuple(statuses))]
    if filters.channels:
        conds.append(HandoffTicket.channel.in_(filters.channels))
    if filters.languages:
        conds.append(HandoffTicket.language.in_(filters.languages))
    order = case({s: i for i, s in enumerate(QUEUE_STATUSES)}, value=HandoffTicket.status, else_=len(QUEUE_STATUSES))
    rows = session.execute(
        select(HandoffTicket, Customer, RC.reason).outerjoin(Customer, Customer.id == HandoffTicket.customer_id)
        .outerjoin(RC, RC.id == HandoffTicket.case_id).where(*conds)
        .order_by(order, HandoffTicket.created_at, HandoffTicket.id).limit(limit)).all()
    out = []
    for t, customer, reason in rows:
        out.append(QueueRow(
            ticket_id=t.id, created_at=t.created_at,
            waiting_minutes=max(int((as_of - t.created_at).total_seconds() // 60), 0), status=t.status,
            trigger=t.trigger, channel=t.channel, language=t.language, sentiment=t.sentiment or "",
            out_of_hours=bool(t.out_of_hours), assigned_to=t.assigned_to or "",
            customer_ref=customer.ref if customer else "", customer_name=customer.full_name if customer else "",
            phone=customer.phone if customer else None, email=customer.email if customer else None,
            conversation_id=t.conversation_id, case_id=t.case_id, reason=reason or "",
            summary=summary_text(t.summary)))
    return out


# ============================================================================ masking

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])\+?\d[\d .\-()]{6,}\d(?!\w)")


def redact_contacts(text: str | None) -> str:
    """Free text (verbatims, transcripts, summaries) with e-mails and phone numbers masked."""
    if not text:
        return ""
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


# ============================================================================ tables


@dataclass(frozen=True)
class TableColumn:
    key: str
    label: str
    kind: str = "text"  # text | longtext | int | money | pct | ratio | number | date | datetime | bool | phone | email


@dataclass(frozen=True)
class Table:
    """A table as shown on the dashboard, exported to CSV and printed by the report."""

    name: str
    title: str
    columns: tuple[TableColumn, ...]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def records(self, *, show_contacts: bool = False) -> list[dict[str, Any]]:
        """JSON-safe rows; phone numbers and e-mails masked unless ``show_contacts``."""
        return [{col.key: _cell(row.get(col.key), col.kind, show_contacts) for col in self.columns}
                for row in self.rows]

    def to_csv(self, *, show_contacts: bool = False) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([c.label for c in self.columns])
        for record in self.records(show_contacts=show_contacts):
            writer.writerow([_csv_value(record[c.key], c.kind) for c in self.columns])
        return buf.getvalue()


def _cell(value: Any, kind: str, show_contacts: bool) -> Any:
    if value is None:
        return None
    if kind == "phone":
        return value if show_contacts else mask_phone(value)
    if kind == "email":
        return value if show_contacts else mask_email(value)
    if kind == "longtext":
        return value if show_contacts else redact_contacts(value)
    if kind == "pct":
        return value.percent if isinstance(value, Rate) else value
    if kind == "money":
        return float(_money(value))
    if kind == "ratio":
        return float(value)
    if kind == "number":
        return float(value)
    if kind == "int":
        return int(value)
    if kind == "date":
        return _day(value).isoformat()  # type: ignore[union-attr]
    if kind == "datetime":
        return _dt(value).strftime("%Y-%m-%d %H:%M")  # type: ignore[union-attr]
    if kind == "bool":
        return "yes" if value else "no"
    return str(value)




def _csv_value(value: Any, kind: str) -> Any:
    """Cells as text for CSV, defused against spreadsheet formula injection."""
    if value is None:
        return ""
    if kind == "money":
        return f"{value:.2f}"
    return defused(value)


def kpi_rows(d: Dashboard) -> list[dict[str, Any]]:
    """The headline figures as (key, label, value, detail) rows."""
    c, r, h = d.counts, d.real_saves, d.holdout
    def money(v: Decimal) -> str:  # a typographic minus: "-" would start a formula in a spreadsheet
        return f"\u2212{-v:,.2f} EUR" if v < 0 else f"{v:,.2f} EUR"
    rows = [
        ("requests", "Cancellation requests", f"{c.requests}",
         f"{c.retained} retained, {c.cancelled} cancelled, {c.handed_off} handed off, {c.open} open, "
         f"{c.abandoned} abandoned"),
        ("hot_save_rate", "Hot save rate", str(d.hot_save_rate),
         f"{d.hot_save_rate.numerator} of {d.hot_save_rate.denominator} decided cases (holdout excluded)"),
        ("really_saved", "Really saved (30 days)", f"{r.really_saved}",
         f"{r.deflected} deflected, {r.pending} pending, {r.unverifiable} unverifiable; stick rate {r.stick_rate}"),
        ("cold_win_back_rate", "Cold win-back rate", str(d.cold.win_back_rate),
         f"{d.cold.won_back} won back of {d.cold.resolved} contacted; {d.cold.waiting} waiting"),
        ("revenue_kept", "Revenue kept", money(d.returns.revenue_kept),
         f"{d.returns.months_kept} customer-months (cap {REVENUE_HORIZON_MONTHS})"),
        ("offer_cost", "Offer cost", money(d.returns.offer_cost), "accepted hot offers + won-back cold offers"),
        ("return", "Return of retention", money(d.returns.net_return),
         "ROI " + ("n/a" if d.returns.roi is None else f"{d.returns.roi:.2f}")),
        ("handoff_rate", "Handoff rate", str(d.handoff.rate),
         f"{d.handoff.handed_off_cases} of {d.handoff.requests} cases handed to a person"),
        ("waiting_tickets", "Waiting tickets", f"{d.handoff.waiting_now}",
         ("oldest since " + d.handoff.oldest_waiting_at.strftime("%Y-%m-%d %H:%M"))
         if d.handoff.oldest_waiting_at else "nobody is waiting"),
        ("nlu_fallback_rate", "NLU fallback rate", str(d.nlu.rate) if d.nlu.available else "n/a",
         f"{d.nlu.fallbacks} of {d.nlu.user_messages} user messages" if d.nlu.available
         else "tracker store not reachable"),
        ("holdout_lift", "Holdout lift", _points(h.lift_points),
         f"offered {h.offered_rate} vs holdout {h.holdout_rate}"
         + ("" if h.p_value is None else f", p = {h.p_value:.4f}")),
    ]
    return [{"key": k, "metric": label, "value": value, "detail": detail} for k, label, value, detail in rows]


def _points(value: float | None) -> str:
    """Percentage points with a typographic minus (a leading "-" or "+" reads as a formula in a spreadsheet)."""
    if value is None:
        return "n/a"
    return f"\u2212{abs(value):.1f} pts" if value < 0 else f"{value:.1f} pts"


def dashboard_tables(d: Dashboard) -> dict[str, Table]:
    """Every table of the main view, by name (the CSV export and the report use these)."""
    T = TableColumn  # noqa: N806
    tables = [
        Table("kpis", "Key figures", (T("metric", "Metric"), T("value", "Value"), T("detail", "Detail")),
              kpi_rows(d)),
        Table("weekly", "Weekly trends", (
            T("week", "Week (Monday)", "date"), T("requests", "Requests", "int"), T("retained", "Retained", "int"),
            T("cancelled", "Cancelled", "int"), T("handed_off", "Handed off", "int"),
            T("save_rate", "Hot save rate (%)", "pct"), T("really_saved", "Really saved", "int"),
            T("deflected", "Deflected", "int"), T("pending", "Pending", "int")),
            [{"week": w.week, "requests": w.requests, "retained": w.retained, "cancelled": w.cancelled,
              "handed_off": w.handed_off, "save_rate": w.save_rate, "really_saved": w.really_saved,
              "deflected": w.deflected, "pending": w.pending} for w in d.weekly]),
        Table("reasons", "Reasons", (
            T("reason", "Reason"), T("requests", "Requests", "int"), T("share", "Share (%)", "pct"),
            T("retained", "Retained", "int"), T("cancelled", "Cancelled", "int"),
            T("handed_off", "Handed off", "int"), T("other", "Open/abandoned", "int"),
            T("save_rate", "Hot save rate (%)", "pct")),
            [{"reason": r.reason, "requests": r.requests, "share": r.share, "retained": r.retained,
              "cancelled": r.cancelled, "handed_off": r.handed_off, "other": r.other, "save_rate": r.save_rate}
             for r in d.reasons]),
        Table("verbatims", "Verbatims (latest)", (
            T("opened_at", "Opened", "datetime"), T("reason", "Reason"), T("status", "Outcome"),
            T("channel", "Channel"), T("language", "Lang"), T("text", "In the customer's words", "longtext"),
            T("conversation_id", "Conversation")),
            [{"opened_at": v.opened_at, "reason": v.reason, "status": v.status, "channel": v.channel,
              "language": v.language, "text": v.text, "conversation_id": v.conversation_id} for v in d.verbatims]),
        Table("returns_by_reason", "Return of retention by reason", _return_columns(with_offer=False),
              [_return_record(r) for r in d.returns_by_reason]),
        Table("returns_by_offer", "Return of retention by offer", _return_columns(with_offer=True),
              [_return_record(r) for r in d.returns_by_offer]),
        Table("offers", "Offer acceptance by offer", _offer_columns(with_reason=False),
              [_offer_record(o) for o in d.offers]),
        Table("offers_by_reason", "Offer acceptance by reason", _offer_columns(with_reason=True),
              [_offer_record(o) for o in d.offers_by_reason]),
        Table("hot_cold", "Hot versus cold", (
            T("variant", "Retention"), T("attempts", "Attempts", "int"), T("saved", "Saved / won back", "int"),
            T("rate", "Rate (%)", "pct"), T("offer_cost", "Offer cost", "money"),
            T("revenue_kept", "Revenue kept", "money"), T("net_return", "Return", "money")),
            [{"variant": h.variant, "attempts": h.attempts, "saved": h.saved, "rate": h.rate,
              "offer_cost": h.offer_cost, "revenue_kept": h.revenue_kept, "net_return": h.net_return}
             for h in d.hot_cold]),
        Table("holdout", "Holdout: offers against no offer", (
            T("group", "Group"), T("cases", "Cases", "int"), T("decided", "Decided", "int"),
            T("saved", "Saved", "int"), T("rate", "Save rate (%)", "pct")),
            [{"group": "offered", "cases": d.holdout.offered_cases, "decided": d.holdout.offered_decided,
              "saved": d.holdout.offered_saved, "rate": d.holdout.offered_rate},
             {"group": "holdout (no offer)", "cases": d.holdout.holdout_cases,
              "decided": d.holdout.holdout_decided, "saved": d.holdout.holdout_saved,
              "rate": d.holdout.holdout_rate}]),
        Table("handoffs", "Handoff tickets by trigger (opened in range)", (
            T("trigger", "Trigger"), T("tickets", "Tickets", "int"), T("waiting", "Waiting", "int"),
            T("in_progress", "In progress", "int"), T("callback", "Callback", "int"),
            T("resolved", "Resolved", "int")),
            [{"trigger": t.trigger, "tickets": t.tickets, "waiting": t.waiting, "in_progress": t.in_progress,
              "callback": t.callback, "resolved": t.resolved} for t in d.handoff.by_trigger]),
    ]
    return {t.name: t for t in tables}


def _return_columns(with_offer: bool) -> tuple[TableColumn, ...]:
    T = TableColumn  # noqa: N806
    head = (T("key", "Offer"), T("variant", "Hot/cold"), T("kind", "Kind")) if with_offer else (T("key", "Reason"),)
    return head + (
        T("hot_saves", "Hot saves", "int"), T("cold_wins", "Cold wins", "int"),
        T("really_saved", "Really saved", "int"), T("months_kept", "Months kept", "int"),
        T("revenue_kept", "Revenue kept", "money"), T("offer_cost", "Offer cost", "money"),
        T("net_return", "Return", "money"), T("roi", "ROI", "ratio"))


def _return_record(r: ReturnRow) -> dict[str, Any]:
    return {"key": r.key, "variant": r.variant, "kind": r.kind, "hot_saves": r.hot_saves, "cold_wins": r.cold_wins,
            "really_saved": r.really_saved, "months_kept": r.months_kept, "revenue_kept": r.revenue_kept,
            "offer_cost": r.offer_cost, "net_return": r.net_return, "roi": r.roi}


def _offer_columns(with_reason: bool) -> tuple[TableColumn, ...]:
    T = TableColumn  # noqa: N806
    head = (T("reason", "Reason"),) if with_reason else ()
    return head + (
        T("offer_id", "Offer"), T("kind", "Kind"), T("variant", "Hot/cold"), T("presented", "Presented", "int"),
        T("accepted", "Accepted", "int"), T("declined", "Declined", "int"), T("pending", "Pending", "int"),
        T("acceptance", "Acceptance (%)", "pct"), T("accepted_cost", "Cost of accepted", "money"))


def _offer_record(o: OfferRow) -> dict[str, Any]:
    return {"reason": o.reason, "offer_id": o.offer_id, "kind": o.kind, "variant": o.variant,
            "presented": o.presented, "accepted": o.accepted, "declined": o.declined, "pending": o.pending,
            "acceptance": o.acceptance, "accepted_cost": o.accepted_cost}


def conversations_table(rows: Sequence[ConversationRow]) -> Table:
    T = TableColumn  # noqa: N806
    return Table("conversations", "Conversations", (
        T("opened_at", "Opened", "datetime"), T("conversation_id", "Conversation"), T("case_id", "Case", "int"),
        T("customer_ref", "Customer"), T("customer_name", "Name"), T("phone", "Phone", "phone"),
        T("email", "E-mail", "email"), T("channel", "Channel"), T("language", "Lang"), T("reason", "Reason"),
        T("status", "Outcome"), T("holdout", "Holdout", "bool"), T("offers", "Offers"),
        T("revenue_at_stake", "Revenue/month", "money"), T("offer_cost", "Offer cost", "money"),
        T("handoff", "Handoff", "bool"), T("cold_status", "Cold")),
        [r.__dict__.copy() for r in rows])


def case_offers_table(detail: CaseDetail | None) -> Table:
    T = TableColumn  # noqa: N806
    rows = [o.__dict__.copy() for o in detail.offers] if detail else []
    return Table("case_offers", "Offers of the case", (
        T("position", "#", "int"), T("offer_id", "Offer"), T("kind", "Kind"), T("variant", "Hot/cold"),
        T("text", "What the customer was told", "longtext"), T("cost", "Cost", "money"),
        T("expected_value", "Expected value", "money"), T("outcome", "Outcome"),
        T("presented_at", "Presented", "datetime"), T("decided_at", "Decided", "datetime")), rows)


def transcript_table(conversation_id: str, lines: Sequence[TranscriptLine] | None) -> Table:
    T = TableColumn  # noqa: N806
    return Table("transcript", f"Transcript of {conversation_id}", (
        T("at", "Time", "datetime"), T("speaker", "Speaker"), T("text", "Text", "longtext"), T("intent", "Intent")),
        [ln.__dict__.copy() for ln in lines or []])


def plans_table(rows: Sequence[PlanRow]) -> Table:
    T = TableColumn  # noqa: N806
    return Table("plans", "Action plans", (
        T("created_at", "Created", "datetime"), T("reference", "Plan"), T("customer_ref", "Customer"),
        T("customer_name", "Name"), T("phone", "Phone", "phone"), T("email", "E-mail", "email"),
        T("language", "Lang"), T("case_status", "Case outcome"), T("customer_commitments", "Customer commits",
                                                                    "longtext"),
        T("company_commitments", "We commit", "longtext"), T("gift", "Gift"), T("gift_cost", "Gift cost", "money"),
        T("checkins", "Check-ins", "int"), T("checkins_done", "Done", "int"),
        T("checkins_overdue", "Overdue", "int"), T("next_due", "Next due", "date")),
        [r.__dict__.copy() for r in rows])


def checkins_table(rows: Sequence[CheckinRow]) -> Table:
    T = TableColumn  # noqa: N806
    return Table("checkins", "Action plan check-ins", (
        T("due_date", "Due", "date"), T("state", "State"), T("plan_reference", "Plan"),
        T("customer_ref", "Customer"), T("customer_name", "Name"), T("done_at", "Done", "datetime"),
        T("note", "Note", "longtext")), [r.__dict__.copy() for r in rows])


def queue_table(rows: Sequence[QueueRow]) -> Table:
    T = TableColumn  # noqa: N806
    return Table("queue", "Handoff queue", (
        T("ticket_id", "Ticket", "int"), T("created_at", "Since", "datetime"),
        T("waiting_minutes", "Waiting (min)", "int"), T("status", "Status"), T("trigger", "Trigger"),
        T("customer_ref", "Customer"), T("customer_name", "Name"), T("phone", "Phone", "phone"),
        T("email", "E-mail", "email"), T("channel", "Channel"), T("language", "Lang"), T("reason", "Reason"),
        T("sentiment", "Sentiment"), T("out_of_hours", "Out of hours", "bool"), T("assigned_to", "Assigned to"),
        T("summary", "Summary", "longtext"), T("conversation_id", "Conversation")),
        [r.__dict__.copy() for r in rows])
