"""Deterministic demo data for a fictional telecom/internet provider ("Nubia Telecom").

``python -m bot.storage.seed`` migrates the database and, if it holds no customers yet, inserts
a few hundred customers with plans, tenure, usage, incidents and consent flags. The same
seed always yields the same data. Phone numbers come from Ofcom's range reserved for
drama (+44 7700 900000-900999) and e-mails from the reserved ``example.com`` domain, so
no real person can be reached by mistake.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.core.tariffs import load_plans
from bot.storage.db import database_url, session_scope, upgrade_database
from bot.storage.models import Customer, Incident, Subscription, UsageMonth

SEED_TODAY = date(2026, 11, 1)  # data is laid out relative to this day, so it never drifts

FIRST_ES = ["Lucía", "Javier", "Marta", "Carlos", "Elena", "Pablo", "Sofía", "Diego", "Carmen",
            "Andrés", "Laura", "Miguel", "Paula", "Raúl", "Nuria", "Sergio", "Irene", "Hugo",
            "Alba", "Jorge", "Ainhoa", "Iker", "Rocío", "Álvaro", "Pilar", "Mateo"]
LAST_ES = ["García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Ruiz",
           "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Navarro", "Torres", "Domínguez",
           "Vázquez", "Ramos", "Gil", "Serrano", "Molina", "Castro", "Ortega", "Rubio"]
FIRST_EN = ["John", "Emma", "Oliver", "Grace", "Harry", "Chloe", "Jack", "Amelia", "George",
            "Mia", "Thomas", "Lily"]
LAST_EN = ["Smith", "Jones", "Taylor", "Brown", "Wilson", "Evans", "Walker", "Hughes", "Clarke"]
CITIES = [("28013", "Madrid"), ("08002", "Barcelona"), ("46001", "Valencia"), ("41001", "Sevilla"),
          ("50001", "Zaragoza"), ("29001", "Málaga"), ("48001", "Bilbao"), ("03001", "Alicante"),
          ("35001", "Las Palmas"), ("07001", "Palma")]


@dataclass(frozen=True)
class DemoPersona:
    """Hand-made customers that the website's selector offers, one per typical situation."""

    first: str
    last: str
    language: str
    plan: str
    since: date
    extra_cost: Decimal
    story: str


PERSONAS: tuple[DemoPersona, ...] = (
    DemoPersona("Lucía", "García Ortega", "es", "fibra_movil_tv", date(2018, 3, 14), Decimal("0"),
                "high value, long tenure"),
    DemoPersona("John", "Smith", "en", "fibra_600", date(2023, 6, 2), Decimal("0"),
                "English speaker, medium value"),
    DemoPersona("Javier", "Moreno Ruiz", "es", "fibra_300", date(2025, 9, 20), Decimal("14.00"),
                "unprofitable: many support calls"),
    DemoPersona("Marta", "Navarro Gil", "es", "fibra_movil", date(2021, 1, 10), Decimal("0"),
                "low usage"),
    DemoPersona("Carlos", "Díaz Serrano", "es", "fibra_1g", date(2022, 11, 5), Decimal("0"),
                "recent outages"),
    DemoPersona("Elena", "Romero Castro", "es", "fibra_movil", date(2020, 5, 30), Decimal("0"),
                "billing error last month"),
    DemoPersona("Emma", "Wilson", "en", "fibra_movil_tv", date(2019, 8, 1), Decimal("0"),
                "English speaker, high value"),
)


def phone_for(index: int) -> str:
    """Ofcom drama range: +44 7700 900000 to 900999 (never assigned to a real line)."""
    if not 0 <= index < 1000:
        raise ValueError("the reserved fictional range holds 1000 numbers")
    return f"+447700900{index:03d}"


def _months_back(today: date, n: int) -> date:
    y, m = today.year, today.month - n
    while m <= 0:
        m += 12
        y -= 1
    return date(y, m, 1)


def _ascii(s: str) -> str:
    table = str.maketrans("áéíóúÁÉÍÓÚñÑü ", "aeiouAEIOUnNu.")
    return s.translate(table).lower()


def build_customers(count: int, seed: int = 42) -> list[Customer]:
    """Build (not persist) ``count`` deterministic customers; the first ones are the personas."""
    rng = random.Random(seed)
    plans = load_plans()
    plan_codes = sorted(plans)
    customers: list[Customer] = []
    for i in range(count):
        if i < len(PERSONAS):
            p = PERSONAS[i]
            first, last, lang, plan_code, since, extra = (p.first, p.last, p.language, p.plan,
                                                          p.since, p.extra_cost)
        else:
            lang = "en" if rng.random() < 0.15 else "es"
            if lang == "es":
                first = rng.choice(FIRST_ES)
                last = f"{rng.choice(LAST_ES)} {rng.choice(LAST_ES)}"
            else:
                first, last = rng.choice(FIRST_EN), rng.choice(LAST_EN)
            plan_code = rng.choice(plan_codes)
            since = SEED_TODAY - timedelta(days=rng.randint(20, 365 * 9))
            extra = Decimal(rng.choice(["0", "0", "0", "0", "2.50", "6.00", "15.00", "25.00"]))
        postcode, city = CITIES[i % len(CITIES)] if i < len(PERSONAS) else rng.choice(CITIES)
        plan = plans[plan_code]
        ref = f"C{i + 1:05d}"
        customer = Customer(
            ref=ref, first_name=first, last_name=last,
            email=f"{_ascii(first)}.{_ascii(last.split()[0])}.{i + 1}@example.com",
            phone=phone_for(i), language=lang, postcode=postcode, city=city,
            customer_since=since, extra_monthly_cost=extra,
            consent_sms_marketing=(i < len(PERSONAS)) or rng.random() < 0.6,
            consent_sms_service=True,
        )
        price = Decimal(str(plan.monthly_price))
        customer.subscriptions.append(Subscription(
            plan_code=plan_code, list_price=price, monthly_price=price, status="active",
            started_at=since))
        _add_usage(customer, rng, low=(i == 3) or (i >= len(PERSONAS) and rng.random() < 0.15))
        _add_incidents(customer, rng, i)
        customers.append(customer)
    return customers


def _add_usage(customer: Customer, rng: random.Random, low: bool) -> None:
    for back in range(6, 0, -1):
        month = _months_back(SEED_TODAY, back)
        if low:
            gb, tv, logins = rng.uniform(0.5, 6), rng.uniform(0, 2), rng.randint(0, 1)
        else:
            gb, tv, logins = rng.uniform(40, 400), rng.uniform(5, 60), rng.randint(2, 20)
        customer.usage.append(UsageMonth(month=month, data_gb=Decimal(f"{gb:.1f}"),
                                         tv_hours=Decimal(f"{tv:.1f}"), app_logins=logins))


def _add_incidents(customer: Customer, rng: random.Random, index: int) -> None:
    def at(days_ago: int) -> datetime:
        return datetime.combine(SEED_TODAY - timedelta(days=days_ago), datetime.min.time()) \
            + timedelta(hours=rng.randint(8, 20))

    if index == 4:  # persona with recent outages, one still open
        customer.incidents.append(Incident(kind="outage", opened_at=at(20), solved_at=at(19),
                                           description="Fibre outage in the area, 22 h"))
        customer.incidents.append(Incident(kind="outage", opened_at=at(3), solved_at=None,
                                           description="Intermittent drops every evening"))
        return
    if index == 5:  # persona with a duplicated charge
        customer.incidents.append(Incident(kind="billing_error", opened_at=at(12), solved_at=None,
                                           description="October invoice charged twice"))
        return
    if index < len(PERSONAS):
        return
    roll = rng.random()
    if roll < 0.12:
        solved = rng.random() < 0.7
        customer.incidents.append(Incident(kind="outage", opened_at=at(rng.randint(2, 120)),
                                           solved_at=at(1) if solved else None,
                                           description="Service outage"))
    elif roll < 0.18:
        customer.incidents.append(Incident(kind="billing_error", opened_at=at(rng.randint(2, 90)),
                                           solved_at=None, description="Wrong amount invoiced"))


def seed(session: Session, count: int = 300) -> int:
    """Insert the demo customers unless customers exist already; returns how many were added."""
    existing = session.scalar(select(func.count()).select_from(Customer))
    if existing:
        return 0
    customers = build_customers(count)
    session.add_all(customers)
    return len(customers)


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    parser = argparse.ArgumentParser(description="Migrate the database and load demo data.")
    parser.add_argument("--customers", type=int, default=300, help="how many (max 1000)")
    args = parser.parse_args(argv)
    if not 1 <= args.customers <= 1000:
        parser.error("--customers must be between 1 and 1000")
    upgrade_database()
    with session_scope() as session:
        added = seed(session, args.customers)
    where = database_url().split("@")[-1]
    print(f"database ready ({where}); demo customers added: {added}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
