"""Issue 19: an anonymous visitor is verified only by a code texted to the phone on file, and
nobody who knows a customer number can lock its owner out of every way in.

Real SQLite, the real action (``action_verify_identity``), the real demo phone of ``make run``
(``SMS_DEMO_PHONE=1``, ``bot.messaging.demo_phone``) and the real ``twilio`` library against the
loopback stand-in; nothing under test is mocked.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.verify import ActionVerifyIdentity
from bot.core.customers import find_customer
from bot.core.process import load_policy
from bot.storage.db import session_factory

TWILIO_VARIABLES = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_NUMBER", "TWILIO_API_BASE_URL")
WRONG_POSTCODES = ["28013", "08002", "46001", "41001", "50001", "29001", "48001", "15001", "07001",
                   "35001", "11111", "22222"]


def customer(db_url: str, ref: str) -> Any:
    with session_factory(db_url)() as session:
        return find_customer(session, ref=ref)


def say(sender: str, stage: str, text: str, ref: str | None, source: str,
        channel: str = "rest") -> tuple[list[str], dict[str, Any]]:
    """One answer of an anonymous visitor, as the REST or web channel hands it to the action."""
    tracker = Tracker(
        sender_id=sender, slots={"language": "es", "retention_stage": stage, "verify_ref": ref,
                                 "verify_attempts": 0.0},
        latest_message={"text": text, "intent": {"name": "nlu_fallback", "confidence": 0.3},
                        "metadata": {"channel": channel, "source": source}},
        events=[{"event": "user", "text": "quiero darme de baja"}, {"event": "user", "text": text}],
        paused=False, followup_action=None, active_loop={}, latest_action_name=None)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionVerifyIdentity().run(dispatcher, tracker, {}))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return [m.get("response") or "" for m in dispatcher.messages], slots


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
    said, slots = say(f"{channel}-nosms", "verify_ref", "C00001", None, f"{channel}:203.0.113.40",
                      channel)
    if said == ["utter_ask_verify_postcode"]:  # the number may be asked for; never enough
        said, slots = say(f"{channel}-nosms", "verify_postcode", lucia.postcode, "C00001",
                          f"{channel}:203.0.113.40", channel)
    assert slots.get("verified") is not True and slots.get("customer_id") is None
    assert said == ["utter_verify_code_unavailable"], said
    assert slots["retention_stage"] is None


def test_without_sms_an_unknown_sms_number_is_not_verified_by_postcode(no_sms: str) -> None:
    """An SMS from a number that is on no account is as anonymous as a web visitor."""
    lucia = customer(no_sms, "C00001")
    said, slots = say("sms-+34600000999", "verify_postcode", lucia.postcode, "C00001",
                      "twilio:+34600000999", "twilio")
    assert slots.get("verified") is not True and said == ["utter_verify_code_unavailable"]


def test_make_runs_demo_phone_still_verifies_with_the_code(demo_phone: str) -> None:
    lucia = customer(demo_phone, "C00001")
    said, _ = say("rest-demo", "verify_ref", "C00001", None, "rest:203.0.113.41")
    assert said == ["utter_ask_verify_postcode"]
    said, slots = say("rest-demo", "verify_postcode", lucia.postcode, "C00001", "rest:203.0.113.41")
    assert said == ["utter_verify_code_sent"] and slots.get("verified") is not True
    said, slots = say("rest-demo", "verify_code", texted_code(lucia.phone), "C00001",
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
