"""Guessing a customer's identity: limits across conversations, lock-out, and the texted code.

The probe verified an account in 30 requests / 2 s by starting a new conversation after every
three wrong postcodes (the seeded data has ten distinct postcodes). These tests replay that
attack on a real SQLite database through the real action (``action_verify_identity``) and the
real ``twilio`` library against a loopback stand-in.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Iterator

import pytest

from bot.core.customers import find_customer
from bot.core.process import VerificationPolicy, load_policy
from bot.core.verification import Attempt, answer
from bot.storage.db import session_factory
from tests.support.twilio_standin import TwilioApiStandIn, send_sms_through
from tests.support.verify_action import run_verify

POLICY = VerificationPolicy(max_failures_per_customer=5, max_failures_per_source=10,
                            window=timedelta(minutes=30), lockout=timedelta(minutes=30),
                            one_time_code="always", code_ttl=timedelta(minutes=10),
                            code_max_attempts=3)
T0 = datetime(2026, 11, 25, 11, 0)
POSTCODES = ["28013", "08002", "46001", "41001", "50001", "29001", "48001", "15001", "07001",
             "35001"]


def customer(db_url: str, ref: str) -> Any:
    with session_factory(db_url)() as session:
        return find_customer(session, ref=ref)


def guess(db_url: str, ref: str, postcode: str, source: str, conversation: str,
          now: datetime) -> Any:
    with session_factory(db_url)() as session:
        who = Attempt(source=source, conversation_id=conversation)
        step = answer(session, "verify_postcode", postcode, ref, 0, who, POLICY, now)
        session.commit()
        return step


def test_new_conversations_do_not_reset_the_guesses_of_one_source(db_url: str) -> None:
    """Every postcode tried from one address, a new conversation each time: the right one no
    longer verifies once the address has failed ten times."""
    target = customer(db_url, "C00005")
    wrong = [p for p in POSTCODES if p != target.postcode]
    for i, postcode in enumerate(wrong[:10]):
        step = guess(db_url, "C00005", postcode, "rest:203.0.113.9", f"rest-probe-{i}",
                     T0 + timedelta(seconds=i))
        assert step.customer_id is None
    step = guess(db_url, "C00005", target.postcode, "rest:203.0.113.9", "rest-probe-last",
                 T0 + timedelta(seconds=11))
    assert step.customer_id is None and step.responses == ["utter_verify_locked"]
    assert step.params["minutes"] == 30


def test_one_customer_number_is_locked_whatever_the_source(db_url: str) -> None:
    """Rotating addresses does not help: five wrong postcodes for one number lock that number,
    and postcode answers for it are taken again (a code is texted) once the lock-out has passed."""
    target = customer(db_url, "C00003")
    wrong = [p for p in POSTCODES if p != target.postcode]
    for i, postcode in enumerate(wrong[:5]):
        guess(db_url, "C00003", postcode, f"rest:198.51.100.{i}", f"rest-rot-{i}",
              T0 + timedelta(seconds=i))
    locked = guess(db_url, "C00003", target.postcode, "web:192.0.2.77", "web-anon-x",
                   T0 + timedelta(minutes=5))
    assert locked.customer_id is None and locked.responses == ["utter_verify_locked"]
    other = guess(db_url, "C00002", customer(db_url, "C00002").postcode, "web:192.0.2.77",
                  "web-anon-y", T0 + timedelta(minutes=5))
    assert other.code is not None, "another customer's number is not locked"
    later = guess(db_url, "C00003", target.postcode, "web:192.0.2.77", "web-anon-z",
                  T0 + timedelta(minutes=36))
    assert later.code is not None and later.responses == ["utter_verify_code_sent"]


def test_right_postcode_then_texted_code_verifies(db_url: str) -> None:
    john = customer(db_url, "C00002")
    first = guess(db_url, "C00002", john.postcode, "rest:203.0.113.5", "rest-otp", T0)
    assert first.customer_id is None and first.stage == "verify_code"
    assert first.code and re.fullmatch(r"\d{6}", first.code) and first.code_customer_id == john.id
    with session_factory(db_url)() as session:
        who = Attempt(source="rest:203.0.113.5", conversation_id="rest-otp")
        wrong = answer(session, "verify_code", "123456" if first.code != "123456" else "654321",
                       "C00002", 0, who, POLICY, T0 + timedelta(minutes=1))
        assert wrong.customer_id is None and wrong.responses == ["utter_verify_code_wrong"]
        other = Attempt(source="rest:203.0.113.5", conversation_id="rest-other")
        elsewhere = answer(session, "verify_code", first.code, "C00002", 0, other, POLICY,
                           T0 + timedelta(minutes=1))
        assert elsewhere.customer_id is None, "a code works only in its own conversation"
        spoken = " ".join(first.code)
        ok = answer(session, "verify_code", f"es el {spoken}", "C00002", 1, who, POLICY,
                    T0 + timedelta(minutes=2))
        assert ok.customer_id == john.id
        again = answer(session, "verify_code", first.code, "C00002", 1, who, POLICY,
                       T0 + timedelta(minutes=3))
        assert again.customer_id is None, "a code works once"


def test_an_answer_without_digits_to_the_postcode_question_is_asked_again_not_counted(db_url: str) -> None:
    """Walk finding: "vale, pero ¿qué tengo que hacer?" to "¿y el código postal?" got "those
    details match no account" and the customer number was asked again, as a failed guess."""
    john = customer(db_url, "C00002")
    for i, text in enumerate(["vale, pero ¿qué tengo que hacer?", "no me lo sé", "what do you mean?"]):
        step = guess(db_url, "C00002", text, "rest:203.0.113.7", "rest-unsure", T0 + timedelta(seconds=i))
        assert step.responses == ["utter_verify_postcode_format"] and step.stage == "verify_postcode"
        assert step.attempts == 0 and step.ref == "C00002"
    wrong = guess(db_url, "C00002", "99999", "rest:203.0.113.7", "rest-unsure", T0 + timedelta(seconds=5))
    assert wrong.responses == ["utter_verify_failed_retry", "utter_ask_verify_ref"]  # a guess is one
    right = guess(db_url, "C00002", f"es el {john.postcode}", "rest:203.0.113.7", "rest-unsure",
                  T0 + timedelta(seconds=6))
    assert right.stage == "verify_code"


def test_codes_texted_to_one_customer_are_capped_whoever_asks(db_url: str) -> None:
    """Whoever knows a customer number and postcode cannot flood that phone: after three codes in
    the window no fourth is texted, from any address, until the window has passed."""
    john = customer(db_url, "C00002")
    sent = [guess(db_url, "C00002", john.postcode, f"rest:198.51.100.{i}", f"rest-bomb-{i}",
                  T0 + timedelta(minutes=i)) for i in range(3)]
    assert all(step.code for step in sent)
    fourth = guess(db_url, "C00002", john.postcode, "web:192.0.2.50", "web-anon-bomb",
                   T0 + timedelta(minutes=4))
    assert fourth.code is None and fourth.customer_id is None
    assert fourth.responses == ["utter_verify_code_limit"] and fourth.params["minutes"] == 26
    later = guess(db_url, "C00002", john.postcode, "web:192.0.2.50", "web-anon-bomb-2",
                  T0 + timedelta(minutes=31))
    assert later.code is not None, "the customer can get a code again after the window"


def test_an_expired_code_starts_over(db_url: str) -> None:
    john = customer(db_url, "C00002")
    first = guess(db_url, "C00002", john.postcode, "rest:203.0.113.6", "rest-late", T0)
    with session_factory(db_url)() as session:
        who = Attempt(source="rest:203.0.113.6", conversation_id="rest-late")
        late = answer(session, "verify_code", first.code, "C00002", 0, who, POLICY,
                      T0 + timedelta(minutes=11))
    assert late.customer_id is None and late.stage == "verify_ref"
    assert late.responses[0] == "utter_verify_code_expired"


# --- the action, with the code texted through the real twilio library -----------------------


@pytest.fixture
def texting(monkeypatch: pytest.MonkeyPatch, db_url: str) -> Iterator[TwilioApiStandIn]:
    with TwilioApiStandIn() as standin:
        monkeypatch.setenv("DATABASE_URL", db_url)
        send_sms_through(standin, monkeypatch)
        load_policy.cache_clear()
        yield standin
    load_policy.cache_clear()


def test_the_action_texts_the_code_to_the_number_on_file(texting: TwilioApiStandIn,
                                                         db_url: str) -> None:
    john = customer(db_url, "C00002")
    said, slots = run_verify("rest-otp-action", "verify_postcode", john.postcode, "C00002")
    assert said == ["utter_verify_code_sent"] and slots["retention_stage"] == "verify_code"
    assert slots.get("verified") is not True
    [sms] = texting.messages
    assert sms["To"] == john.phone
    code = re.search(r"\b(\d{6})\b", sms["Body"]).group(1)
    said, slots = run_verify("rest-otp-action", "verify_code", code, "C00002")
    assert said[0] == "utter_verified" and slots["verified"] is True
    assert slots["customer_id"] == john.id


def test_no_code_can_be_sent_means_no_verification(texting: TwilioApiStandIn,
                                                   db_url: str) -> None:
    john = customer(db_url, "C00002")
    texting.fail_number(john.phone, 400, 21610, "Attempt to send to unsubscribed recipient")
    said, slots = run_verify("rest-otp-fail", "verify_postcode", john.postcode, "C00002")
    assert said == ["utter_verify_code_unavailable"]
    assert slots.get("verified") is not True and slots["retention_stage"] is None
