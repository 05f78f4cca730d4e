"""Which cases a dashboard view looks at, and the SQL helpers every figure query shares.

A *case* (``retention_cases`` row) is one cancellation request. :class:`Filters` selects cases by
the day they were opened (``since``/``until`` inclusive, UTC calendar days), channel, language,
churn reason and the customer's value segment. The segment is the customer's *current* one, from
:func:`bot.core.customers.profile_of` (revenue and margin of today's subscription); cases without an
identified customer drop out when a segment is chosen. Cold cases, offers, tickets and action plans
follow the case they belong to. :func:`case_conditions` turns the filters into WHERE clauses, and
:class:`day_of`, :func:`to_datetime`, :func:`to_day` and :func:`to_money` read dates and amounts the
same way on SQLite and PostgreSQL. They live here, apart from the figures, because the dashboard
figures (:mod:`analytics.figures`, :mod:`analytics.returns`), the lists (:mod:`analytics.lists`) and
the tables (:mod:`analytics.tables`) all use them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, false, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from bot.core.customers import profile_of
from bot.core.offer_model import SEGMENTS
from bot.core.reasons import REASONS
from bot.storage.models import Customer, utcnow
from bot.storage.models import RetentionCase as RC

DEFAULT_RANGE_DAYS = 182  # the dashboard's default view: the last 26 weeks
CHANNELS: tuple[str, ...] = ("web", "rest", "sms", "voice")
CENT = Decimal("0.01")
ZERO = Decimal("0")

_CODE = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
#: the dates a filter may name (9999-12-31 overflowed the day after "until")
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)


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
        for name in ("since", "until"):
            day = getattr(self, name)
            if day is not None and not FIRST_DAY <= day <= LAST_DAY:
                raise ValueError(f"{name} ({day}) is outside {FIRST_DAY} to {LAST_DAY}")
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


def to_datetime(value: Any) -> datetime | None:
    """A date or time as the driver returns it (SQLite: text) as a naive datetime (None stays None)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time.min)
    return datetime.fromisoformat(str(value))


def to_day(value: Any) -> date:
    """The calendar day of a date, a datetime or their text form."""
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    raise TypeError(f"not a date: {value!r}")


def to_money(value: Any) -> Decimal:
    """An amount as a Decimal to the cent (None is zero)."""
    if value is None:
        return ZERO
    return (value if isinstance(value, Decimal) else Decimal(str(value))).quantize(CENT)
