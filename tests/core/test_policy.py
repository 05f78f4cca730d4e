"""data/retention.yml: validation errors name the file and entry; the holdout is stable."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config.errors import ConfigError
from bot.core.conversation import Conversation
from bot.core.process import DEFAULT_POLICY, load_policy, parse_policy
from bot.core.retention import RetentionService
from bot.storage.models import RetentionCase


def raw() -> dict:
    return yaml.safe_load(DEFAULT_POLICY.read_text())


def test_shipped_policy_is_valid() -> None:
    policy = load_policy()
    assert set(policy.cold.cooldown_days) >= {"price", "billing_error", "other"}
    assert "billing_error" in policy.cold.requires_problem_solved


@pytest.mark.parametrize("mutate,entry", [
    (lambda d: d["holdout"].update(share=0.9), "holdout.share"),
    (lambda d: d["cold"]["cooldown_days"].update(moon="3"), "cold.cooldown_days.moon"),
    (lambda d: d["cold"]["cooldown_days"].pop("price"), "cold.cooldown_days"),
    (lambda d: d["cold"]["quiet_hours"].update(start="late"), "cold.quiet_hours.start"),
    (lambda d: d["handoff"]["office_hours"].update(timezone="Mars/Base"), "handoff.office_hours.timezone"),
    (lambda d: d["handoff"]["office_hours"].update(days=["someday"]), "handoff.office_hours.days"),
    (lambda d: d.pop("cold"), "cold"),
    (lambda d: d["cancellation"].update(confirm_first_request_below=1.5),
     "cancellation.confirm_first_request_below"),
    (lambda d: d["cancellation"].update(confirm_first_request_below="always"),
     "cancellation.confirm_first_request_below"),
    (lambda d: d.update(cancellation=["ask"]), "cancellation"),
    (lambda d: d["cases"].update(abandon_after_hours=0), "cases.abandon_after_hours"),
    (lambda d: d.update(cases="daily"), "cases"),
])
def test_invalid_policy_names_file_and_entry(tmp_path: Path, mutate, entry: str) -> None:  # noqa: ANN001
    data = raw()
    mutate(data)
    path = tmp_path / "retention.yml"
    with pytest.raises(ConfigError) as err:
        parse_policy(data, path)
    assert "retention.yml" in str(err.value) and entry in str(err.value)


def test_first_cancel_confirmation_defaults_to_asking_for_any_typed_request() -> None:
    assert load_policy().confirm_first_cancel_below == 1.0
    data = raw()
    data.pop("cancellation")
    assert parse_policy(data).confirm_first_cancel_below == 1.0
    data["cancellation"] = {"confirm_first_request_below": 0.7}
    assert parse_policy(data).confirm_first_cancel_below == 0.7


def test_holdout_share_is_respected_and_stable() -> None:
    policy = replace(load_policy(), holdout_share=0.2)
    ids = [f"conv-{i}" for i in range(5000)]
    share = sum(policy.in_holdout(i) for i in ids) / len(ids)
    assert 0.18 < share < 0.22
    assert [policy.in_holdout(i) for i in ids[:50]] == [policy.in_holdout(i) for i in ids[:50]]


def test_holdout_case_gets_no_offer(db_session: Session) -> None:
    policy = replace(load_policy(), holdout_share=0.5)
    conv_id = next(f"c{i}" for i in range(100) if policy.in_holdout(f"c{i}"))
    svc = RetentionService(db_session, today=date(2026, 11, 23), policy=policy)
    from bot.core.customers import find_customer

    lucia = find_customer(db_session, ref="C00001")
    turn = svc.start(Conversation(conv_id, customer_id=lucia.id, verified=True), reason="price", verbatim="caro")
    assert turn.stage == "confirm_cancel" and turn.replies[-1].response == "utter_no_offer"
    case = db_session.scalar(select(RetentionCase))
    assert case.holdout and case.offers == []
