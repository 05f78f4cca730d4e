"""The typed results of the dashboard's figures: rates kept as counts, and one frozen dataclass per
section of the main view (:class:`Dashboard` holds them all).

They are plain values without queries, so that the figures (:mod:`analytics.figures`), the real-save
accounting (:mod:`analytics.returns`), the tracker-store counts (:mod:`analytics.tracker_store`), the
tables (:mod:`analytics.tables`), the report and the tests share them without importing each other.
The status tuples name the fields of :class:`CaseCounts`, :class:`ColdStats` and :class:`TriggerRow`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from analytics.filters import ZERO, Filters

CASE_STATUSES: tuple[str, ...] = ("open", "retained", "cancelled", "handed_off", "abandoned")
COLD_WAITING: tuple[str, ...] = ("cooling", "waiting_fix", "due", "claimed")
COLD_RESOLVED: tuple[str, ...] = ("won_back", "declined", "no_answer")
TICKET_STATUSES: tuple[str, ...] = ("waiting", "in_progress", "callback", "resolved")
NO_OFFER = "(no offer)"
NO_REASON = "(none)"


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
