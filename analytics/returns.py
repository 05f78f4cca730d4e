"""Real saves and the return of retention: which saves really stuck, and the revenue and offer
cost they earn (see the definitions in :mod:`analytics.figures`).

A save (a retained hot case, a won-back cold case) is *really saved* when the customer cancels no
subscription in the ``REAL_SAVE_DAYS`` after it; it then keeps the whole months until the next
cancellation (capped at ``REVENUE_HORIZON_MONTHS``). :class:`Returns` accumulates saves and accepted
offers per (reason, offer, hot/cold) in whole cents and sums them by reason, by offer and in total;
:func:`add_hot` and :func:`add_cold` feed it from the database. This is the costliest part of the
dashboard load (one pass per save), kept apart from the other figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import String, and_, case, func, null, or_, select, type_coerce
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from analytics.filters import CENT, to_datetime, to_day
from analytics.results import NO_OFFER, NO_REASON, ReturnRow
from bot.storage.models import CaseOffer, ColdCase, Subscription
from bot.storage.models import RetentionCase as RC

REAL_SAVE_DAYS = 30
REVENUE_HORIZON_MONTHS = 12


def _raw(column: Any) -> Any:
    """A column fetched as the driver returns it (no type processing; see ``to_datetime`` and ``to_money``)."""
    return type_coerce(column, String())


def _cents(value: Any) -> int:
    """An amount as whole cents (exact for the 2-decimal amounts stored; SQLite returns floats)."""
    if value is None:
        return 0
    if isinstance(value, (int, float)):
        return round(value * 100)
    return int((Decimal(str(value)) * 100).to_integral_value(ROUND_HALF_UP))


def cents_to_eur(cents: int) -> Decimal:
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
    found = [m for m in (to_datetime(v) for v in moments if v is not None) if m is not None]
    return min(found) if found else None


class Returns:
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
        key = opened[:10] if isinstance(opened, str) else to_day(opened).isoformat()
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
                         months_kept=g[3], revenue_kept=cents_to_eur(g[4]), offer_cost=cents_to_eur(g[5]))

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


def has_undated_cancellations(conn: Connection) -> bool:
    return conn.scalar(select(Subscription.id).where(Subscription.status == "cancelled",
                                                     Subscription.cancel_requested_at.is_(None)).limit(1)) is not None


def add_hot(acc: Returns, conn: Connection, conds: Sequence[ColumnElement[bool]], any_undated: bool) -> None:
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
        # The hot loop of the dashboard (one pass per save): Returns.add inlined.
        cost_cents = _cents(cost)
        revenue_cents = 0
        g = groups.get((reason, offer_id, "hot"))
        if g is None:
            g = groups[(reason, offer_id, "hot")] = [0, 0, 0, 0, 0, 0]
        if status == "retained":
            category, months = _classify(to_datetime(saved), customer_id,  # type: ignore[arg-type]
                                         to_datetime(nxt) if nxt2 is None else _first(nxt, nxt2), as_of)
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


def add_cold(acc: Returns, conn: Connection, conds: Sequence[ColumnElement[bool]], any_undated: bool) -> None:
    """Won-back cold cases, as saves."""
    won_at = func.coalesce(ColdCase.outcome_at, ColdCase.sent_at, ColdCase.created_at)
    requested, undated = _next_cancellation(RC.customer_id, won_at, undated=any_undated)
    rows = conn.execute(
        select(RC.customer_id, RC.reason, _raw(RC.monthly_revenue_at_stake), ColdCase.offer_id,
               _raw(ColdCase.offer_cost), _raw(won_at), requested, undated)
        .join(RC, RC.id == ColdCase.case_id).where(*conds, ColdCase.status == "won_back")).all()
    for customer_id, reason, revenue, offer_id, cost, won, nxt, nxt2 in rows:
        category, months = _classify(to_datetime(won), customer_id, _first(nxt, nxt2), acc.as_of)  # type: ignore[arg-type]
        revenue_cents, cost_cents = _cents(revenue) * months, _cents(cost)
        acc.add(reason, offer_id, "cold", True, category, months, revenue_cents, cost_cents)
        acc.cold[0] += revenue_cents
        acc.cold[1] += cost_cents
