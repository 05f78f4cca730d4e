"""Issue 19: an anonymous visitor is verified only by a code texted to the phone on file, and
nobody who knows a customer number can lock its owner out of every way in.

Real SQLite, the real action (``action_verify_identity``), the real demo phone of ``make run``
(``SMS_DEMO_PHONE=1``, ``bot.messaging.demo_phone``) and the real ``twilio`` library against the
loopback stand-in; nothing under test is mocked.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker

from bot.core.customers import find_customer
from bot.core.process import load_policy
from bot.storage.db import session_factory
from tests.support.verify_action import run_verify

TWILIO_VARIABLES = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_NUMBER", "TWILIO_API_BASE_URL")
WRONG_POSTCODES = ["28013", "08002", "46001", "41001", "50001", "29001", "48001", "15001", "07001",
                   "35001", "11111", "22222"]


def customer(db_url: str, ref: str) -> Any:
    with session_factory(db_url)() as session:
        return find_customer(session, ref=ref)


@pytest.fixture
def no_sms(monkeypatch: pytest.MonkeyPatch, db_url: str) -> str:
    """Neither Twilio nor the demo phone: no SMS can be sent (e.g. the website started on its own)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    for name in (*TWILIO_VARIABLES, "SMS_DEMO_PHONE", "VERIFY_ONE_TIME_CODE"):
        monkeypatch.delenv(name, raising=False)
    load_policy.cache_clear()
    yield db_url
    load_policy.cache_clear()


@pytest.fixture
def demo_phone(monkeypatch: pytest.MonkeyPatch, db_url: str, tmp_path: Path) -> str:
    """``make run`` without Twilio: codes go to the demo phone."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    for name in (*TWILIO_VARIABLES, "VERIFY_ONE_TIME_CODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SMS_DEMO_PHONE", "1")
    monkeypatch.setenv("DEMO_PHONE_PATH", str(tmp_path / "demo_phone.db"))
    load_policy.cache_clear()
    yield db_url
    load_policy.cache_clear()


def texted_code(phone: str) -> str:
    from bot.messaging import demo_phone

    latest = demo_phone.texts_to([phone], limit=1)
    assert latest, f"no text reached {phone}"
    return re.search(r"\b(\d{6})\b", latest[0].body).group(1)


# --- 1. no SMS, no verification ---------------------------------------------------------------


@pytest.mark.parametrize("channel", ["rest", "web"])
def test_without_sms_the_right_postcode_does_not_verify(no_sms: str, channel: str) -> None:
    """The finding: with no Twilio and no demo phone, customer number + the right postcode (one
    of ten in the seeded data) verified an anonymous visitor. Now they are sent another way."""
    lucia = customer(no_sms, "C00001")
    said, slots = run_verify(f"{channel}-nosms", "verify_ref", "C00001", None, f"{channel}:203.0.113.40",
                      channel)
    if said == ["utter_ask_verify_postcode"]:  # the number may be asked for; never enough
        said, slots = run_verify(f"{channel}-nosms", "verify_postcode", lucia.postcode, "C00001",
                          f"{channel}:203.0.113.40", channel)
    assert slots.get("verified") is not True and slots.get("customer_id") is None
    assert said == ["utter_verify_code_unavailable"], said
    assert slots["retention_stage"] is None


def test_without_sms_an_unknown_sms_number_is_not_verified_by_postcode(no_sms: str) -> None:
    """An SMS from a number that is on no account is as anonymous as a web visitor."""
    lucia = customer(no_sms, "C00001")
    said, slots = run_verify("sms-+34600000999", "verify_postcode", lucia.postcode, "C00001",
                      "twilio:+34600000999", "twilio")
    assert slots.get("verified") is not True and said == ["utter_verify_code_unavailable"]


def test_make_runs_demo_phone_still_verifies_with_the_code(demo_phone: str) -> None:
    lucia = customer(demo_phone, "C00001")
    said, _ = run_verify("rest-demo", "verify_ref", "C00001", None, "rest:203.0.113.41")
    assert said == ["utter_ask_verify_postcode"]
    said, slots = run_verify("rest-demo", "verify_postcode", lucia.postcode, "C00001", "rest:203.0.113.41")
    assert said == ["utter_verify_code_sent"] and slots.get("verified") is not True
    said, slots = run_verify("rest-demo", "verify_code", texted_code(lucia.phone), "C00001",
                      "rest:203.0.113.41")
    assert said[0] == "utter_verified" and slots["verified"] is True
    assert slots["customer_id"] == lucia.id


@pytest.mark.parametrize("mode", ["when_sms_configured", "never"])
def test_the_postcode_only_modes_are_refused_naming_file_and_entry(tmp_path: Path, mode: str) -> None:
    from bot.core.process import DEFAULT_POLICY, ConfigError, parse_policy, read_yaml

    raw = read_yaml(DEFAULT_POLICY)
    raw["verification"]["one_time_code"] = mode
    with pytest.raises(ConfigError) as error:
        parse_policy(raw, tmp_path / "retention.yml")
    assert "retention.yml" in str(error.value) and "verification.one_time_code" in str(error.value)
    assert "guessable" in str(error.value)


# --- 2. an attacker's failures lock guessing, not the customer ---------------------------------


def lock_the_number(ref: str, postcode: str, sources: int = 5) -> list[list[str]]:
    """An attacker who knows only the customer number: wrong postcodes from rotating addresses,
    a new conversation each time, until the number is locked."""
    wrong = [p for p in WRONG_POSTCODES if p != postcode]
    return [run_verify(f"rest-attack-{i}", "verify_postcode", wrong[i], ref, f"rest:198.51.100.{i}")[0]
            for i in range(sources)]


def test_an_attackers_failures_do_not_stop_the_owner_typing_the_texted_code(demo_phone: str) -> None:
    """The owner got the code on their phone; meanwhile someone locks the number with wrong
    postcodes. The code still lets the owner in (before: "verification paused for 30 minutes")."""
    lucia = customer(demo_phone, "C00001")
    said, _ = run_verify("web-anon-owner", "verify_postcode", lucia.postcode, "C00001", "web:192.0.2.10", "web")
    assert said == ["utter_verify_code_sent"]
    lock_the_number("C00001", lucia.postcode)
    said, _ = run_verify("rest-attack-late", "verify_postcode", lucia.postcode, "C00001", "rest:198.51.100.99")
    assert said == ["utter_verify_locked"], "the number is locked for postcode answers"
    said, slots = run_verify("web-anon-owner", "verify_code", texted_code(lucia.phone), "C00001",
                      "web:192.0.2.10", "web")
    assert said[0] == "utter_verified" and slots["verified"] is True and slots["customer_id"] == lucia.id


def test_while_the_number_is_locked_the_promised_ways_in_work_and_a_cancellation_goes_through(
        demo_phone: str) -> None:
    """utter_verify_locked promises the website login and an SMS from the customer's own phone:
    both identify the customer by the channel (a signed chat token, a signed Twilio request from
    the number on file), so the lock does not touch them, and a firm cancellation is processed."""
    from actions.common import conversation_of
    from actions.session import identity_slots
    from bot.channels import issue_web_token
    from bot.channels.twilio_common import server_metadata
    from bot.channels.web import build_metadata, identity_from_handshake
    from bot.core.retention import RetentionService

    lucia = customer(demo_phone, "C00001")
    assert all(said for said in lock_the_number("C00001", lucia.postcode))
    said, _ = run_verify("rest-locked-owner", "verify_ref", "C00001", None, "rest:192.0.2.11")
    assert said == ["utter_verify_locked"]  # the chat check is locked for everyone...

    secret = "a-test-secret-of-32-characters-at-least"
    web = identity_from_handshake({}, {"token": issue_web_token("C00001", secret, 600)}, secret)
    routes = {"web-C00001-s1": build_metadata({}, web),
              f"sms-{lucia.phone}": server_metadata("twilio", lucia.phone, verified=True)}
    for sender, metadata in routes.items():
        slots = identity_slots(metadata)
        tracker = Tracker(sender_id=sender, slots=slots,
                          latest_message={"text": "quiero la baja ya", "metadata": metadata},
                          events=[{"event": "user", "text": "quiero la baja ya, no quiero ofertas"}],
                          paused=False, followup_action=None, active_loop={}, latest_action_name=None)
        conv = conversation_of(tracker)
        assert conv.verified and conv.customer_id == lucia.id, sender  # ...not for these ways in
    with session_factory(demo_phone)() as session:
        RetentionService(session).firm_cancel(conv, pressed=True)
        session.commit()
        assert find_customer(session, ref="C00001").current_subscription.status == "cancelled"


def test_guessing_stays_bounded_per_customer_number_and_per_source(demo_phone: str) -> None:
    """While the number is locked, even the right postcode texts no code (no oracle, no SMS
    bombing); one source is stopped after ten failures whichever numbers it tries."""
    from bot.messaging import demo_phone as phone

    lucia = customer(demo_phone, "C00001")
    lock_the_number("C00001", lucia.postcode)
    said, _ = run_verify("rest-attack-right", "verify_postcode", lucia.postcode, "C00001", "rest:198.51.100.50")
    assert said == ["utter_verify_locked"] and not phone.texts_to([lucia.phone])
    said, _ = run_verify("rest-attack-code", "verify_code", "123456", "C00001", "rest:198.51.100.51")
    assert said == ["utter_verify_locked"], "no code of its own: the attacker's code guesses are refused too"
    refs = ["C00002", "C00003", "C00004", "C00005", "C00006"]
    for i in range(10):  # one address, two wrong postcodes for each of five numbers
        ref = refs[i % 5]
        wrong = next(p for p in WRONG_POSTCODES if p != customer(demo_phone, ref).postcode)
        run_verify(f"rest-one-source-{i}", "verify_postcode", wrong, ref, "rest:203.0.113.200")
    emma = customer(demo_phone, "C00007")
    said, _ = run_verify("rest-one-source-last", "verify_postcode", emma.postcode, "C00007", "rest:203.0.113.200")
    assert said == ["utter_verify_locked"] and not phone.texts_to([emma.phone])
