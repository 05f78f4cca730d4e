"""End-to-end dialogues: real customer texts through the running stack, judged in the database.

Every dialogue of ``tests/dialogues/tuning`` and ``tests/dialogues/heldout`` (README there) is
sent over its channel (REST, the signed website socket, signed Twilio SMS and voice) to the
whole product; the account's final state must match the outcome the customer wanted, and every
reply must be in the customer's language. A summary (outcome accuracy, wrongful and obstructed
cancellations, per part) is written to ``results/dialogues.json`` for docs/benchmarks.md.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.dialogue_runner import (
    TIMES,
    Accounts,
    Dialogue,
    LanguageJudge,
    judge,
    language_problems,
    link_problems,
    load_dialogues,
    run_dialogue,
)

pytestmark = pytest.mark.e2e
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PARTS = ("tuning", "heldout")
DIALOGUES = [(part, d) for part in PARTS for d in load_dialogues(part)]
RESULTS: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module")
def dialogue_stack(request: pytest.FixtureRequest) -> Iterator[tuple[Any, Any, Accounts]]:
    """The whole product with the Twilio channels, its clock fixed in or out of office hours."""
    from tests.support.stack import Stack, find_model
    from tests.support.twilio_standin import (
        AGENT_NUMBER,
        PUBLIC_BASE_URL,
        TWILIO_CREDENTIALS,
        TWILIO_NUMBER,
        TwilioApiStandIn,
        TwilioWebhookCaller,
    )

    model = find_model()
    if model is None:
        pytest.fail("no trained model under models/: run make train first", pytrace=False)
    token = secrets.token_hex(16)
    sms_api = TwilioApiStandIn(account_sid="AC" + uuid.uuid4().hex, auth_token=token)
    env = {"TWILIO_AUTH_TOKEN": token, "TWILIO_ACCOUNT_SID": sms_api.account_sid,
           "TWILIO_NUMBER": TWILIO_NUMBER, "TWILIO_AGENT_NUMBER": AGENT_NUMBER,
           "TWILIO_API_BASE_URL": sms_api.base_url,  # outbound SMS (one-time codes) land here
           "PUBLIC_BASE_URL": PUBLIC_BASE_URL, "RETENTION_NOW": TIMES[request.param],
           "RETENTION_HIGH_VALUE_EUR": "70",
           # every dialogue comes from 127.0.0.1 and many use the same personas at one frozen
           # time: the guessing and texted-code limits (tests/core/test_verification_limits.py)
           # would lock the suite out of itself
           "VERIFY_MAX_FAILURES_PER_SOURCE": "1000", "VERIFY_MAX_FAILURES_PER_CUSTOMER": "100",
           "VERIFY_MAX_CODES_PER_CUSTOMER": "100"}
    with sms_api, Stack(model=model, extra_env=env,
                        extra_credentials=TWILIO_CREDENTIALS) as running:
        running.sms_api = sms_api
        caller = TwilioWebhookCaller(running.rasa_url, token, PUBLIC_BASE_URL)
        yield running, caller, Accounts(running.database_url)


@pytest.fixture(scope="module")
def languages() -> LanguageJudge:
    return LanguageJudge(PROJECT_ROOT / "domain.yml")


# Dialogues the product does not get right yet, each with the reason (an open issue says so):
# they run and are counted as failures in results/dialogues.json; strict, so a fixed one must
# leave this list.
KNOWN_FAILURES_FILE = PROJECT_ROOT / "tests" / "dialogues" / "known_failures.yml"
KNOWN_FAILURES: dict[str, str] = (
    yaml.safe_load(KNOWN_FAILURES_FILE.read_text(encoding="utf-8")) or {}
    if KNOWN_FAILURES_FILE.exists() else {})


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dialogue" in metafunc.fixturenames:
        metafunc.parametrize(
            "dialogue_stack,part,dialogue",
            [pytest.param(d.time, part, d, marks=[pytest.mark.xfail(
                reason=KNOWN_FAILURES[d.name], strict=True)] if d.name in KNOWN_FAILURES else [])
             for part, d in DIALOGUES], scope="module",
            ids=[f"{part}:{d.name}" for part, d in DIALOGUES], indirect=["dialogue_stack"])


def test_dialogue(dialogue_stack: tuple[Any, Any, Accounts], part: str, dialogue: Dialogue,
                  languages: LanguageJudge) -> None:
    stack, caller, accounts = dialogue_stack
    accounts.reset(dialogue.customer)
    transcript = run_dialogue(stack, caller, dialogue, accounts.phone(dialogue.customer))
    state = accounts.state(dialogue.customer, transcript.sender)
    problems = judge(dialogue, state, accounts.seeded_plan(dialogue.customer))
    lang = language_problems(transcript, languages) + link_problems(transcript)
    _record(part, dialogue, state, problems, lang)
    assert not problems and not lang, (
        "\n".join(problems + lang) + "\n" + transcript.render() + f"\nstate: {state}")


def _record(part: str, dialogue: Dialogue, state: Any, problems: list[str], lang: list[str]) -> None:
    summary = RESULTS.setdefault(part, {"dialogues": 0, "right": 0, "wrongful_cancellations": 0,
                                        "obstructed_cancellations": 0, "wrong_language": 0,
                                        "failed": []})
    summary["dialogues"] += 1
    cancelled = state.subscription_status == "cancelled"
    if dialogue.outcome != "cancelled" and cancelled:
        summary["wrongful_cancellations"] += 1
    if dialogue.outcome == "cancelled" and not cancelled:
        summary["obstructed_cancellations"] += 1
    if lang:
        summary["wrong_language"] += 1
    if problems or lang:
        summary["failed"].append(dialogue.name)
    else:
        summary["right"] += 1
    out = PROJECT_ROOT / "results"
    out.mkdir(exist_ok=True)
    (out / "dialogues.json").write_text(json.dumps(RESULTS, indent=2), encoding="utf-8")
