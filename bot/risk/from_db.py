"""The risk features of this product's customers, computed from its database on a date.

Only records dated before ``as_of`` count (incidents, key-event alerts, usage months, retention
cases and offers), so a snapshot of a past date is what was known then. Two values are today's
and not the past's, because the database keeps no history of them: the plan price and the
margin (documented in ``docs/risk_model.md``). Support contacts are the ``support_complaint``
incidents plus the ``repeated_support_contacts`` alerts.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.customers import monthly_margin
from bot.core.vocabulary import LIVE_SUBSCRIPTION, OfferOutcome
from bot.risk.features import HORIZON_DAYS, Snapshot, lifecycle_stage, usage_trend, window
from bot.storage.models import Alert, CaseOffer, Customer, Incident, RetentionCase, Subscription, UsageMonth


def _counts(rows: Iterable[tuple[int, object]]) -> dict[int, int]:
    out: dict[int, int] = defaultdict(int)
    for customer_id, _ in rows:
        out[customer_id] += 1
    return out


def snapshots(session: Session, as_of: date, labelled: bool = False,
              customer_ids: Iterable[int] | None = None) -> list[Snapshot]:
    """One snapshot per customer who had a live subscription on ``as_of``.

    ``labelled``: also say whether they cancelled within 90 days after it (for training on this
    product's own history); otherwise the label is unknown (scoring today)."""
    since_90, until = window(as_of, 90)
    since_30, _ = window(as_of, 30)
    query = select(Customer).where(Customer.customer_since <= as_of)
    if customer_ids is not None:
        query = query.where(Customer.id.in_(list(customer_ids)))
    customers = [c for c in session.scalars(query) if _live_on(c, as_of)]
    ids = [c.id for c in customers]
    if not ids:
        return []
    incidents = list(session.execute(select(Incident.customer_id, Incident.kind, Incident.opened_at).where(
        Incident.customer_id.in_(ids), Incident.opened_at >= since_90, Incident.opened_at < until)))
    alerts = list(session.execute(select(Alert.customer_id, Alert.type).where(
        Alert.customer_id.in_(ids), Alert.created_at >= since_90, Alert.created_at < until)))
    cases = _counts(session.execute(select(RetentionCase.customer_id, RetentionCase.id).where(
        RetentionCase.customer_id.in_(ids), RetentionCase.opened_at < until)))
    accepted = _counts(session.execute(select(RetentionCase.customer_id, CaseOffer.id).join(CaseOffer).where(
        RetentionCase.customer_id.in_(ids), CaseOffer.outcome == OfferOutcome.ACCEPTED, CaseOffer.decided_at < until)))
    usage: dict[int, list[tuple[date, float]]] = defaultdict(list)
    for customer_id, month, gb in session.execute(select(UsageMonth.customer_id, UsageMonth.month, UsageMonth.data_gb)
                                                  .where(UsageMonth.customer_id.in_(ids), UsageMonth.month < as_of)):
        usage[customer_id].append((month, float(gb)))
    out = []
    for c in customers:
        mine = [i for i in incidents if i[0] == c.id]
        months = [gb for _, gb in sorted(usage[c.id])]
        tenure = c.tenure_months(as_of)
        sub = c.current_subscription
        values = {
            "tenure_months": tenure, "monthly_price": float(sub.monthly_price) if sub else 0.0,
            "monthly_margin": float(monthly_margin(c)),
            "price_rises_90d": sum(1 for a in alerts if a[0] == c.id and a[1] == "price_rise"),
            "incidents_30d": sum(1 for i in mine if i[2] >= since_30), "incidents_90d": len(mine),
            "key_events_90d": sum(1 for a in alerts if a[0] == c.id),
            "usage_trend": usage_trend(months[-3:], months[-6:-3]),
            "support_contacts_90d": sum(1 for i in mine if i[1] == "support_complaint")
            + sum(1 for a in alerts if a[0] == c.id and a[1] == "repeated_support_contacts"),
            "past_cases": cases.get(c.id, 0), "offers_accepted": accepted.get(c.id, 0),
        }
        churned = _cancelled_within(c, as_of) if labelled else None
        out.append(Snapshot(c.ref, as_of, values, lifecycle_stage(tenure), churned))
    return out


def _live_on(customer: Customer, day: date) -> bool:
    for sub in customer.subscriptions:
        cancelled = sub.cancel_requested_at.date() if sub.cancel_requested_at else None
        if sub.started_at <= day and (sub.status in LIVE_SUBSCRIPTION or (cancelled is not None and cancelled >= day)):
            return True
    return False


def _cancelled_within(customer: Customer, day: date) -> bool:
    end = day + timedelta(days=HORIZON_DAYS)
    return any(s.cancel_requested_at is not None and day <= s.cancel_requested_at.date() < end
               for s in customer.subscriptions if isinstance(s, Subscription))
