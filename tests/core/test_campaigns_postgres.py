"""Cold retention campaigns on a real PostgreSQL server (tests/support/pg.py): the migrations, claims with
``FOR UPDATE SKIP LOCKED`` by concurrent runners on separate connections, and the whole
cancel -> cold SMS -> win-back path, with SMS through Twilio's stand-in on 127.0.0.1."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from bot.config.errors import PROJECT_ROOT
from bot.core.campaign_claiming import claim_due
from bot.core.campaign_replies import accept_winback, pending_winback
from bot.core.campaign_scheduling import refresh, schedule_cold_case
from bot.core.customers import find_customer
from bot.storage.db import get_engine, session_factory, upgrade_database
from bot.storage.models import Base, CaseOffer, ColdCase
from tests.core.test_campaigns import (
    CANCEL_DAY,
    DUE_DAY,
    MANY,
    SEND,
    allow_sms,
    assert_each_sent_once,
    cancel,
    new_sender,
    race,
    run,
    schedule_many,
    sent_to,
)
from tests.support.db_fixtures import prepare_database
from tests.support.pg import PostgresServer
from tests.support.twilio_standin import TwilioApiStandIn, send_sms_through


def alembic_config(url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


@pytest.fixture()
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A new, empty database on the test server."""
    url = pg_server.create_database(f"t_{uuid.uuid4().hex[:16]}")
    yield url
    get_engine(url).dispose()


@pytest.fixture()
def pg_db(pg_url: str) -> str:
    """Migrated and seeded like the SQLite databases of the other tests."""
    return prepare_database(pg_url)


@pytest.fixture()
def pg_session(pg_db: str) -> Iterator[Session]:
    session = session_factory(pg_db)()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture()
def pg_twilio(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwilioApiStandIn]:
    with TwilioApiStandIn() as standin:
        monkeypatch.setenv("DATABASE_URL", pg_db)
        send_sms_through(standin, monkeypatch)
        yield standin


def test_migrations_apply_on_postgresql(pg_url: str) -> None:
    cfg = alembic_config(pg_url)
    upgrade_database(pg_url)
    engine = get_engine(pg_url)
    assert engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert [version] == list(ScriptDirectory.from_config(cfg).get_heads())
        # The migrated schema is the models' schema: no table, column or index missing.
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diff if d[0] in ("add_table", "add_column", "add_index", "remove_table",
                                            "remove_column")] == [], diff
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    cold_indexes = {i["name"] for i in inspect(engine).get_indexes("cold_cases")}
    assert {"ix_cold_cases_status", "ix_cold_cases_due_on"} <= cold_indexes
    # Down to nothing and up again.
    engine.dispose()
    command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    command.upgrade(cfg, "head")
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())


def _schedule_due(session: Session) -> list[int]:
    schedule_many(session)
    refresh(session, DUE_DAY)
    session.commit()
    return list(session.scalars(select(ColdCase.id).where(ColdCase.status == "due").order_by(ColdCase.id)))


def test_claims_skip_rows_locked_by_another_runner(pg_session: Session, pg_db: str) -> None:
    due = _schedule_due(pg_session)
    assert len(due) == len(MANY)
    factory = session_factory(pg_db)
    statements: list[str] = []

    def record(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "cold_cases" in statement and "FOR UPDATE" in statement:
            statements.append(statement)

    engine = get_engine(pg_db)
    event.listen(engine, "before_cursor_execute", record)
    # Runner A is in the middle of its claim: it holds the row locks of the three oldest cases.
    holder = factory()
    locked = list(holder.scalars(select(ColdCase.id).where(ColdCase.status == "due").order_by(ColdCase.id)
                                 .limit(3).with_for_update()))
    got: list[int] = []

    def runner_b() -> None:
        with factory() as session:
            got.extend(c.id for c in claim_due(session, "runner-b", None, SEND))

    thread = threading.Thread(target=runner_b)
    thread.start()
    thread.join(timeout=20)
    blocked = thread.is_alive()
    holder.rollback()
    holder.close()
    thread.join(timeout=20)
    event.remove(engine, "before_cursor_execute", record)
    assert not blocked, "runner B waited for runner A's locks instead of skipping them"
    assert sorted(got) == sorted(set(due) - set(locked))
    assert any("FOR UPDATE OF cold_cases SKIP LOCKED" in s for s in statements), statements
    # The skipped cases were left for the next claim, untouched.
    with factory() as session:
        rest = claim_due(session, "runner-c", None, SEND)
        assert sorted(c.id for c in rest) == sorted(locked)
        assert claim_due(session, "runner-d", None, SEND) == []


def test_concurrent_claims_are_disjoint(pg_session: Session, pg_db: str) -> None:
    due = _schedule_due(pg_session)
    factory: sessionmaker = session_factory(pg_db)
    claimed: dict[str, list[int]] = {f"r{i}": [] for i in range(4)}
    barrier = threading.Barrier(len(claimed))
    errors: list[BaseException] = []

    def work(name: str) -> None:
        barrier.wait()
        try:
            with factory() as session:
                while batch := claim_due(session, name, 2, SEND):
                    claimed[name] += [c.id for c in batch]
        except BaseException as exc:  # noqa: B036 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == len(set(every)) and sorted(every) == sorted(due)
    pg_session.expire_all()
    owners = dict(pg_session.execute(select(ColdCase.id, ColdCase.claimed_by)).all())
    assert all(owners[i] == name for name, ids in claimed.items() for i in ids)


def test_two_runners_text_each_customer_once_on_postgresql(pg_session: Session, pg_db: str,
                                                           pg_twilio: TwilioApiStandIn) -> None:
    expected = schedule_many(pg_session)
    summaries = race(session_factory(pg_db), SEND)
    assert_each_sent_once(pg_session, pg_twilio, summaries, expected)
    assert sum(s.claimed for s in summaries) == len(MANY)


def test_cancel_cold_sms_win_back_on_postgresql(pg_session: Session, pg_db: str,
                                                pg_twilio: TwilioApiStandIn) -> None:
    lucia = find_customer(pg_session, ref="C00001")
    case = cancel(pg_session, "C00001", "price")
    cold = schedule_cold_case(pg_session, case, CANCEL_DAY)
    assert schedule_cold_case(pg_session, case, CANCEL_DAY) is cold
    pg_session.commit()
    allow_sms(pg_session, "C00001")
    factory = session_factory(pg_db)
    assert run(factory, new_sender(), SEND - timedelta(days=1)).sent == 0
    assert run(factory, new_sender(), SEND).sent == 1
    assert sent_to(pg_twilio) == [lucia.phone]
    assert "20 %" in pg_twilio.messages[0]["Body"] and "responde SI" in pg_twilio.messages[0]["Body"]

    pg_session.expire_all()
    pending = pending_winback(pg_session, lucia.id)
    assert pending is not None and pending.id == cold.id
    reference = accept_winback(pg_session, pending, DUE_DAY)
    pg_session.commit()
    assert accept_winback(pg_session, pending, DUE_DAY) == reference
    pg_session.expire_all()
    sub = lucia.current_subscription
    assert sub.status == "active" and sub.cancel_effective_date is None
    assert sub.monthly_price == Decimal("58.32") and sub.running_offer_id == "discount_loyalty"
    assert pg_session.get(ColdCase, cold.id).status == "won_back"
    cold_offers = pg_session.scalars(select(CaseOffer).where(CaseOffer.case_id == case.id,
                                                             CaseOffer.variant == "cold")).all()
    assert [(o.offer_id, o.outcome) for o in cold_offers] == [("discount_loyalty", "accepted")]
