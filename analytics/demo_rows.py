"""Writing the demo history: which customers get one, removing and replacing the demo rows, and fast
bulk inserts into the project database and Rasa's tracker store.

:func:`generate` runs the simulation (:mod:`analytics.demo_simulation`) for the seeded customers but
the website's personas and inserts its rows; it is idempotent (every row belongs to a conversation
whose id starts with ``demo-``, and :func:`remove_demo` deletes exactly those). The command line
(``python -m analytics.demo_data``) and the tests call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Table, create_engine, delete, func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, selectinload

from analytics.demo_simulation import (
    DEFAULT_CASES,
    DEFAULT_SEED,
    DEFAULT_WEEKS,
    DEMO_PREFIX,
    HOLDOUT_SHARE,
    DemoCustomer,
    Generator,
)
from analytics.tracker_store import EVENTS, tracker_url
from bot.core.customers import profile_of
from bot.core.offer_loader import load_catalogue
from bot.core.offer_model import Catalogue, CustomerContext
from bot.storage.models import (
    ActionPlan,
    ActionPlanCheckin,
    CaseOffer,
    ColdCase,
    Customer,
    HandoffTicket,
    RetentionCase,
    Subscription,
)
from bot.storage.seed import PERSONAS, SEED_TODAY


@dataclass(frozen=True)
class DemoSummary:
    cases: int = 0
    offers: int = 0
    cold_cases: int = 0
    tickets: int = 0
    plans: int = 0
    checkins: int = 0
    subscriptions: int = 0
    events: int = 0
    unchanged: bool = False


PERSONA_REFS = frozenset(f"C{i + 1:05d}" for i in range(len(PERSONAS)))


def _customers(session: Session, catalogue: Catalogue, today: date) -> list[DemoCustomer]:
    """The seeded customers but the hand-made personas: their offer history must stay empty, or the
    offer engine's cooldowns would change what the website demo offers them."""
    out = []
    for c in session.scalars(select(Customer).options(selectinload(Customer.subscriptions)).order_by(Customer.id)):
        sub = c.current_subscription
        if sub is None or c.ref in PERSONA_REFS:
            continue
        prof = profile_of(c, today)
        if prof.plan_code not in catalogue.plans:
            continue
        ctx = CustomerContext(customer_id=c.id, plan_code=prof.plan_code, tenure_months=prof.tenure_months,
                              monthly_revenue=prof.monthly_revenue, monthly_margin=prof.monthly_margin,
                              value_segment=prof.value_segment)
        out.append(DemoCustomer(id=c.id, ref=c.ref, name=c.full_name, language=c.language if c.language in ("es", "en")
                             else "es", since=c.customer_since, plan_code=prof.plan_code,
                             revenue=prof.monthly_revenue, segment=prof.value_segment, ctx=ctx))
    return out


def demo_case_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RetentionCase)
                          .where(RetentionCase.conversation_id.like(f"{DEMO_PREFIX}%"))) or 0


def remove_demo(session: Session, tracker: Engine | None = None) -> int:
    """Delete every demo row (and demo transcripts); returns how many demo cases there were."""
    demo_cases = select(RetentionCase.id).where(RetentionCase.conversation_id.like(f"{DEMO_PREFIX}%"))
    n = demo_case_count(session)
    demo_sub = (select(Subscription.id).join(RetentionCase, (RetentionCase.customer_id == Subscription.customer_id)
                                             & (RetentionCase.closed_at == Subscription.cancel_requested_at))
                .where(Subscription.status == "cancelled", RetentionCase.conversation_id.like(f"{DEMO_PREFIX}%")))
    session.execute(delete(Subscription).where(Subscription.id.in_(demo_sub)),
                    execution_options={"synchronize_session": False})
    plans = select(ActionPlan.id).where(ActionPlan.case_id.in_(demo_cases))
    session.execute(delete(ActionPlanCheckin).where(ActionPlanCheckin.plan_id.in_(plans)),
                    execution_options={"synchronize_session": False})
    for model in (ActionPlan, ColdCase, HandoffTicket, CaseOffer):
        session.execute(delete(model).where(model.case_id.in_(demo_cases)),
                        execution_options={"synchronize_session": False})
    session.execute(delete(RetentionCase).where(RetentionCase.conversation_id.like(f"{DEMO_PREFIX}%")),
                    execution_options={"synchronize_session": False})
    if tracker is not None:
        EVENTS.metadata.create_all(tracker, checkfirst=True)
        with tracker.begin() as conn:
            conn.execute(delete(EVENTS).where(EVENTS.c.sender_id.like(f"{DEMO_PREFIX}%")))
    return n


def generate(session: Session, cases: int = DEFAULT_CASES, *, end: date = SEED_TODAY, weeks: int = DEFAULT_WEEKS,
             seed: int = DEFAULT_SEED, holdout_share: float = HOLDOUT_SHARE, tracker: Engine | None = None,
             force: bool = False) -> DemoSummary:
    """Write ``cases`` demo cases (replacing other demo rows); nothing when they are there already."""
    if cases < 1:
        raise ValueError("cases must be at least 1")
    if not force and demo_case_count(session) == cases:
        return DemoSummary(cases=cases, unchanged=True)
    catalogue = load_catalogue()
    customers = _customers(session, catalogue, end)
    if not customers:
        raise RuntimeError("no customers besides the demo personas: run `python -m bot.storage.seed` first")
    remove_demo(session, tracker)
    session.flush()
    first_ids = {
        "cases": session.scalar(select(func.max(RetentionCase.id))) or 0,
        "offers": session.scalar(select(func.max(CaseOffer.id))) or 0,
        "cold": session.scalar(select(func.max(ColdCase.id))) or 0,
        "tickets": session.scalar(select(func.max(HandoffTicket.id))) or 0,
        "plans": session.scalar(select(func.max(ActionPlan.id))) or 0,
        "checkins": session.scalar(select(func.max(ActionPlanCheckin.id))) or 0,
        "subscriptions": session.scalar(select(func.max(Subscription.id))) or 0,
    }
    gen = Generator(customers, catalogue, cases=cases, end=end, weeks=weeks, seed=seed,
                     holdout_share=holdout_share, first_ids=first_ids)
    gen.run()
    rows = gen.rows
    for model, key in ((RetentionCase, "cases"), (CaseOffer, "offers"), (ColdCase, "cold"),
                       (HandoffTicket, "tickets"), (ActionPlan, "plans"), (ActionPlanCheckin, "checkins"),
                       (Subscription, "subscriptions")):
        _bulk_insert(session.connection(), model.__table__, rows[key])
    if tracker is not None:
        write_events(tracker, rows["events"])
    return DemoSummary(cases=len(rows["cases"]), offers=len(rows["offers"]), cold_cases=len(rows["cold"]),
                       tickets=len(rows["tickets"]), plans=len(rows["plans"]), checkins=len(rows["checkins"]),
                       subscriptions=len(rows["subscriptions"]),
                       events=len(rows["events"]) if tracker is not None else 0)


def _chunks(rows: list[Any], size: int) -> list[list[Any]]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _bulk_insert(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows. On SQLite straight through the driver, each value converted by its column type
    (exactly what SQLAlchemy stores), skipping SQLAlchemy's per-row parameter handling."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        for chunk in _chunks(rows, 5000):
            conn.execute(insert(table), chunk)
        return
    columns = [table.c[name] for name in rows[0]]
    processors = [c.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for c in columns]
    names = [c.name for c in columns]
    sql = (f"INSERT INTO {table.name} ({', '.join(conn.dialect.identifier_preparer.quote(n) for n in names)}) "
           f"VALUES ({', '.join('?' * len(names))})")
    values = [tuple(v if p is None or v is None else p(v) for v, p in zip((row[n] for n in names), processors))
              for row in rows]
    for chunk in _chunks(values, 20000):
        conn.exec_driver_sql(sql, chunk)


EVENT_COLUMNS = ("sender_id", "type_name", "timestamp", "intent_name", "action_name", "data")


def write_events(tracker: Engine, events: list[tuple[Any, ...]]) -> None:
    """Insert tracker events (tuples in ``EVENT_COLUMNS`` order). On SQLite straight through the driver:
    hundreds of thousands of rows would spend most of their time in SQLAlchemy's parameter handling."""
    with tracker.begin() as conn:
        if conn.dialect.name == "sqlite":
            sql = f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
            for chunk in _chunks(events, 20000):
                conn.exec_driver_sql(sql, chunk)
        else:
            for chunk in _chunks(events, 10000):
                conn.execute(insert(EVENTS), [dict(zip(EVENT_COLUMNS, e)) for e in chunk])


def writable_tracker(url: str | None = None) -> Engine:
    """A read-write engine on the tracker store (the table is created as Rasa would create it)."""
    url = url or tracker_url()
    engine = create_engine(url, future=True)
    EVENTS.metadata.create_all(engine, checkfirst=True)
    return engine
