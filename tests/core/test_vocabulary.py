"""One vocabulary of stages and statuses: the Python enums, ``domain.yml``, the rules files and
the database say the same names (a stage the rules wait for but no code sets, or a status the
dashboard does not know, is a silent dead end)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

from bot.config.settings import PROJECT_ROOT
from bot.core.vocabulary import TABLE_STATUSES, Stage
from bot.storage import models
from tests.support.db_fixtures import make_database


def _rule_stages(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "retention_stage" and isinstance(value, str):
                found.add(value)
            found |= _rule_stages(value)
    elif isinstance(node, list):
        for item in node:
            found |= _rule_stages(item)
    return found


def test_the_stage_slot_has_exactly_the_stages_of_the_code() -> None:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert domain["slots"]["retention_stage"]["values"] == list(Stage.values())


def test_every_stage_in_the_rules_and_stories_exists() -> None:
    files = [*(PROJECT_ROOT / "data" / "rules").glob("*.yml"), *(PROJECT_ROOT / "tests" / "stories").glob("*.yml")]
    used = set().union(*(_rule_stages(yaml.safe_load(f.read_text(encoding="utf-8"))) for f in files))
    assert used and used <= set(Stage.values()), used - set(Stage.values())


def test_every_stage_the_code_sets_exists() -> None:
    """``stage="..."`` keyword arguments and ``retention_stage`` slot events in bot/ and actions/."""
    written: set[str] = set()
    for path in [*(PROJECT_ROOT / "bot").rglob("*.py"), *(PROJECT_ROOT / "actions").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "stage" and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str):
                written.add(node.value.value)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "SlotSet" and node.args \
                    and isinstance(node.args[0], ast.Constant) and node.args[0].value == "retention_stage" \
                    and len(node.args) > 1 and isinstance(node.args[1], ast.Constant) \
                    and isinstance(node.args[1].value, str):
                written.add(node.args[1].value)
    assert written <= set(Stage.values()), written - set(Stage.values())


def test_model_defaults_are_in_the_vocabulary() -> None:
    tables = {m.__tablename__: m for m in vars(models).values() if isinstance(m, type) and hasattr(m, "__tablename__")}
    for (table, column), vocabulary in TABLE_STATUSES.items():
        default = tables[table].__table__.c[column].default
        if default is not None:
            assert default.arg in vocabulary.values(), (table, column, default.arg)


def test_the_demo_database_holds_only_known_statuses(tmp_path: Path) -> None:
    url = make_database(tmp_path, customers=120)
    env = {**os.environ, "DATABASE_URL": url, "TRACKER_DB_URL": f"sqlite:///{tmp_path / 'tracker.db'}",
           "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-m", "analytics.demo_data", "--cases", "400"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    engine = create_engine(url)
    seen_any = False
    with engine.connect() as conn:
        for (table, column), vocabulary in TABLE_STATUSES.items():
            found = {row[0] for row in conn.execute(text(f"SELECT DISTINCT {column} FROM {table}"))}
            seen_any |= bool(found)
            assert found <= set(vocabulary.values()), (table, found - set(vocabulary.values()))
    assert seen_any


def test_members_are_their_strings() -> None:
    from bot.core.vocabulary import CaseStatus

    assert CaseStatus.CANCELLED == "cancelled" and str(CaseStatus.CANCELLED) == "cancelled"
    assert f"{CaseStatus.HANDED_OFF}" == "handed_off" and CaseStatus("retained") is CaseStatus.RETAINED
