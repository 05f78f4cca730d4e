"""Customer look-up and profile (what the assistant knows about who it is talking to)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.core.offer_engine import segment_for
from bot.core.offer_model import CustomerContext
from bot.core.tariffs import load_plans
from bot.storage.models import CaseOffer, Customer, RetentionCase


@dataclass(frozen=True)
class Profile:
    customer_id: int
    ref: str
    first_name: str
    full_name: str
    language: str
    plan_code: str
    plan_name_es: str
    plan_name_en: str
    subscription_status: str
    tenure_months: int
    monthly_revenue: Decimal
    monthly_margin: Decimal
    value_segment: str

    def as_slots(self) -> dict[str, Any]:
        """Slot values for the tracker (JSON-safe)."""
        d = asdict(self)
        d["monthly_revenue"] = float(self.monthly_revenue)
        d["monthly_margin"] = float(self.monthly_margin)
        return d


def find_customer(session: Session, *, ref: str | None = None, phone: str | None = None,
                  customer_id: int | None = None) -> Customer | None:
    if customer_id is not None:
        return session.get(Customer, customer_id)
    if ref:
        return session.scalar(select(Customer).where(Customer.ref == ref.strip().upper()))
    if phone:
        return session.scalar(select(Customer).where(Customer.phone == normalise_phone(phone)))
    return None


def normalise_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    return f"+{digits}" if digits else ""


def monthly_margin(customer: Customer) -> Decimal:
    sub = customer.current_subscription
    if sub is None:
        return Decimal("0")
    plan = load_plans().get(sub.plan_code)
    cost = Decimal(str(plan.monthly_cost)) if plan else Decimal("0")
    return (Decimal(sub.monthly_price) - cost - Decimal(customer.extra_monthly_cost or 0)).quantize(
        Decimal("0.01"))


def profile_of(customer: Customer, today: date | None = None) -> Profile:
    sub = customer.current_subscription
    plans = load_plans()
    plan = plans.get(sub.plan_code) if sub else None
    revenue = Decimal(sub.monthly_price) if sub else Decimal("0")
    margin = monthly_margin(customer)
    return Profile(
        customer_id=customer.id, ref=customer.ref, first_name=customer.first_name,
        full_name=customer.full_name, language=customer.language,
        plan_code=sub.plan_code if sub else "",
        plan_name_es=plan.name["es"] if plan else "", plan_name_en=plan.name["en"] if plan else "",
        subscription_status=sub.status if sub else "none",
        tenure_months=customer.tenure_months(today), monthly_revenue=revenue,
        monthly_margin=margin, value_segment=segment_for(revenue, margin),
    )


def customer_context(session: Session, customer: Customer, today: date | None = None) -> CustomerContext:
    """The offer engine's view of a customer, including offers already made to them."""
    today = today or date.today()
    prof = profile_of(customer, today)
    sub = customer.current_subscription
    history_rows = session.execute(
        select(CaseOffer.offer_id, CaseOffer.presented_at)
        .join(RetentionCase, RetentionCase.id == CaseOffer.case_id)
        .where(RetentionCase.customer_id == customer.id)
    ).all()
    running = sub.running_offer_until if sub and sub.running_offer_until else None
    return CustomerContext(
        customer_id=customer.id, plan_code=prof.plan_code, tenure_months=prof.tenure_months,
        monthly_revenue=prof.monthly_revenue, monthly_margin=prof.monthly_margin,
        value_segment=prof.value_segment, running_offer_until=running,
        offers_history=tuple((oid, at.date()) for oid, at in history_rows),
    )


def usage_summary(customer: Customer) -> dict[str, Any]:
    """Average monthly usage over the stored months, and how it compares to the plan."""
    months = customer.usage[-3:]
    if not months:
        return {"months": 0, "avg_gb": 0.0, "avg_tv_hours": 0.0, "avg_logins": 0.0}
    n = len(months)
    return {
        "months": n,
        "avg_gb": round(sum(float(m.data_gb) for m in months) / n, 1),
        "avg_tv_hours": round(sum(float(m.tv_hours) for m in months) / n, 1),
        "avg_logins": round(sum(m.app_logins for m in months) / n, 1),
    }


def open_incidents(customer: Customer, kinds: tuple[str, ...] | None = None,
                   within_days: int = 60, today: date | None = None) -> list[Any]:
    today = today or date.today()
    since = today - timedelta(days=within_days)
    return [i for i in customer.incidents
            if (kinds is None or i.kind in kinds) and (i.solved_at is None or i.opened_at.date() >= since)]


def list_demo_customers(session: Session, limit: int = 7) -> list[dict[str, str]]:
    """The first customers (the hand-made personas) for the website's log-in selector."""
    rows = session.scalars(select(Customer).order_by(Customer.id).limit(limit)).all()
    out = []
    for c in rows:
        sub = c.current_subscription
        out.append({"ref": c.ref, "name": c.full_name, "language": c.language,
                    "plan": sub.plan_code if sub else "", "status": sub.status if sub else ""})
    return out


def sms_block(customer: Customer, purpose: str) -> str | None:
    """Why we may not text this customer for ``purpose`` ("marketing" or "service"), or None:
    ``sms_opted_out``, ``no_marketing_consent`` / ``no_service_consent`` or ``no_phone``.
    The sender checks again right before the HTTP call (``bot.messaging.sms``)."""
    if customer.sms_opted_out_at is not None:
        return "sms_opted_out"
    consent = customer.consent_sms_marketing if purpose == "marketing" else customer.consent_sms_service
    if not consent:
        return f"no_{purpose}_consent"
    if not customer.phone:
        return "no_phone"
    return None
