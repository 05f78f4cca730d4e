"""Proactive retention on the dashboard: key-event alerts, events and their reach,
compensations, churn risk, and whether proactive contacts work (contacted versus holdout).

Every figure is a :class:`analytics.tables.Table`, so the page, the CSV export and masking per
role (phone numbers unless the user may see contacts) work as for the other tables.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.tables import Table, TableColumn
from bot.core.customers import profile_of
from bot.risk.features import HORIZON_DAYS
from bot.storage.models import Alert, AlertAction, Customer, KeyEvent, ProactiveContact, utcnow

PRIORITIES = ("high", "medium", "low")
_T = TableColumn


def alerts_table(session: Session, now: datetime | None = None) -> Table:
    """Open alerts, most urgent first: age against the priority's due time, and the owner."""
    now = now or utcnow()
    order = {p: i for i, p in enumerate(PRIORITIES)}
    rows = []
    for alert, ref in session.execute(select(Alert, Customer.ref).join(Customer, Customer.id == Alert.customer_id)
                                      .where(Alert.status == "open")):
        age = (now - alert.created_at).total_seconds() / 3600
        rows.append({"id": alert.id, "priority": alert.priority, "type": alert.type, "customer": ref,
                     "created": alert.created_at, "age_hours": round(age, 1), "due": alert.due_at,
                     "overdue": bool(alert.due_at and alert.due_at < now), "owner": alert.owner or "unassigned"})
    rows.sort(key=lambda r: (order.get(r["priority"], 9), not r["overdue"], r["created"]))
    return Table("alerts", "Open alerts (tasks for a person)", (
        _T("id", "Alert", "int"), _T("priority", "Priority"), _T("type", "Event"), _T("customer", "Customer"),
        _T("created", "Created", "datetime"), _T("age_hours", "Age (h)", "number"), _T("due", "Due", "datetime"),
        _T("overdue", "Overdue", "bool"), _T("owner", "Owner")), rows)


def alert_summary(session: Session, now: datetime | None = None) -> dict[str, dict[str, int]]:
    now = now or utcnow()
    out = {p: {"open": 0, "overdue": 0} for p in PRIORITIES}
    for priority, due in session.execute(select(Alert.priority, Alert.due_at).where(Alert.status == "open")):
        bucket = out.setdefault(priority, {"open": 0, "overdue": 0})
        bucket["open"] += 1
        bucket["overdue"] += int(bool(due and due < now))
    return out


def events_table(session: Session) -> Table:
    """Every key event taken in, newest first, with its reach and what it cost."""
    actions: dict[int, Counter[str]] = {}
    credits: dict[int, Decimal] = {}
    for event_id, action, status, amount in session.execute(
            select(Alert.event_id, AlertAction.action, AlertAction.status, AlertAction.amount).join(Alert)):
        actions.setdefault(event_id, Counter())[f"{action}:{status}"] += 1
        if action == "compensation" and amount is not None:
            credits[event_id] = credits.get(event_id, Decimal("0")) + Decimal(amount)
    rows = []
    for e in session.scalars(select(KeyEvent).order_by(KeyEvent.received_at.desc())):
        done = actions.get(e.id, Counter())
        rows.append({"id": e.external_id, "type": e.type, "received": e.received_at, "started": e.started_at,
                     "ended": e.ended_at, "where": ", ".join(e.postcodes or []) or "one customer", "reach": e.reach,
                     "sms_sent": done["sms:sent"], "sms_waiting": done["sms:pending"],
                     "compensation": credits.get(e.id, Decimal("0")), "source": e.source})
    return Table("key_events", "Key events and their reach", (
        _T("id", "Event id"), _T("type", "Type"), _T("received", "Received", "datetime"),
        _T("started", "Started", "datetime"), _T("ended", "Ended", "datetime"), _T("where", "Where"),
        _T("reach", "Customers reached", "int"), _T("sms_sent", "SMS sent", "int"),
        _T("sms_waiting", "SMS queued", "int"), _T("compensation", "Compensation (EUR)", "money"),
        _T("source", "Source")), rows)


def compensations_table(session: Session) -> Table:
    """Compensation credits paid, by event type."""
    rows = [{"type": kind, "credits": int(n), "total": Decimal(total or 0)} for kind, n, total in session.execute(
        select(Alert.type, func.count(), func.sum(AlertAction.amount)).join(Alert)
        .where(AlertAction.action == "compensation", AlertAction.status == "done").group_by(Alert.type))]
    skipped = dict(session.execute(select(Alert.type, func.count()).join(AlertAction).where(
        AlertAction.action == "compensation", AlertAction.status == "skipped").group_by(Alert.type)).all())
    for row in rows:
        row["skipped"] = int(skipped.pop(row["type"], 0))
    rows += [{"type": kind, "credits": 0, "total": Decimal("0"), "skipped": int(n)} for kind, n in skipped.items()]
    return Table("compensations", "Compensations paid", (
        _T("type", "Event type"), _T("credits", "Credits", "int"), _T("total", "Total (EUR)", "money"),
        _T("skipped", "Not paid (caps, profitability)", "int")), sorted(rows, key=lambda r: r["type"]))


def at_risk_table(session: Session, model: Any, today: Any, limit: int = 200) -> tuple[Table, list[float]]:
    """Customers by churn risk with their drivers; and every score (for the distribution)."""
    from bot.risk.from_db import snapshots
    from bot.risk.model import DRIVER_NAMES

    rows = snapshots(session, today)
    scores = model.score(rows)
    refs = [r.customer_id for r in rows]
    customers = {c.ref: c for c in session.scalars(select(Customer).where(Customer.ref.in_(refs)))}
    ranked = sorted(zip(rows, scores), key=lambda pair: -pair[1].probability)[:limit]
    out = []
    for row, score in ranked:
        customer = customers[row.customer_id]
        profile = profile_of(customer, today)
        out.append({"customer": customer.ref, "phone": customer.phone, "segment": profile.value_segment,
                    "risk": round(score.probability * 100, 1),
                    "drivers": ", ".join(DRIVER_NAMES[d] for d in score.drivers),
                    "margin": profile.monthly_margin})
    return Table("at_risk", "Customers most at risk of leaving in the next 90 days", (
        _T("customer", "Customer"), _T("phone", "Phone", "phone"), _T("segment", "Value segment"),
        _T("risk", "Risk (%)", "number"), _T("drivers", "Top drivers"), _T("margin", "Margin (EUR/month)", "money")),
        out), [s.probability for s in scores]


@dataclass(frozen=True)
class Uplift:
    contacted: int
    contacted_churned: int
    holdout: int
    holdout_churned: int

    def rate(self, churned: int, n: int) -> float | None:
        return churned / n if n else None

    @property
    def uplift(self) -> float | None:
        """Churn avoided per contacted customer: holdout churn minus contacted churn."""
        a, b = self.rate(self.holdout_churned, self.holdout), self.rate(self.contacted_churned, self.contacted)
        return None if a is None or b is None else a - b

    @property
    def interval(self) -> tuple[float, float] | None:
        """95 % confidence interval of the uplift (normal approximation of two proportions)."""
        if not self.contacted or not self.holdout or self.uplift is None:
            return None
        p1, p2 = self.holdout_churned / self.holdout, self.contacted_churned / self.contacted
        se = math.sqrt(p1 * (1 - p1) / self.holdout + p2 * (1 - p2) / self.contacted)
        return self.uplift - 1.96 * se, self.uplift + 1.96 * se


def uplift(session: Session, today: Any) -> Uplift:
    """Contacted (every at-risk customer not held out: intention to treat) against the holdout,
    for runs whose 90 days are over: did they cancel within 90 days of the run?"""
    cutoff = today - timedelta(days=HORIZON_DAYS)
    counts = {True: [0, 0], False: [0, 0]}
    for contact in session.scalars(select(ProactiveContact).where(ProactiveContact.scored_on <= cutoff)):
        customer = session.get(Customer, contact.customer_id)
        end = contact.scored_on + timedelta(days=HORIZON_DAYS)
        left = any(s.cancel_requested_at is not None and contact.scored_on <= s.cancel_requested_at.date() < end
                   for s in (customer.subscriptions if customer else []))
        counts[bool(contact.holdout)][0] += 1
        counts[bool(contact.holdout)][1] += int(left)
    return Uplift(counts[False][0], counts[False][1], counts[True][0], counts[True][1])


def proactive_table(session: Session) -> Table:
    """Proactive runs: how many customers were contacted, skipped (and why), held out, answered."""
    rows = []
    grouped: dict[Any, Counter[str]] = {}
    for scored_on, status, skip in session.execute(
            select(ProactiveContact.scored_on, ProactiveContact.status, ProactiveContact.skip_reason)):
        grouped.setdefault(scored_on, Counter())[status if status != "skipped" else f"skipped: {skip}"] += 1
    for day in sorted(grouped, reverse=True):
        c = grouped[day]
        rows.append({"run": day, "at_risk": sum(c.values()), "holdout": c["holdout"],
                     "texted": c["sent"] + c["accepted"] + c["declined"] + c["no_answer"],
                     "accepted": c["accepted"], "declined": c["declined"], "no_answer": c["no_answer"],
                     "skipped": ", ".join(f"{k[9:]} {v}" for k, v in sorted(c.items()) if k.startswith("skipped"))})
    return Table("proactive", "Proactive contacts by run", (
        _T("run", "Run", "date"), _T("at_risk", "At risk", "int"), _T("holdout", "Held out", "int"),
        _T("texted", "Texted", "int"), _T("accepted", "Accepted", "int"), _T("declined", "Declined", "int"),
        _T("no_answer", "No answer", "int"), _T("skipped", "Skipped (why)")), rows)
