"""Hourly housekeeping on a real (SQLite) database: offers end on time, unfinished cases are abandoned."""

from __future__ import annotations

import os
import select as io_select
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.cli.housekeeping import main
from bot.config.errors import PROJECT_ROOT
from bot.core.conversation import Conversation
from bot.core.customers import find_customer
from bot.core.housekeeping import abandon_stale_cases, run_once
from bot.core.process import load_policy
from bot.core.retention import RetentionService
from bot.storage.db import session_factory
from bot.storage.models import RetentionCase

TODAY = date(2026, 11, 23)


def conv(session: Session, ref: str, cid: str, stage: str | None = None) -> Conversation:
    customer = find_customer(session, ref=ref)
    return Conversation(conversation_id=cid, language="es", channel="web", customer_id=customer.id,
                        verified=True, stage=stage)


def case_of(session: Session, cid: str) -> RetentionCase:
    return session.scalar(select(RetentionCase).where(RetentionCase.conversation_id == cid))


def age(session: Session, cid: str, hours: float) -> None:
    """Move a case and its offers ``hours`` into the past."""
    case = case_of(session, cid)
    case.opened_at -= timedelta(hours=hours)
    for offer in case.offers:
        offer.presented_at -= timedelta(hours=hours)
        if offer.decided_at is not None:
            offer.decided_at -= timedelta(hours=hours)


def test_unanswered_case_is_abandoned_after_a_day_and_nothing_else_is(db_session: Session) -> None:
    svc = RetentionService(db_session, today=TODAY)
    svc.start(conv(db_session, "C00001", "silent"), reason="price", verbatim="caro")  # offer left unanswered
    svc.start(conv(db_session, "C00002", "recent"), reason="price", verbatim="caro")
    svc.start(conv(db_session, "C00004", "kept"), reason="price", verbatim="caro")
    svc.accept(conv(db_session, "C00004", "kept", stage="offer"))
    svc.start(conv(db_session, "C00005", "answering"), reason="price", verbatim="caro")
    for cid in ("silent", "kept", "answering"):
        age(db_session, cid, 30)
    # the customer declined the first offer an hour ago: the conversation is still alive
    svc.decline(conv(db_session, "C00005", "answering", stage="offer"))
    db_session.flush()

    now = datetime.utcnow()
    assert abandon_stale_cases(db_session, now, timedelta(hours=24)) == 1
    silent = case_of(db_session, "silent")
    assert silent.status == "abandoned" and silent.closed_at == now
    assert [o.outcome for o in silent.offers] == ["pending"]  # never answered, nothing applied
    assert find_customer(db_session, ref="C00001").current_subscription.status == "active"
    assert case_of(db_session, "recent").status == "open"
    assert case_of(db_session, "kept").status == "retained"
    assert case_of(db_session, "answering").status == "open"
    assert abandon_stale_cases(db_session, now, timedelta(hours=24)) == 0  # a second run changes nothing


def test_run_once_ends_a_discount_whose_time_is_over(db_session: Session) -> None:
    svc = RetentionService(db_session, today=TODAY)
    svc.start(conv(db_session, "C00001", "disc"), reason="price", verbatim="caro")
    svc.accept(conv(db_session, "C00001", "disc", stage="offer"))
    sub = find_customer(db_session, ref="C00001").current_subscription
    assert sub.running_offer_until is not None and Decimal(sub.monthly_price) < Decimal(sub.list_price)
    day_before = datetime.combine(sub.running_offer_until, datetime.min.time())
    assert run_once(db_session, load_policy(), day_before).offers_ended == 0
    summary = run_once(db_session, load_policy(), day_before + timedelta(days=2))
    assert summary.offers_ended == 1
    assert Decimal(sub.monthly_price) == Decimal(sub.list_price) and sub.running_offer_id is None


def test_command_line_runs_once_and_reports(db_url: str, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    with session_factory(db_url)() as session:
        svc = RetentionService(session, today=TODAY)
        svc.start(conv(session, "C00003", "cli"), reason=None)
        session.commit()
    later = (datetime.utcnow() + timedelta(days=2)).isoformat(timespec="minutes")
    assert main(["--now", later]) == 0
    assert "1 case(s) abandoned" in capsys.readouterr().out
    with session_factory(db_url)() as session:
        assert case_of(session, "cli").status == "abandoned"


@pytest.mark.parametrize("argv, message", [
    (["--every", "5"], "at least 60 seconds"),
    (["--now", "yesterday"], "invalid fromisoformat value"),
])
def test_bad_arguments_are_clear_errors(argv: list[str], message: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_unmigrated_database_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    assert main([]) == 1
    err = capsys.readouterr().err
    assert "error: database:" in err and "python -m bot.storage.seed" in err and "Traceback" not in err


def test_hourly_mode_keeps_running_when_a_run_fails(tmp_path: Path) -> None:
    """Under `make run` (honcho) one process that exits stops them all: a failed run must not exit."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli.housekeeping", "--every", "60"], cwd=PROJECT_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready, _, _ = io_select.select([proc.stderr], [], [], 60)
        assert ready, "no output from the first run"
        line = proc.stderr.readline()  # the first run happens at once
        assert line.startswith("error: database:"), line
        time.sleep(1)
        assert proc.poll() is None, "the hourly housekeeping exited after one failed run"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
