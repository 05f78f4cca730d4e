"""The retention figures of the dashboard's main view, from SQLAlchemy queries (issue 6).

:func:`load_dashboard` computes every figure of the main view; the dashboard (:mod:`analytics.app`),
the command line (:mod:`analytics.report`) and the tests all call it, so they always agree. It reads
the cases once by day, status, reason and holdout (counts, reasons, holdout, handoff rate and weekly
trends from one pass), adds the saves and their money (:mod:`analytics.returns`), the cold
follow-ups, the offers, the verbatims and the handoff tickets, and counts the tracker store's
messages meanwhile (:mod:`analytics.tracker_store`). The scope is :class:`analytics.filters.Filters`;
the results are the dataclasses of :mod:`analytics.results`.

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

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, exists, func, or_, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from analytics.filters import ZERO, Filters, case_conditions, day_of, to_datetime, to_day, to_money
from analytics.results import (
    CASE_STATUSES,
    COLD_WAITING,
    NO_REASON,
    TICKET_STATUSES,
    CaseCounts,
    ColdStats,
    Dashboard,
    HandoffStats,
    HoldoutStats,
    HotColdRow,
    NluStats,
    OfferRow,
    Rate,
    RealSaves,
    ReasonRow,
    TriggerRow,
    Verbatim,
    WeekRow,
)
from analytics.returns import Returns, add_cold, add_hot, cents_to_eur, has_undated_cancellations, week_of
from analytics.tracker_store import nlu_stats
from bot.core.reasons import REASONS
from bot.storage.models import CaseOffer, ColdCase, HandoffTicket, utcnow
from bot.storage.models import RetentionCase as RC

_BACKGROUND = ThreadPoolExecutor(max_workers=2, thread_name_prefix="analytics-tracker")


def _core(session: Session) -> Connection:
    """The session's connection: plain Core execution, without the ORM's per-row overhead."""
    return session.connection()


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
    acc = Returns(kinds, as_of)  # saves and accepted offers: real saves, revenue kept, costs
    undated = has_undated_cancellations(conn)
    add_hot(acc, conn, conds, undated)
    add_cold(acc, conn, conds, undated)
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
        hot_cold=(HotColdRow("hot", holdout.offered_decided, holdout.offered_saved, cents_to_eur(acc.hot[1]),
                             cents_to_eur(acc.hot[0])),
                  HotColdRow("cold", cold.resolved, cold.won_back, cents_to_eur(acc.cold[1]),
                             cents_to_eur(acc.cold[0]))),
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


def _cold_status(conn: Connection, conds: Sequence[ColumnElement[bool]]) -> ColdStats:
    by_status = dict(conn.execute(
        select(ColdCase.status, func.count()).join(RC, RC.id == ColdCase.case_id)
        .where(*conds).group_by(ColdCase.status)).all())
    return ColdStats(cases=sum(by_status.values()), waiting=sum(by_status.get(s, 0) for s in COLD_WAITING),
                     **{s: by_status.get(s, 0) for s in ("sent", "won_back", "declined", "no_answer", "skipped")})


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
                g["accepted_cost"] += to_money(cost)
    offers = [OfferRow(offer_id=o, kind=k, variant=v, **g) for (o, k, v), g in by_offer.items()]
    offers.sort(key=lambda r: (-r.presented, r.offer_id, r.variant))
    order = {r: i for i, r in enumerate(REASONS)}
    per_reason = [OfferRow(reason=r, offer_id=o, kind=k, variant=v, **g) for (r, o, k, v), g in by_reason.items()]
    per_reason.sort(key=lambda r: (order.get(r.reason, 99), -r.presented, r.offer_id, r.variant))
    return tuple(offers), tuple(per_reason)


def _weekly(case_rows: Iterable[Any], filters: Filters, acc: Returns) -> tuple[WeekRow, ...]:
    weeks: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d, status, _, is_holdout, n, _handed, was_offered in case_rows:
        w = weeks[week_of(to_day(d))]
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
    return [Verbatim(case_id=r[0], conversation_id=r[1], opened_at=to_datetime(r[2]), reason=r[3] or NO_REASON,  # type: ignore[arg-type]
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
    return waiting or 0, to_datetime(oldest), by_trigger
