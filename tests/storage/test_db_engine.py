"""The SQLite engine that every process of `make run` uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.config.errors import PROJECT_ROOT

SCRIPT = """
from decimal import Decimal
from sqlalchemy import Column, Integer, MetaData, Numeric, Table, insert, select
from bot.storage.db import make_engine
engine = make_engine({url!r})
meta = MetaData()
t = Table("amounts", meta, Column("id", Integer, primary_key=True), Column("eur", Numeric(10, 2)))
meta.create_all(engine)
with engine.begin() as conn:
    conn.execute(insert(t).values(eur=Decimal("72.90")))
    print(conn.execute(select(t.c.eur)).scalar_one())
"""


def test_sqlite_amounts_round_trip_without_a_warning_on_every_query(tmp_path: Path) -> None:
    """SQLAlchemy warns on each Decimal query on SQLite; under `make run` that filled the log."""
    url = f"sqlite:///{tmp_path / 'amounts.db'}"
    result = subprocess.run([sys.executable, "-W", "default", "-c", SCRIPT.format(url=url)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "72.90"
    assert "does *not* support Decimal" not in result.stderr, result.stderr
