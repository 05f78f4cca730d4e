"""Property-based fuzzing (hypothesis) of every entry point of the running product.

Entry points and what must hold for any input:

* REST ``POST /webhooks/rest/webhook``: any body (objects with values of the
  wrong type, lone surrogates, control characters, digits of every script, very long strings, huge
  numbers, deep nesting, bytes that are not JSON or not UTF-8) gets a status below 500; a 200 is a
  JSON list whose texts carry no traceback or ``Error:``; an anonymous sender is never bound to a
  customer (tracker slots) and never shown any customer's last name, phone number or e-mail;
* socket.io at Rasa's ``/socket.io`` (engine.io v4 long-polling spoken by hand, so that any packet
  can be sent): a handshake with any query string and any ``auth`` is accepted exactly when it
  carries no token or a token the server signed, and refused otherwise, never a crash; messages
  with any ``message`` / ``session_id`` / ``customData`` crash nothing, a usable text gets an
  answer, and no other customer's data reaches the connection;
* Twilio SMS and voice webhooks: signed requests with any Body, From,
  SpeechResult, Digits, CallSid, query string and extra parameters get a 200 with TwiML that parses
  (every URL in it on ``PUBLIC_BASE_URL``), unsigned or forged ones a 403;
* the dashboard (analytics/app.py through Flask's test client): the login with any user name,
  password, CSRF token and ``next`` gives no 5xx and never redirects off-site; pages, exports and
  transcripts with any filter give no 5xx; ``/_dash-update-component`` with any body and CSRF header
  gives no 5xx, and an agent never sees a phone number or e-mail; the agent desk
  (``/agent/conversations/<id>/reply|resume``) gives no 5xx but its documented 502 (no assistant runs
  behind it here);
* the website (``bot.website.app``, in demo mode as tests/support/stack.py starts it): ``/?customer=``,
  ``/plan/<token>`` and any other path with any value give no 5xx and no traceback, a plan page only
  for a real token, a signed chat token only for a demo persona (none at all outside demo mode), and
  no customer on the page but the personas of the log-in selector.

Every entry point but the dashboard is fuzzed on the shared Twilio test stack (``fuzz_stack``), none
on the session ``stack`` (its Rasa log is checked for tracebacks elsewhere); the module starts no
stack of its own. After each fuzzed entry point every process of the stack must still run and still
answer a plain "hola". Bounded for ``make test``: a few dozen examples per entry point, short
conversations, and at most ``FUZZ_SHRINK_SECONDS`` (30) of shrinking per failing property.
``FUZZ_EXAMPLES_SCALE=10`` runs ten times as many examples; the examples are the same on every run
(derandomized) unless ``FUZZ_RANDOM=1``; ``FUZZ_STATS=1`` prints what the examples did (with ``-s``).

Fuzz traffic is kept away from the state other tests rely on: REST requests come from 127.0.0.2 (the
identity check limits wrong answers per source address); every socket.io conversation gets one
message only (python-engineio's Sanic driver gives every socket.io client the address 127.0.0.1, so
wrong answers there would count for every visitor); fuzzed conversation ids are prefixed ``fz-`` or
made unique; Twilio senders are never a seeded customer's number or one another test uses; the only
customer numbers in fuzzed texts belong to customers no other test uses (C00296-C00298).
"""

from __future__ import annotations

import collections
import contextlib
import html
import http.client
import itertools
import json
import operator
import os
import re
import socket
import sqlite3
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import jwt
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from bot.channels import issue_web_token
from tests.support.stack import Stack
from tests.support.twilio_standin import (
    AGENT_NUMBER,
    PUBLIC_BASE_URL,
    SMS_WEBHOOK,
    TWILIO_NUMBER,
    VOICE_WEBHOOK,
    TwilioStack,
    call_params,
    shared_twilio_stack,
    sms_params,
)

# ============================================================================ settings

SCALE = float(os.environ.get("FUZZ_EXAMPLES_SCALE", "1") or "1")
# Shrinking a failure of a slow entry point could take hypothesis' default five minutes per property:
# bounded here (FUZZ_SHRINK_SECONDS) so that a failing run of ``make test`` still ends in time.
with contextlib.suppress(ImportError, AttributeError):
    from hypothesis.internal.conjecture import engine as _engine

    _engine.MAX_SHRINKING_SECONDS = int(os.environ.get("FUZZ_SHRINK_SECONDS", "30") or "30")
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=max(1, round(examples * SCALE)), deadline=None, database=None,
        derandomize=not RANDOM, print_blob=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large, HealthCheck.large_base_example,
                               HealthCheck.filter_too_much])


FUZZ_SOURCE = "127.0.0.2"  # the fuzz's own client address (the loopback is all of 127/8)
AUTH_REF = "C00297"  # the customer a signed fuzz socket.io connection is (no other test uses it)
PLAN_REF = "C00298"  # the customer of the action plan the website fuzz looks for
FUZZ_REF, FUZZ_PHONE = "C00296", "+447700900295"  # the only customer named in fuzzed texts
PERSONAS = tuple(f"C{i:05d}" for i in range(1, 8))  # bot.website.chat_page.DEMO_PERSONA_REFS
TRACEBACK = re.compile(r"Traceback|File \"[^\"]+\.py\", line \d+")
JWT_RE = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+")
PHONE_RE = re.compile(r"\+447700900\d{3}")
EMAIL_RE = re.compile(r"[\w.]+\.\d+@example\.com")
TEST_NUMBERS = frozenset({AGENT_NUMBER, TWILIO_NUMBER, "+15005550009", "+15005550006"})
UNSAFE_CHARS = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")
_serial = itertools.count(1)
STATS: collections.Counter[str] = collections.Counter()


def seen(label: str) -> None:
    """Tell hypothesis (``event``) and ``FUZZ_STATS=1`` (printed by :func:`print_stats`) what an example did."""
    event(label)
    STATS[label] += 1


def print_stats(name: str) -> None:
    if os.environ.get("FUZZ_STATS") == "1":
        print(f"\n{name}: " + ", ".join(f"{k}: {v}" for k, v in sorted(STATS.items())))
    STATS.clear()


def fresh(prefix: str) -> str:
    return f"{prefix}{next(_serial)}{uuid.uuid4().hex[:10]}"


def short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit // 2]}...<{len(text)} chars>...{text[-limit // 4:]}"


# ============================================================================ HTTP by hand


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"Reply({self.status}, {short(self.text, 600)})"


def request_raw(base_url: str, method: str, target: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, *, source: str = FUZZ_SOURCE,
                timeout: float = 90.0) -> Reply:
    """One HTTP request exactly as given (``target`` is the raw path and query), from ``source``."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def enc(value: str) -> str:
    """Percent-encoding of any string; a lone surrogate becomes the bytes a careless client sends."""
    return quote(value, safe="", errors="surrogatepass")


def urlencoded(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{quote_plus(k, errors='surrogatepass')}={quote_plus(v, errors='surrogatepass')}"
                    for k, v in pairs)


class Form(dict[str, list[str]]):
    """A form as the server parses it (``getlist`` is what Twilio's ``RequestValidator`` reads)."""

    @classmethod
    def parse(cls, body: str) -> Form:
        return cls(parse_qs(body, keep_blank_values=True))

    def getlist(self, name: str) -> list[str]:
        return list(self.get(name, []))

    def first(self, name: str) -> str | None:
        values = self.get(name)
        return values[0] if values else None


# ============================================================================ what must never show


@dataclass(frozen=True)
class Person:
    id: int
    ref: str
    first_name: str
    last_name: str
    phone: str | None
    email: str


def people_of(database_url: str) -> list[Person]:
    path = database_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT id, ref, first_name, last_name, phone, email FROM customers").fetchall()
    return [Person(*row) for row in rows]


def leaks(text: str, people: list[Person], *, allowed: frozenset[str] = frozenset(), echoed: str = "") -> list[str]:
    """Which customers' last name, phone or e-mail ``text`` shows (other than ``allowed`` refs and
    anything the request itself contained)."""
    found = []
    theirs = {v for p in people if p.ref in allowed for v in (p.last_name, p.phone, p.email)}
    for person in people:
        if person.ref in allowed:
            continue
        for value in (person.last_name, person.phone, person.email):
            if value and value not in theirs and value not in echoed \
                    and re.search(rf"(?<!\w){re.escape(value)}(?!\w)", text):
                found.append(f"{person.ref}: {value}")
    return found


def assert_no_traceback(text: str, where: str) -> None:
    found = TRACEBACK.search(text)
    assert found is None, f"{where}: a traceback in the reply: {short(text[max(0, found.start() - 200):], 900)}"


def dead_services(stack: Stack) -> list[str]:
    return [f"{s.name} (exit {s.process.poll() if s.process else None})" for s in stack.services
            if s.process is None or s.process.poll() is not None]


def assert_alive(stack: Stack) -> None:
    dead = dead_services(stack)
    assert not dead, f"processes stopped: {dead}\n" + "\n".join(
        f"----- {name} -----\n{stack.logs(name, 60)}" for name in ("rasa", "actions", "web"))


def tracker_slots(stack: Stack, conversation_id: str) -> dict[str, Any] | None:
    """The slots of a conversation through Rasa's HTTP API (None when it cannot be read)."""
    target = f"/conversations/{enc(conversation_id)}/tracker?token={enc(stack.rasa_api_token)}"
    try:
        reply = request_raw(stack.rasa_url, "GET", target, timeout=30)
    except OSError:
        return None
    if reply.status != 200:
        return None
    slots = json.loads(reply.body).get("slots")
    return slots if isinstance(slots, dict) else None


def assert_not_bound(stack: Stack, conversation_id: str, allowed: Person | None = None) -> None:
    """The conversation holds no customer's data (or only ``allowed``'s)."""
    slots = tracker_slots(stack, conversation_id)
    if slots is None:
        return
    bound = {k: slots.get(k) for k in ("customer_id", "customer_ref", "customer_first_name", "verified")}
    if allowed is None:
        assert bound["customer_id"] is None and bound["customer_first_name"] is None \
            and bound["verified"] is not True, f"{conversation_id!r} got a customer: {bound}"
    else:
        assert bound["customer_id"] in (None, allowed.id) and bound["customer_ref"] in (None, allowed.ref) \
            and bound["customer_first_name"] in (None, allowed.first_name), \
            f"{conversation_id!r} ({allowed.ref}) got another customer: {bound}"


# ============================================================================ strategies

SURROGATE = st.characters(categories=["Cs"])
ANY_CHAR = st.characters(exclude_categories=()) | SURROGATE
CONTROL = st.characters(max_codepoint=0x1F) | st.sampled_from(
    list("\x7f\x85\xa0\u2028\u2029\u200b\u200e\u202e\ufeff\ufffd"))
NASTY = [
    "", " ", "\t\n", "\x00", "\ud800", "\udfff", "a\ud83d", "\ud83d\ude00", "\ufeff", "\u202e", "😀",
    "/restart", "/session_start", "/cancel_firm", "/affirm", "/greet", "/", "//", "/nlu_fallback",
    '/inform{"customer_ref": "' + FUZZ_REF + '"}', '/affirm{"verified": true, "customer_ref": "' + FUZZ_REF + '"}',
    '/cancel{"churn_reason": "price"}', "/action_session_start", "quiero darme de baja", "I want to cancel",
    "STOP", "START", "HELP", "C99999", FUZZ_REF, "ce nueve nueve nueve nueve nueve", "١٢٣٤٥", "𝟏𝟐𝟑𝟒𝟓𝟔",
    "٠٠٠٠٠٠", "${jndi:ldap://127.0.0.1/a}", "{{7*7}}", "{% raw %}", "<script>alert(1)</script>",
    "</Message><Redirect>https://evil.example/</Redirect>", "]]><x>", "'; DROP TABLE customers; --",
    "%00", "%s%s%s%n", "../../../../etc/passwd", "NaN", "Infinity", "-0", "1e309", "9" * 400, "null",
    "true", "[]", "{}", "\\u0000", "https://evil.example/", "javascript:alert(1)", FUZZ_PHONE,
]
LONG_PIECES = ["a", "á", "😀", "\ud800", "\x00", "hola ", "C99999 ", "\u0301", "ab\ncd "]

any_text = st.text(ANY_CHAR, max_size=40)
small_text = st.text(ANY_CHAR, max_size=12) | st.sampled_from(NASTY[:24])
long_text = st.builds(operator.mul, st.sampled_from(LONG_PIECES), st.sampled_from([600, 2_001, 5_000, 40_000]))
texts = st.one_of(
    any_text,
    st.text(CONTROL, max_size=12),
    st.text(st.characters(categories=["Nd", "Nl", "No"]), min_size=1, max_size=12),  # digits of every script
    st.sampled_from(NASTY),
    st.builds(operator.add, st.sampled_from(NASTY), any_text),
    long_text,
)
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(),
    st.sampled_from([2**31, 2**63, -(2**63) - 1, 2**64 + 1, 10**300, -(10**300)]),
    st.floats(), small_text)
json_values = st.recursive(json_leaf, lambda kids: st.lists(kids, max_size=4)
                           | st.dictionaries(small_text, kids, max_size=4), max_leaves=10)
deep_json = st.builds(lambda pair, depth: pair[0] * depth + pair[1] * depth,
                      st.sampled_from([(b"[", b"]"), (b'{"a":', b"}"), (b'{"metadata":', b"}")]),
                      st.sampled_from([64, 1_000, 10_000, 100_000]))
huge_numbers = st.builds(lambda digits, frame: frame[0] + b"9" * digits + frame[1],
                         st.sampled_from([400, 4_301, 20_000]),
                         st.sampled_from([(b"", b""), (b'{"sender": "fz-n", "message": ', b"}"),
                                          (b'{"sender": "fz-n", "message": "hola", "metadata": {"a": ', b"}}")]))
raw_bodies = st.one_of(
    st.binary(max_size=200), deep_json, huge_numbers,
    st.builds(lambda inner: b'{"sender": "fz-deep", "message": "hola", "metadata": ' + inner + b"}", deep_json),
    st.sampled_from([b"", b"{", b'{"sender": "fz-x", "message": "hola"', b"\xff\xfe\x00", b"\xed\xa0\x80",
                     b'{"sender": "fz-x", "message": "\xed\xa0\x80"}', b"null", b"[]", b'"hola"',
                     b'{"message": "hola", "message": 1}', b"\x00" * 64]),
)
FORGED_IDENTITIES = [
    {"customer_ref": FUZZ_REF, "authenticated": True, "channel": "sms", "customer_phone": FUZZ_PHONE,
     "phone_verified": True, "source": f"sms:{FUZZ_PHONE}"},
    {"Customer_Ref": FUZZ_REF, " authenticated ": True, "CUSTOMER_PHONE": FUZZ_PHONE, "Phone_Verified": True},
    {"customer_ref\u0000": FUZZ_REF, "customer_id": 296, "verified": True, "customer_first_name": "X"},
    {"metadata": {"customer_ref": FUZZ_REF, "authenticated": True}},
]
metadatas = st.one_of(json_values, st.sampled_from(FORGED_IDENTITIES),
                      st.builds(lambda forged, extra: {**extra, **forged}, st.sampled_from(FORGED_IDENTITIES),
                                st.dictionaries(small_text, json_values, max_size=3)))
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:@+=-]{1,123}")
senders = st.one_of(
    st.from_regex(r"[A-Za-z0-9_.:@+=-]{1,40}", fullmatch=True), small_text, json_values,
    st.sampled_from(["sms-+447700900001", "voice-CA123", "web-C00001-abc", "rest-", "rest-rest-x", "default",
                     "a" * 123, "a" * 124, "../x", "fz\x00", "\ud800", "fz\n", "fz-x\u0301"]))


def salted(sender: Any) -> Any:
    """A valid client-chosen sender gets the fuzz prefix (no fuzz turn lands in another test's
    conversation); invalid ones are sent as they are."""
    if isinstance(sender, str) and CLIENT_ID.fullmatch(sender) and not sender.startswith(("a" * 100, "sms-")):
        return ("fz-" + sender)[:123]
    return sender


def encoded_json(value: Any, style: str) -> bytes:
    if style == "ascii":
        return json.dumps(value).encode()
    text = json.dumps(value, ensure_ascii=False)
    if style == "utf-8":  # lone surrogates as the (invalid) UTF-8 bytes a careless client writes
        return text.encode("utf-8", "surrogatepass")
    if style == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")  # with a byte-order mark


json_styles = st.sampled_from(["ascii", "ascii", "utf-8", "utf-16", "bom"])
content_types = st.sampled_from(["application/json", "application/json", "application/json; charset=utf-8",
                                 "text/plain", "application/x-www-form-urlencoded",
                                 "multipart/form-data; boundary=fz", "application/json; charset=latin-1", None])


# ============================================================================ fixtures


@pytest.fixture(scope="session")
def twilio_stack() -> Iterator[TwilioStack]:
    yield from shared_twilio_stack()


@pytest.fixture(scope="session")
def fuzz_stack(twilio_stack: TwilioStack) -> Stack:
    """The stack the REST, socket.io and website fuzz runs on: the shared Twilio one. Not the session
    ``stack``: fuzzing makes Rasa log tracebacks (of bugs, and of python-engineio refusing junk), and
    tests/channels/test_rest_security.py checks that stack's log for none."""
    return twilio_stack.stack


@pytest.fixture(scope="session")
def stack_people(fuzz_stack: Stack) -> list[Person]:
    return people_of(fuzz_stack.database_url)


def still_answers_rest(stack: Stack) -> None:
    assert_alive(stack)
    sender = fresh("fz-after-")
    replies = stack.rest(sender, "hola")
    assert replies and all(isinstance(r, dict) for r in replies), replies
    # the tracker check of the properties reads real trackers (it is not silently skipped)
    assert tracker_slots(stack, "rest-" + sender) is not None, "cannot read trackers through Rasa's API"
    assert_alive(stack)


# ============================================================================ REST


@dataclass(frozen=True)
class RestCase:
    body: bytes
    content_type: str | None
    sent: Any = None  # the decoded object, when the body is JSON made here

    def __repr__(self) -> str:
        return f"RestCase(body={short(self.body, 400)}, content_type={self.content_type!r})"


@st.composite
def rest_cases(draw: st.DrawFn) -> RestCase:
    kind = draw(st.sampled_from(["turn"] * 6 + ["value", "raw", "raw", "raw"]))
    content_type = draw(content_types) if draw(st.integers(0, 4)) == 0 else "application/json"
    if kind == "raw":
        return RestCase(draw(raw_bodies), content_type)
    if kind == "value":
        value = draw(json_values)
        return RestCase(encoded_json(value, draw(json_styles)), content_type, value)
    # a turn of a conversation, with some of its parts fuzzed
    obj: dict[str, Any] = {"sender": salted(draw(st.from_regex(r"[A-Za-z0-9_.:@+=-]{1,40}", fullmatch=True))),
                           "message": draw(texts)}
    if draw(st.booleans()):
        obj["metadata"] = draw(metadatas)
    style = "ascii"
    for part in draw(st.lists(st.sampled_from(["sender", "message", "no-sender", "no-message", "extra", "style"]),
                              max_size=2, unique=True)):
        if part == "sender":
            obj["sender"] = salted(draw(senders))
        elif part == "message":
            obj["message"] = draw(json_values)
        elif part.startswith("no-"):
            obj.pop(part[3:], None)
        elif part == "extra":
            obj.update(draw(st.dictionaries(st.sampled_from(["input_channel", "parse_data", "metadata", "sender",
                                                              "message", "customData"]) | small_text,
                                            json_values, min_size=1, max_size=2)))
        else:
            style = draw(json_styles)
    if "sender" in obj:
        obj["sender"] = salted(obj["sender"])
    return RestCase(encoded_json(obj, style), content_type, obj)


def usable(text: Any) -> bool:
    return isinstance(text, str) and bool(UNSAFE_CHARS.sub(" ", text).strip())


def rest_conversation(sender: Any) -> str | None:
    if not isinstance(sender, str) or not CLIENT_ID.fullmatch(sender):
        return None
    return sender if sender.startswith("rest-") else "rest-" + sender


@pytest.mark.e2e
def test_rest_webhook_survives_any_body(fuzz_stack: Stack, stack_people: list[Person]) -> None:
    stack = fuzz_stack

    @fuzz_settings(40)
    @given(case=rest_cases())
    @example(case=RestCase(b"[" * 1000 + b"]" * 1000, "application/json"))  # found by the fuzz: a 500 once
    def rest_property(case: RestCase) -> None:
        headers = {"Content-Type": case.content_type} if case.content_type else {}
        reply = request_raw(stack.rasa_url, "POST", "/webhooks/rest/webhook", case.body, headers)
        seen(f"REST {reply.status}")
        assert reply.status < 500, f"{reply!r}\n----- rasa -----\n{stack.logs('rasa', 40)}"
        assert_no_traceback(reply.text, "REST")
        assert_alive(stack)
        if reply.status != 200:
            return
        replies = json.loads(reply.body)
        assert isinstance(replies, list), reply
        texts_out = [str(r.get("text") or "") for r in replies if isinstance(r, dict)]
        assert len(texts_out) == len(replies), f"a reply that is not an object: {replies!r}"
        for text in texts_out:
            assert "Traceback" not in text and "Error:" not in text, text
        sent = case.sent if isinstance(case.sent, dict) else {}
        echoed = case.body.decode("utf-8", "replace") + json.dumps(sent, ensure_ascii=False, default=str)
        assert not leaks(json.dumps(replies, ensure_ascii=False), stack_people, echoed=echoed), replies
        message = sent.get("message")
        if usable(message) and not str(message).lstrip().startswith("/"):
            assert replies, f"no answer to a message: {reply!r}"
        conversation = rest_conversation(sent.get("sender", "default"))
        if conversation is not None and conversation != "rest-default":
            assert_not_bound(stack, conversation)

    try:
        rest_property()
    finally:
        print_stats('rest_property')
    still_answers_rest(stack)


# ============================================================================ socket.io (engine.io by hand)


POST_TIMEOUT = 10.0  # seconds a socket.io POST may take (the server answers them at once)


class EngineIO:
    """A socket.io client speaking engine.io v4 long-polling by hand, so that any packet can be sent."""

    def __init__(self, base_url: str, query: str = "") -> None:
        self.base_url = base_url
        self.sid: str | None = None
        self.stuck = False  # a poll timed out: the server may still hold it, poll no more
        target = f"/socket.io/?EIO=4&transport=polling&t={fresh('fz')}" + (f"&{query}" if query else "")
        self.opened = request_raw(base_url, "GET", target, timeout=20)
        if self.opened.status == 200 and self.opened.body.startswith(b"0"):
            self.sid = json.loads(self.opened.body[1:])["sid"]

    @property
    def target(self) -> str:
        return f"/socket.io/?EIO=4&transport=polling&sid={enc(self.sid or '')}"

    def post(self, payload: bytes) -> Reply:
        return request_raw(self.base_url, "POST", self.target, payload,
                           {"Content-Type": "text/plain;charset=UTF-8"}, timeout=POST_TIMEOUT)

    def emit(self, event: str, data: Any) -> Reply:
        return self.post(b"42" + json.dumps([event, data]).encode())

    def poll(self, timeout: float) -> list[str] | None:
        """The packets the server has for us (None when none came in ``timeout`` seconds)."""
        if self.stuck or self.sid is None:
            return None
        try:
            reply = request_raw(self.base_url, "GET", self.target, timeout=timeout)
        except (TimeoutError, socket.timeout):
            self.stuck = True
            return None
        assert reply.status < 500, f"socket.io poll: {reply!r}"
        if reply.status != 200:
            self.stuck = True
            return []
        return reply.text.split("\x1e")

    def close(self) -> None:
        if self.sid is not None:
            with contextlib.suppress(OSError):
                self.post(b"1")


def events_in(packets: list[str]) -> list[tuple[str, Any]]:
    found = []
    for pkt in packets:
        if pkt.startswith("42"):
            with contextlib.suppress(ValueError):
                data = json.loads(pkt[2:])
                if isinstance(data, list) and data:
                    found.append((str(data[0]), data[1] if len(data) > 1 else None))
    return found


def web_tokens(secret: str) -> tuple[list[str], list[str]]:
    """Tokens the server must accept, and forged, expired or malformed ones it must refuse."""
    now = int(time.time())
    valid = [issue_web_token(AUTH_REF, secret, 600), issue_web_token("C00001", secret, 600),
             issue_web_token("C99999", secret, 600)]
    forged = [
        issue_web_token(AUTH_REF, "another-secret-" + "x" * 40, 600),
        issue_web_token(AUTH_REF, secret, -60),
        jwt.encode({"sub": AUTH_REF, "exp": now + 600}, secret, algorithm="HS512"),
        jwt.encode({"sub": AUTH_REF, "exp": now + 600}, None, algorithm="none"),
        jwt.encode({"sub": "<script>", "exp": now + 600}, secret, algorithm="HS256"),
        jwt.encode({"sub": 297, "exp": now + 600}, secret, algorithm="HS256"),
        jwt.encode({"sub": AUTH_REF}, secret, algorithm="HS256"),
        jwt.encode({"sub": AUTH_REF, "exp": "tomorrow"}, secret, algorithm="HS256"),
        valid[0][:-2], valid[0] + "x", "x" * 5000, "not-a-jwt", "a.b.c",
    ]
    return valid, forged


def expected_connect(query: str, auth: Any, valid: set[str]) -> str:
    """What the channel must do with this handshake (bot/channels/web.py's docstring)."""
    token: str | None
    if isinstance(auth, dict) and isinstance(auth.get("token"), str) and auth["token"]:
        token = auth["token"]
    else:
        values = set(parse_qs(query).get("token", []))
        if len(values) > 1:
            return "refused"
        token = values.pop() if values else None
    if token is None:
        return "accepted"
    return "accepted" if token in valid else "refused"


NO_AUTH = object()
ENGINEIO_KEYS = ["EIO", "transport", "sid", "t", "j", "b64"]
QUERY_KEYS = st.one_of(st.sampled_from(["token", "token", "Token", "token[]", "customData", "session_id", "lang",
                                        *ENGINEIO_KEYS]), small_text)


def junk_packet(data: Any) -> bool:
    """Junk for the socket: never a usable user message (that would be a turn of a conversation)."""
    return not (isinstance(data, (list, dict)) and "message" in json.dumps(data, default=str))


junk_packets = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda kind, value: kind + json.dumps(value).encode(),
              st.sampled_from([b"4", b"40", b"41", b"42", b"43", b"44", b"45", b"46", b"2", b"3", b"5", b"6", b"7"]),
              json_values).filter(junk_packet),
    st.builds(lambda event, value: b"42" + json.dumps([event, value]).encode(),
              st.sampled_from(["session_request", "bot_uttered", "connect", "disconnect", "message", "error"])
              | small_text, json_values).filter(junk_packet),
    st.builds(lambda deep: b"42" + deep, deep_json),
    st.sampled_from([b"40/admin,", b"42/admin,[\"x\"]", b"451-[\"x\",{\"_placeholder\":true,\"num\":0}]",
                     b"4" * 1000, b"42[", b"42[\"session_request\"", b"\x1e\x1e", b"4\x1e4\x1e4"]),
    st.sampled_from([b"1", b"2", b"3", b"5", b"6", b"0", b"41"]),  # engine.io / socket.io control packets
    st.builds(lambda n: b'42["session_request", "' + b"x" * n + b'"]', st.sampled_from([999_000, 1_000_001])),
)


def engineio_decodes(data: bytes) -> bool:
    """Whether python-engineio's JSON reads ``data`` (it drops, unanswered, packets whose JSON it
    refuses: integers of more than 100 digits, nesting deeper than Python's recursion limit)."""
    from engineio import json as engineio_json

    if not data:
        return True
    try:
        engineio_json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return True


@dataclass(frozen=True)
class Handshake:
    query: list[tuple[str, str]]
    auth: Any = NO_AUTH
    connect_tail: bytes | None = None  # a raw CONNECT payload instead of the JSON of ``auth``

    def __repr__(self) -> str:
        auth = "NO_AUTH" if self.auth is NO_AUTH else short(self.auth, 300)
        return f"Handshake(query={short(self.query, 300)}, auth={auth}, connect_tail={short(self.connect_tail)})"


@pytest.mark.e2e
def test_socketio_handshake_accepts_exactly_the_signed_tokens(fuzz_stack: Stack) -> None:
    stack = fuzz_stack
    valid, forged = web_tokens(stack.jwt_secret)
    tokens = st.one_of(st.sampled_from(valid), st.sampled_from(forged), texts, st.just(""))
    values = st.one_of(tokens, texts, st.sampled_from(["4", "3", "polling", "websocket", "1"]))
    handshakes = st.builds(
        Handshake,
        query=st.lists(st.tuples(QUERY_KEYS, values), max_size=4),
        auth=st.one_of(st.just(NO_AUTH), json_values, st.fixed_dictionaries({"token": tokens}),
                       st.fixed_dictionaries({"token": json_values}),
                       st.fixed_dictionaries({"token": tokens}, optional={"customer_ref": st.just("C00001"),
                                                                          "x": json_values})),
        connect_tail=st.one_of(st.none(), st.none(), st.none(), st.binary(max_size=30),
                               st.sampled_from([b"{", b"{\"token\":", b"null", b"[]", b"/admin,", b"\xff"])))

    @fuzz_settings(40)
    @given(case=handshakes)
    @example(case=Handshake(query=[], auth={"token": "\ud800"}))  # found by the fuzz: never answered once
    def handshake_property(case: Handshake) -> None:
        query = urlencoded(case.query)
        conn = EngineIO(stack.rasa_url, query)
        try:
            assert conn.opened.status < 500, f"engine.io open: {conn.opened!r}"
            assert_no_traceback(conn.opened.text, "socket.io open")
            if conn.sid is None:
                return  # refused at the engine.io level (e.g. a fuzzed EIO or transport): fine
            tail = case.connect_tail if case.connect_tail is not None else \
                (b"" if case.auth is NO_AUTH else json.dumps(case.auth).encode())
            posted = conn.post(b"40" + tail)
            assert posted.status < 500, f"CONNECT: {posted!r}"
            model = case.connect_tail is None and posted.status == 200 and engineio_decodes(tail)
            answer = conn.poll(10 if model else 2)
            seen(f"CONNECT answer {sorted({p[:2] for p in answer or []})}")
            for text in answer or []:
                assert_no_traceback(text, "socket.io CONNECT answer")
            if model:
                assert answer, "no answer to CONNECT"
                kinds = [p[:2] for p in answer if p[:2] in ("40", "44")]
                observed = {"40": "accepted", "44": "refused"}.get(kinds[0]) if kinds else None
                auth = None if case.auth is NO_AUTH else case.auth
                expected = expected_connect(query, auth, set(valid))
                assert observed == expected, f"handshake {observed}, expected {expected}: {answer!r}"
        finally:
            conn.close()
        assert_alive(stack)

    try:
        handshake_property()
    finally:
        print_stats('handshake_property')
    health = request_raw(stack.rasa_url, "GET", "/")
    assert health.status == 200 and b"Hello from Rasa" in health.body, health
    still_answers_rest(stack)


ENGINEIO_MAX_BODY = 1_000_000  # python-engineio's max_http_buffer_size


@pytest.mark.e2e
def test_socketio_garbage_packets_crash_nothing(fuzz_stack: Stack) -> None:
    stack = fuzz_stack

    @fuzz_settings(30)
    @given(packets=st.lists(junk_packets, min_size=1, max_size=4))
    @example(packets=[b"0"])  # found by the fuzz: the POST was never answered (bot.channels.engineio_guard)
    @example(packets=[b"1", b"2"])  # found by the fuzz: was a 500 (python-engineio: "Session is disconnected")
    @example(packets=[b'42["session_request", "' + b"x" * 1_000_001 + b'"]'])  # over maxPayload: refused unread
    def junk_property(packets: list[bytes]) -> None:
        conn = EngineIO(stack.rasa_url)
        assert conn.sid is not None, conn.opened
        try:
            conn.post(b"40")
            assert any(p.startswith("40") for p in conn.poll(10) or []), "connection refused"
            for packet in packets:
                try:
                    reply = conn.post(packet)
                except (TimeoutError, socket.timeout, ConnectionError):
                    if len(packet) > ENGINEIO_MAX_BODY:
                        # engine.io answers 400 to an oversized body without reading it, so a
                        # client still writing sees a timeout or a reset: refused, not a crash
                        seen("oversized packet refused unread")
                        break
                    raise AssertionError(f"no answer in {POST_TIMEOUT:.0f} s to the packet {short(packet)}") from None
                seen(f"packet {reply.status}")
                assert reply.status < 500, f"packet {short(packet)}: {reply!r}"
                assert_no_traceback(reply.text, "socket.io packet")
        finally:
            conn.close()
        assert_alive(stack)

    try:
        junk_property()
    finally:
        print_stats('junk_property')
    health = request_raw(stack.rasa_url, "GET", "/")
    assert health.status == 200 and b"Hello from Rasa" in health.body, health
    still_answers_rest(stack)


@dataclass(frozen=True)
class SocketTurn:
    signed: bool
    session_request: Any  # NO_AUTH: none sent
    message: Any

    def __repr__(self) -> str:
        request = "none" if self.session_request is NO_AUTH else short(self.session_request, 200)
        return f"SocketTurn(signed={self.signed}, session_request={request}, message={short(self.message, 400)})"


SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def salted_session(value: Any) -> Any:
    """A session id a client may choose gets a fresh suffix: every fuzz turn is a new conversation."""
    if isinstance(value, str) and SESSION_ID.fullmatch(value.rstrip("\n")):
        return (value.rstrip("\n")[:20] + "-" + fresh("fz"))[:64] + ("\n" if value.endswith("\n") else "")
    return value


session_ids = st.one_of(st.from_regex(r"[A-Za-z0-9_-]{1,30}", fullmatch=True), small_text, json_values,
                        st.sampled_from(["../../etc", "x" * 65, "abc\n", "web-C00001-x", ""])).map(salted_session)
custom_data = st.one_of(json_values, metadatas, st.just("not json"),
                        st.builds(json.dumps, st.sampled_from(FORGED_IDENTITIES)),
                        st.builds(lambda n: {"blob": "x" * n}, st.sampled_from([10, 9_000, 200_000])))


@st.composite
def socket_turns(draw: st.DrawFn) -> SocketTurn:
    """A session request and a message as the widget sends them, with some of their parts fuzzed."""
    session_request: Any = {}
    message: Any = {"message": draw(texts), "customData": {"language": "es"}}
    for part in draw(st.lists(st.sampled_from(["session_request", "no-session_request", "message", "session_id",
                                               "customData", "metadata", "data"]), max_size=2, unique=True)):
        if part == "session_request":
            session_request = draw(st.one_of(json_values, st.fixed_dictionaries({"session_id": session_ids})))
        elif part == "no-session_request":
            session_request = NO_AUTH
        elif part == "data":
            message = draw(json_values)
        elif isinstance(message, dict):
            message[part] = draw({"message": json_values, "session_id": session_ids}.get(part, custom_data))
    return SocketTurn(draw(st.booleans()), session_request, message)


@pytest.mark.e2e
def test_socketio_messages_crash_nothing_and_show_no_other_customer(fuzz_stack: Stack,
                                                                   stack_people: list[Person]) -> None:
    stack = fuzz_stack
    me = next(p for p in stack_people if p.ref == AUTH_REF)
    token = issue_web_token(AUTH_REF, stack.jwt_secret, 900)
    @fuzz_settings(25)
    @given(turn=socket_turns())
    def socket_property(turn: SocketTurn) -> None:
        conn = EngineIO(stack.rasa_url)
        assert conn.sid is not None, conn.opened
        try:
            conn.post(b"40" + (json.dumps({"token": token}).encode() if turn.signed else b""))
            answer = conn.poll(15) or []
            assert any(p.startswith("40") for p in answer), f"connection refused: {answer!r}"
            session: str | None = None
            if turn.session_request is not NO_AUTH:
                reply = conn.emit("session_request", turn.session_request)
                assert reply.status < 500, reply
                if engineio_decodes(json.dumps(["session_request", turn.session_request]).encode()):
                    confirmed = [d for e, d in events_in(conn.poll(15) or []) if e == "session_confirm"]
                    assert confirmed, "no session_confirm"
                    session = str(confirmed[0])
            reply = conn.emit("user_uttered", turn.message)
            assert reply.status < 500, reply
            data = turn.message if isinstance(turn.message, dict) else {}
            requested = data.get("session_id")
            if session is None and isinstance(requested, str) and SESSION_ID.fullmatch(requested.rstrip("\n")) \
                    and re.match(r"^[A-Za-z0-9_-]{1,64}$", requested):
                session = requested
            reaches = isinstance(turn.message, dict) and usable(data.get("message")) and session is not None \
                and engineio_decodes(json.dumps(["user_uttered", turn.message]).encode())
            received: list[tuple[str, Any]] = []
            deadline = time.monotonic() + (25 if reaches else 0.7)
            while time.monotonic() < deadline and not conn.stuck:
                wait = deadline - time.monotonic() if not any(e == "bot_uttered" for e, _ in received) else 1.0
                packets = conn.poll(max(0.5, wait))
                if packets is None:
                    break
                received += events_in(packets)
                for pkt in packets:
                    assert_no_traceback(pkt, "socket.io")
                if any(e == "bot_uttered" for e, _ in received) and not reaches:
                    break
            bot = [d for e, d in received if e == "bot_uttered"]
            seen(f"socket.io reaches the bot: {reaches}, answered: {bool(bot)}")
            if reaches and not str(data["message"]).lstrip().startswith("/"):
                assert bot, f"no answer to a message: {received!r}\n----- rasa -----\n{stack.logs('rasa', 30)}"
            shown = json.dumps(bot, ensure_ascii=False)
            echoed = json.dumps(turn.message, ensure_ascii=False, default=str)
            allowed = frozenset({AUTH_REF}) if turn.signed else frozenset()
            assert not leaks(shown, stack_people, allowed=allowed, echoed=echoed), bot
            if reaches:
                owner = AUTH_REF if turn.signed else "anon"
                assert_not_bound(stack, f"web-{owner}-{session}", me if turn.signed else None)
        finally:
            conn.close()
        assert_alive(stack)

    try:
        socket_property()
    finally:
        print_stats('socket_property')
    still_answers_rest(stack)


# ============================================================================ Twilio SMS and voice

SIGNINGS = st.sampled_from(["signed"] * 5 + ["unsigned", "forged", "other-url", "tampered"])
PROTECTED_PARAMS = frozenset({"From", "Caller", "Body", "OptOutType", "MessageSid", "SmsSid", "SmsMessageSid",
                              "CallSid", "SpeechResult", "Digits", "CallStatus", "DialCallStatus", "StirVerstat",
                              "To", "Called", "AccountSid"})
fuzz_numbers = st.from_regex(r"\+1555[0-9]{7}", fullmatch=True)
from_values = st.one_of(
    fuzz_numbers, fuzz_numbers, texts,
    st.sampled_from(["", "anonymous", "+", "+0", "+1555", "whatsapp:+15550100000", "tel:+15550100001",
                     "client:alice", "sip:alice@example.org", "+1 555 010 0002", "++15550100003",
                     "+15550100004\x00", "+١٥٥٥٠١٠٠٠٠٥"]))
extra_params = st.lists(st.tuples(small_text.filter(lambda k: k not in PROTECTED_PARAMS), texts), max_size=3)


def is_protected_number(value: str | None) -> bool:
    """A seeded customer's number or one another test uses: fuzz never speaks for them."""
    from bot.channels.twilio_common import e164

    phone = e164(value)
    return phone is not None and (phone.startswith("+447700900") or phone in TEST_NUMBERS)


@dataclass(frozen=True)
class TwilioCase:
    params: list[tuple[str, str]]
    signing: str = "signed"
    query: list[tuple[str, str]] | None = None  # voice: the action URL's query (None: a new call)
    fresh_sid: bool = True  # a new MessageSid / CallSid is put in at send time

    def __repr__(self) -> str:
        return (f"TwilioCase(params={short(self.params, 700)}, signing={self.signing!r}, "
                f"query={short(self.query, 300)}, fresh_sid={self.fresh_sid})")


def post_twilio(twilio_stack: TwilioStack, path: str, pairs: list[tuple[str, str]], signing: str) -> Reply:
    """POST a webhook like Twilio (form body from any strings), signed as ``signing`` says."""
    caller = twilio_stack.caller
    body = urlencoded(pairs)
    seen = Form.parse(body)  # what the server will read (and so what Twilio would have signed)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8", "User-Agent": "TwilioProxy/1.1"}
    if signing == "signed":
        headers["X-Twilio-Signature"] = caller.validator.compute_signature(caller.public_url(path), seen)
    elif signing == "forged":
        headers["X-Twilio-Signature"] = "bm90IGEgc2lnbmF0dXJl" + fresh("")
    elif signing == "other-url":
        headers["X-Twilio-Signature"] = caller.validator.compute_signature(
            twilio_stack.stack.rasa_url + path, seen)
    elif signing == "tampered":
        headers["X-Twilio-Signature"] = caller.validator.compute_signature(caller.public_url(path), seen)
        body += "&Body=tampered"
    return request_raw(twilio_stack.stack.rasa_url, "POST", path, body.encode("ascii"), headers)


def twiml_of(reply: Reply, where: str) -> ET.Element:
    assert reply.status == 200, f"{where}: {reply!r}"
    assert_no_traceback(reply.text, where)
    root = ET.fromstring(reply.body)  # raises on anything that is not XML
    assert root.tag == "Response", f"{where}: {reply!r}"
    return root


def spoken_and_written(root: ET.Element) -> str:
    return "\n".join(el.text or "" for el in root.iter() if el.tag in ("Message", "Say", "Body"))


@st.composite
def sms_cases(draw: st.DrawFn) -> TwilioCase:
    sender = draw(st.one_of(fuzz_numbers, from_values).filter(lambda v: not is_protected_number(v)))
    pairs = list(sms_params(sender, draw(st.one_of(st.none(), texts, texts))).items())
    if draw(st.booleans()):
        pairs.append(("OptOutType", draw(st.one_of(st.sampled_from(["STOP", "START", "HELP", "", "stop", "OTHER"]),
                                                   small_text))))
    fresh_sid = draw(st.sampled_from([True, True, True, False]))
    if not fresh_sid:  # a fuzzed MessageSid (also none, or one repeated between examples)
        sid = draw(st.one_of(st.sampled_from(["", "SMrepeated", "SM"]), small_text))
        pairs = [(k, sid if k in ("MessageSid", "SmsSid", "SmsMessageSid") else v) for k, v in pairs]
    if draw(st.booleans()):
        pairs = [(k, draw(texts) if k == "NumMedia" else v) for k, v in pairs]
    pairs += draw(extra_params)
    return TwilioCase(pairs, draw(SIGNINGS), None, fresh_sid)


def with_fresh_sid(case: TwilioCase, names: tuple[str, ...], prefix: str) -> list[tuple[str, str]]:
    if not case.fresh_sid:
        return case.params
    sid = fresh(prefix)
    return [(k, sid if k in names else v) for k, v in case.params]


def twilio_sender(params: Form) -> str:
    from bot.channels.twilio_common import e164
    from bot.channels.twilio_sms import TwilioSMSInput

    raw = params.first("From")
    return TwilioSMSInput.sender_id(e164(raw), raw)


@pytest.mark.e2e
def test_twilio_sms_webhook_answers_twiml_to_anything_signed(twilio_stack: TwilioStack) -> None:
    stack = twilio_stack.stack
    people = people_of(stack.database_url)

    @fuzz_settings(30)
    @given(case=sms_cases())
    def sms_property(case: TwilioCase) -> None:
        pairs = with_fresh_sid(case, ("MessageSid", "SmsSid", "SmsMessageSid"), "SMfz")
        reply = post_twilio(twilio_stack, SMS_WEBHOOK, pairs, case.signing)
        seen(f"SMS {case.signing} {reply.status}")
        assert_no_traceback(reply.text, "SMS")
        if case.signing != "signed":
            assert reply.status == 403, f"{case.signing} request: {reply!r}"
            assert_alive(stack)
            return
        root = twiml_of(reply, "SMS")
        assert all(child.tag == "Message" for child in root), reply
        written = spoken_and_written(root)
        assert "Traceback" not in written and "Error:" not in written, written
        assert not leaks(written, people, echoed=urlencoded(pairs) + json.dumps(pairs, ensure_ascii=False)), written
        assert_alive(stack)
        assert_not_bound(stack, twilio_sender(Form.parse(urlencoded(pairs))))

    try:
        sms_property()
    finally:
        print_stats('sms_property')
    hello = post_twilio(twilio_stack, SMS_WEBHOOK, list(sms_params("+15559990001", "hola").items()), "signed")
    assert [m.text for m in twiml_of(hello, "SMS after the fuzz").iter("Message")], hello
    assert tracker_slots(stack, "sms-+15559990001") is not None, "cannot read trackers through Rasa's API"
    assert_alive(stack)


@st.composite
def voice_cases(draw: st.DrawFn) -> TwilioCase:
    """A turn of a call as Twilio posts it (the first one, or one with speech), some parts fuzzed."""
    caller = draw(fuzz_numbers)
    first = draw(st.booleans())
    pairs = list(call_params("CA-placeholder", caller, CallStatus="ringing" if first else "in-progress").items())
    query: list[tuple[str, str]] | None = None if first else [("turn", "1"), ("silence", "0")]
    if not first:
        pairs += [("SpeechResult", draw(texts)), ("Confidence", "0.87")]
    fresh_sid = True
    numbers = st.one_of(st.integers(-10**30, 10**30).map(str), small_text, st.sampled_from(["", "1", "0", "-1"]))
    for part in draw(st.lists(st.sampled_from(["from", "sid", "status", "no-speech", "digits", "dial", "query",
                                               "stir", "confidence", "extra"]), max_size=3, unique=True)):
        if part == "from":
            caller = draw(from_values.filter(lambda v: not is_protected_number(v)))
            pairs = [(k, caller if k in ("From", "Caller") else v) for k, v in pairs]
        elif part == "sid":
            fresh_sid = False
            sid = draw(st.one_of(st.sampled_from(["", "CA", "CArepeated"]), texts))
            pairs = [(k, sid if k == "CallSid" else v) for k, v in pairs]
        elif part == "status":
            status = draw(st.one_of(st.sampled_from(["completed", "busy", "failed", "no-answer", "canceled", "",
                                                     "queued", "IN-PROGRESS"]), small_text))
            pairs = [(k, status if k == "CallStatus" else v) for k, v in pairs]
        elif part == "no-speech":
            pairs = [(k, v) for k, v in pairs if k != "SpeechResult"]
        elif part == "digits":
            pairs.append(("Digits", draw(st.one_of(
                st.sampled_from(["1", "2", "9", "0", "*", "#", "123", "99999999999999999999", "١", "１"]),
                st.text(st.characters(categories=["Nd"]), max_size=6), small_text))))
        elif part == "dial":
            query = (query or []) + [("dial", "1")]
            pairs.append(("DialCallStatus", draw(st.one_of(st.sampled_from(["completed", "answered", "busy",
                                                                            "no-answer", "failed"]), small_text))))
        elif part == "query":
            query = draw(st.lists(st.tuples(st.one_of(st.sampled_from(["turn", "silence", "dial", "bodySHA256"]),
                                                      small_text), numbers), max_size=4))
        elif part == "stir":
            pairs.append(("StirVerstat", draw(st.sampled_from(["TN-Validation-Passed-A", "TN-Validation-Failed", ""])
                                              | small_text)))
        elif part == "confidence":
            pairs = [(k, v) for k, v in pairs if k != "Confidence"] + [
                ("Confidence", draw(st.one_of(st.floats().map(str), small_text)))]
        else:
            pairs += draw(extra_params)
    return TwilioCase(pairs, draw(SIGNINGS), query, fresh_sid)


def assert_urls_are_ours(root: ET.Element) -> None:
    """Every URL the TwiML hands to Twilio is our own webhook; every transfer goes to the agent."""
    ours = PUBLIC_BASE_URL + VOICE_WEBHOOK
    for el in root.iter():
        if el.get("action") is not None:
            assert el.get("action", "").startswith(ours + "?"), ET.tostring(root)
        if el.tag == "Redirect":
            assert (el.text or "").startswith(ours + "?"), ET.tostring(root)
        if el.tag in ("Number", "Dial") and (el.text or "").strip():
            assert (el.text or "").strip() == AGENT_NUMBER, ET.tostring(root)


@pytest.mark.e2e
def test_twilio_voice_webhook_answers_twiml_to_anything_signed(twilio_stack: TwilioStack) -> None:
    stack = twilio_stack.stack
    people = people_of(stack.database_url)

    @fuzz_settings(30)
    @given(case=voice_cases())
    def voice_property(case: TwilioCase) -> None:
        pairs = with_fresh_sid(case, ("CallSid",), "CAfz")
        path = VOICE_WEBHOOK + (f"?{urlencoded(case.query)}" if case.query else "")
        reply = post_twilio(twilio_stack, path, pairs, case.signing)
        seen(f"voice {case.signing} {reply.status}")
        assert_no_traceback(reply.text, "voice")
        if case.signing != "signed":
            assert reply.status == 403, f"{case.signing} request: {reply!r}"
            assert_alive(stack)
            return
        root = twiml_of(reply, "voice")
        assert_urls_are_ours(root)
        said = spoken_and_written(root)
        assert "Traceback" not in said and "Error:" not in said, said
        assert not leaks(said, people, echoed=urlencoded(pairs) + json.dumps(pairs, ensure_ascii=False)), said
        assert_alive(stack)
        sid = Form.parse(urlencoded(pairs)).first("CallSid")
        if sid:
            assert_not_bound(stack, f"voice-{sid}")

    try:
        voice_property()
    finally:
        print_stats('voice_property')
    call_sid = fresh("CAfz")
    hello = post_twilio(twilio_stack, VOICE_WEBHOOK, list(call_params(call_sid, "+15559990002").items()), "signed")
    assert twiml_of(hello, "voice after the fuzz").find("Gather") is not None, hello
    assert tracker_slots(stack, f"voice-{call_sid}") is not None, "cannot read trackers through Rasa's API"
    assert_alive(stack)


# ============================================================================ dashboard (Flask test client)

DASH_PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def dashboard_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from analytics import demo_rows, users
    from bot.storage.db import session_factory
    from bot.storage.models import HandoffTicket
    from tests.support.db_fixtures import make_database

    directory: Path = tmp_path_factory.mktemp("fuzz-dash")
    url = make_database(directory, customers=40)
    tracker_url = f"sqlite:///{directory / 'tracker.db'}"
    tracker = demo_rows.writable_tracker(tracker_url)
    with session_factory(url)() as s:
        demo_rows.generate(s, 200, end=date(2026, 11, 1), tracker=tracker)
        users.create_user(s, "fz-sup", DASH_PASSWORD, "supervisor")
        users.create_user(s, "fz-agent", DASH_PASSWORD, "agent")
        for n, status in enumerate(("waiting", "in_progress", "callback", "waiting")):  # for the agent desk
            s.add(HandoffTicket(conversation_id=f"fz-ticket-{n}", channel="sms", language="es", trigger="asked",
                                status=status, summary={"text": "fz"}))
        s.commit()
    tracker.dispose()
    return url, tracker_url


def dashboard_app(db: tuple[str, str], clock: Clock) -> Any:
    from analytics import app as dashboard

    return dashboard.create_app(db[0], db[1], secret="fuzz-secret-" + "x" * 20, hours=8, clock=clock,
                                cookie_secure=False)


def login_csrf(page_html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', page_html)
    assert found, page_html[:400]
    return html.unescape(found.group(1))


def logged_in(app: Any, username: str, address: str = "10.9.9.9") -> Any:
    client = app.server.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    token = login_csrf(client.get("/login").get_data(as_text=True))
    response = client.post("/login", data={"username": username, "password": DASH_PASSWORD, "csrf": token,
                                           "next": "/"})
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    return client


def is_local(location: str) -> bool:
    """A redirect a browser keeps on this site (browsers drop tabs and newlines and read ``\\`` as ``/``)."""
    squashed = re.sub(r"[\t\n\r]", "", location).replace("\\", "/")
    parts = urlsplit(squashed)
    if parts.scheme or parts.netloc:
        return parts.scheme in ("http", "https") and parts.netloc == "localhost"
    return squashed.startswith("/") and not squashed.startswith("//")


@dataclass(frozen=True)
class LoginCase:
    username: str
    password: str
    csrf: str | None  # None: the form's own token
    next: str

    def __repr__(self) -> str:
        return (f"LoginCase(username={short(self.username)}, password={short(self.password)}, "
                f"csrf={short(self.csrf)}, next={short(self.next, 300)})")


NEXT_TARGETS = ["/", "/reasons", "//evil.example/", "https://evil.example/", "\\\\evil.example", "/\\evil.example",
                "/\t/evil.example", "/%2F/evil.example", "/%5Cevil.example", "http:evil.example", "javascript:alert(1)",
                "//%09/evil.example", "/ /evil.example", "\x00/evil", "/\u3000/evil.example", "／／evil.example",
                "/export/kpis.csv", "/login?next=//evil.example", "x" * 3000]
next_values = st.one_of(st.sampled_from(NEXT_TARGETS), texts, st.builds(operator.add, st.sampled_from(NEXT_TARGETS),
                                                                       any_text))
login_cases = st.builds(
    LoginCase,
    username=st.one_of(st.sampled_from(["fz-sup", "fz-agent", " fz-sup ", "FZ-SUP", "fz-sup\x00", ""]), texts),
    password=st.one_of(st.just(DASH_PASSWORD), st.just(DASH_PASSWORD), texts),
    csrf=st.one_of(st.none(), st.none(), st.none(), texts),
    next=next_values)


def test_dashboard_login_never_fails_or_leaves_the_site(dashboard_db: tuple[str, str]) -> None:
    clock = Clock()
    app = dashboard_app(dashboard_db, clock)
    addresses = itertools.count(1)

    @fuzz_settings(40)
    @given(case=login_cases)
    @example(case=LoginCase("fz-sup", DASH_PASSWORD, "\x80", "/"))  # found by the fuzz: a 500 once
    def login_property(case: LoginCase) -> None:
        clock.now += 3600  # past every throttling window: a fresh start for each example
        n = next(addresses)
        client = app.server.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        page = client.get(f"/login?next={enc(case.next)}")
        assert page.status_code == 200, page.status_code
        text = page.get_data(as_text=True)
        assert_no_traceback(text, "login page")
        hidden = re.search(r'name="next" value="([^"]*)"', text)
        assert hidden and is_local(html.unescape(hidden.group(1))), f"the form's next: {hidden and hidden.group(1)!r}"
        csrf = login_csrf(text) if case.csrf is None else case.csrf
        body = urlencoded([("username", case.username), ("password", case.password), ("csrf", csrf),
                           ("next", case.next)])
        response = client.post("/login", data=body.encode("ascii"), content_type="application/x-www-form-urlencoded")
        seen(f"login {response.status_code}")
        assert response.status_code < 500, response.get_data(as_text=True)[:600]
        assert_no_traceback(response.get_data(as_text=True), "login")
        assert response.status_code in (200, 302, 400, 401, 403, 429), response.status_code
        location = response.headers.get("Location")
        if response.status_code == 302:
            assert location is not None and is_local(location), f"redirect off-site: {location!r}"
        else:
            assert location is None, location
        right = case.csrf is None and case.username.strip() in ("fz-sup", "fz-agent") \
            and case.password == DASH_PASSWORD
        if right and response.status_code != 429:
            assert response.status_code == 302, f"the right password was refused: {response.status_code}"

    try:
        login_property()
    finally:
        print_stats('login_property')


@dataclass(frozen=True)
class DashRequest:
    role: str
    path: str  # already percent-encoded
    query: list[tuple[str, str]]

    def __repr__(self) -> str:
        return f"DashRequest(role={self.role!r}, path={short(self.path, 300)}, query={short(self.query, 500)})"


EXPORTS = ["kpis", "weekly", "reasons", "verbatims", "returns_by_reason", "returns_by_offer", "offers",
           "offers_by_reason", "hot_cold", "holdout", "handoffs", "conversations", "case_offers", "transcript",
           "plans", "checkins", "queue"]
FILTER_KEYS = ["since", "until", "channel", "language", "reason", "segment", "case", "conversation", "lang"]
filter_values = st.one_of(
    texts, st.dates().map(date.isoformat), st.integers().map(str),
    st.sampled_from(["2026-01-01", "2026-13-45", "9999-12-31", "0001-01-01", "2026-02-30", "2026-01-01T00:00",
                     "price,competitor", "web,sms,voice,rest", "es,en", ",,,", "price," * 500, "-1", "1e999",
                     "99999999999999999999", "nan", "inf", "demo-1", "sms-+447700900001"]),
    st.lists(st.sampled_from(["price", "competitor", "web", "sms", "es", "high", "x"]), max_size=6).map(",".join))
dash_paths = st.one_of(
    st.builds(lambda name: f"/export/{enc(name)}.csv", st.sampled_from(EXPORTS) | small_text),
    st.sampled_from(["/", "/reasons", "/conversations", "/plans", "/queue", "/no-such-page", "/_dash-layout",
                     "/_dash-dependencies", "/healthz", "/login", "/export/.csv", "/export/kpis.csv/..",
                     "/conversations/", "/assets/../../bot/settings.py", "/_dash-component-suites/dash/x.js"]),
    st.builds(lambda conv: f"/conversations/{enc(conv)}",
              st.one_of(st.sampled_from(["demo-1", "sms-+447700900001", "x" * 300, "..", "%2e%2e"]), texts)))
dash_requests = st.builds(DashRequest, role=st.sampled_from(["supervisor", "supervisor", "agent"]), path=dash_paths,
                          query=st.lists(st.tuples(st.sampled_from(FILTER_KEYS) | small_text, filter_values),
                                         max_size=5))


def test_dashboard_pages_and_exports_take_any_filter(dashboard_db: tuple[str, str]) -> None:
    app = dashboard_app(dashboard_db, Clock())
    clients = {"supervisor": logged_in(app, "fz-sup"), "agent": logged_in(app, "fz-agent", "10.9.9.8")}

    @fuzz_settings(40)
    @given(req=dash_requests)
    @example(req=DashRequest("supervisor", "/_dash-component-suites/dash/x.js", []))  # found by the fuzz: was a 500
    def filters_property(req: DashRequest) -> None:
        target = req.path + (f"?{urlencoded(req.query)}" if req.query else "")
        response = clients[req.role].get(target)
        seen(f"{req.path.split('/')[1]} {response.status_code}")
        text = response.get_data(as_text=True)
        assert response.status_code < 500, f"{response.status_code} {target}: {short(text, 600)}"
        assert_no_traceback(text, target)
        if req.role == "agent" and response.status_code == 200:
            assert not PHONE_RE.search(text) and not EMAIL_RE.search(text), f"contact data for an agent: {target}"

    try:
        filters_property()
    finally:
        print_stats('filters_property')
    for client in clients.values():  # still logged in and working
        assert client.get("/healthz").status_code == 200


@dataclass(frozen=True)
class CallbackCase:
    role: str
    body: bytes
    content_type: str | None
    csrf: str | None = None  # None: the session's own token

    def __repr__(self) -> str:
        return (f"CallbackCase(role={self.role!r}, body={short(self.body, 700)}, content_type={self.content_type!r}, "
                f"csrf={self.csrf!r})")


# what a client may put in a header: latin-1 text without control characters
header_texts = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=24),
    st.sampled_from(["é", "\x80", "ñ" * 40, "\xff\xfe", "forged", "", " ", "null", "%00", "x" * 5000]))
csrf_headers = st.one_of(*[st.none()] * 8, header_texts, st.sampled_from(["", "forged", "null"]))


CHOICES = ["price", "competitor", "moving", "web", "sms", "voice", "rest", "es", "en", "high", "medium", "low"]


def callback_value(key: str) -> st.SearchStrategy[Any]:
    """Values of the type the component sends (so that the request reaches the callback), fuzzed."""
    if key == "url.pathname":
        return st.one_of(st.sampled_from(["/", "/reasons", "/conversations", "/plans", "/queue", "/nope", None]), texts)
    if key.startswith("f-dates."):
        return st.one_of(st.none(), st.dates().map(date.isoformat), small_text,
                         st.sampled_from(["2026-13-45", "2026-02-30", "9999-12-31", "0001-01-01", "2026-01-01T25:00",
                                          "2026-1-1", "２０２６-０１-０１", "2026-01-01\x00"]))
    if key.endswith(".value"):
        return st.one_of(st.none(), small_text, st.lists(small_text, max_size=4),
                         st.lists(st.sampled_from(CHOICES), max_size=6), st.sampled_from(CHOICES))
    if key == "queue-tick.n_intervals":
        return st.one_of(st.none(), st.integers(), st.sampled_from([2**63, -(2**63) - 1, 10**300]))
    if key == "conv-table.active_cell":
        row_ids = st.one_of(st.integers(), st.floats(), small_text, st.none(),
                            st.sampled_from([10**30, -1, 0, 2**63, "1", "1e999", True]))
        return st.one_of(st.none(), json_values, st.fixed_dictionaries(
            {"row_id": row_ids}, optional={"row": st.integers(), "column": st.integers(), "column_id": small_text}))
    return json_values


def callback_cases(callback_map: dict[str, Any]) -> st.SearchStrategy[CallbackCase]:
    outputs = sorted(callback_map)
    parts = ["output", "outputs", "inputs", "state", "changedPropIds", "extra", "content_type"]

    @st.composite
    def cases(draw: st.DrawFn) -> CallbackCase:
        output = draw(st.sampled_from(outputs))
        spec = callback_map[output]

        def items(deps: list[dict[str, str]]) -> list[dict[str, Any]]:
            return [{"id": d["id"], "property": d["property"],
                     "value": draw(callback_value(f"{d['id']}.{d['property']}"))} for d in deps]

        out_id, _, out_prop = output.rpartition(".")
        body: Any = {"output": output, "outputs": {"id": out_id, "property": out_prop},
                     "inputs": items(spec["inputs"]), "state": items(spec.get("state", [])),
                     "changedPropIds": [f"{d['id']}.{d['property']}" for d in spec["inputs"]]}
        csrf, content_type = None, "application/json"
        for part in draw(st.lists(st.sampled_from(parts), max_size=2, unique=True)):  # break a part or two
            if part == "content_type":
                content_type = draw(st.sampled_from(["text/plain", None, "application/json; charset=utf-16"]))
            elif draw(st.booleans()):
                body.pop(part, None)
            else:
                body[part] = draw(st.one_of(json_values, small_text))
        if draw(st.integers(0, 3)) == 0:  # a quarter of the requests with a CSRF header of its own
            csrf = draw(header_texts)
        kind = draw(st.sampled_from(["shaped"] * 6 + ["shaped-raw", "value", "raw"]))
        if kind == "shaped":
            data = json.dumps(body).encode()
        elif kind == "shaped-raw":  # lone surrogates as raw bytes, UTF-16, a byte-order mark
            data = encoded_json(body, draw(json_styles))
        elif kind == "value":
            data = json.dumps(draw(json_values)).encode()
        else:
            data = draw(raw_bodies)
        return CallbackCase(draw(st.sampled_from(["supervisor", "supervisor", "agent"])), data, content_type, csrf)

    return cases()


def test_dashboard_callbacks_take_any_body(dashboard_db: tuple[str, str]) -> None:
    from analytics.config import CSRF_COOKIE

    app = dashboard_app(dashboard_db, Clock())
    clients = {"supervisor": logged_in(app, "fz-sup"), "agent": logged_in(app, "fz-agent", "10.9.9.8")}
    tokens = {role: client.get_cookie(CSRF_COOKIE).value for role, client in clients.items()}

    @fuzz_settings(40)
    @given(case=callback_cases(app.callback_map))
    @example(case=CallbackCase("supervisor", b"{}", "application/json", "\x80"))  # found by the fuzz: a 500 once
    def callback_property(case: CallbackCase) -> None:
        headers = {"X-CSRFToken": tokens[case.role] if case.csrf is None else case.csrf}
        if case.content_type:
            headers["Content-Type"] = case.content_type
        response = clients[case.role].post("/_dash-update-component", data=case.body, headers=headers)
        seen(f"callback {response.status_code}")
        text = response.get_data(as_text=True)
        assert response.status_code < 500, f"{response.status_code}: {short(text, 600)}"
        assert_no_traceback(text, "callback")
        if case.role == "agent" and response.status_code == 200:
            assert not PHONE_RE.search(text) and not EMAIL_RE.search(text), "contact data for an agent"

    try:
        callback_property()
    finally:
        print_stats('callback_property')


@dataclass(frozen=True)
class AgentCase:
    role: str
    conversation: str
    action: str
    body: bytes
    content_type: str | None
    csrf: str | None = None  # None: the session's own token, in the header
    accept: str | None = None

    def __repr__(self) -> str:
        return (f"AgentCase(role={self.role!r}, conversation={short(self.conversation)}, action={self.action!r}, "
                f"body={short(self.body, 500)}, content_type={self.content_type!r}, csrf={self.csrf!r}, "
                f"accept={self.accept!r})")


def open_ticket_conversations(db_url: str) -> list[str]:
    path = db_url.removeprefix("sqlite:///")
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT conversation_id FROM handoff_tickets WHERE conversation_id LIKE 'fz-ticket-%' "
                            "ORDER BY id").fetchall()
    return [row[0] for row in rows]


def test_dashboard_agent_desk_takes_any_request(dashboard_db: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from analytics.config import CSRF_COOKIE

    monkeypatch.setenv("RASA_API_URL", "http://127.0.0.1:9")  # no assistant: a delivery is a 502, by design
    monkeypatch.setenv("RASA_API_TOKEN", "fuzz-token")
    app = dashboard_app(dashboard_db, Clock())
    clients = {"supervisor": logged_in(app, "fz-sup"), "agent": logged_in(app, "fz-agent", "10.9.9.8")}
    tokens = {role: client.get_cookie(CSRF_COOKIE).value for role, client in clients.items()}
    conversations = open_ticket_conversations(dashboard_db[0]) or ["demo-none"]
    fuzzed = {  # a well-formed request with some of its parts fuzzed
        "role": st.sampled_from(["agent", "supervisor"]),
        "conversation": texts,
        "action": st.one_of(st.sampled_from(["resume", "Reply", "reply/", ""]), small_text),
        "body": st.one_of(
            st.builds(lambda text, style: encoded_json({"text": text}, style), st.one_of(texts, json_values),
                      json_styles),
            st.builds(lambda text: urlencoded([("text", text)]).encode("ascii"), texts),
            st.builds(lambda value: json.dumps(value).encode(), json_values),
            raw_bodies),
        "content_type": st.sampled_from(["application/x-www-form-urlencoded", "text/plain", None]),
        "csrf": header_texts,
        "accept": st.sampled_from(["text/html", "application/json", "*/*"]),
    }

    @st.composite
    def cases(draw: st.DrawFn) -> AgentCase:
        fields: dict[str, Any] = {"role": "agent", "conversation": draw(st.sampled_from(conversations)),
                                  "action": "reply", "content_type": "application/json", "csrf": None,
                                  "accept": None, "body": json.dumps({"text": draw(texts)}).encode()}
        for name in draw(st.lists(st.sampled_from(sorted(fuzzed)), max_size=3, unique=True)):
            fields[name] = draw(fuzzed[name])
        return AgentCase(**fields)

    @fuzz_settings(30)
    @given(case=cases())
    def agent_property(case: AgentCase) -> None:
        headers = {"X-CSRFToken": tokens[case.role] if case.csrf is None else case.csrf}
        if case.content_type:
            headers["Content-Type"] = case.content_type
        if case.accept:
            headers["Accept"] = case.accept
        path = f"/agent/conversations/{enc(case.conversation)}/{enc(case.action)}"
        response = clients[case.role].post(path, data=case.body, headers=headers)
        seen(f"agent desk {response.status_code}")
        text = response.get_data(as_text=True)
        # 502: the assistant's server cannot be reached (there is none here), the documented answer
        assert response.status_code < 500 or response.status_code in (502, 503), \
            f"{response.status_code} {path}: {short(text, 600)}"
        assert_no_traceback(text, path)
        if response.status_code in (301, 302, 303, 307, 308):
            assert is_local(response.headers.get("Location", "")), response.headers.get("Location")

    try:
        agent_property()
    finally:
        print_stats('agent_property')


# ============================================================================ website


@pytest.fixture(scope="module")
def plan_token(fuzz_stack: Stack) -> str:
    """An action plan of PLAN_REF in the stack's database (written here; only this module reads it)."""
    from bot.storage.db import session_scope
    from bot.storage.models import ActionPlan, ActionPlanCheckin, Customer, RetentionCase

    token = "fz" + uuid.uuid4().hex + "Az_-"
    with session_scope(fuzz_stack.database_url) as s:
        customer = s.query(Customer).filter_by(ref=PLAN_REF).one()
        case = RetentionCase(conversation_id=fresh("fz-plan-"), customer_id=customer.id, channel="web",
                             language="es", status="retained", reference=fresh("PLAN-FZ"))
        s.add(case)
        s.flush()
        plan = ActionPlan(case_id=case.id, customer_id=customer.id, token=token, reference=case.reference,
                          language="es", answers={"goal": "fz", "obstacle": "fz"},
                          customer_commitments=["ver una serie a la semana"], company_commitments=["llamarte"],
                          gift="", gift_cost=0)
        plan.checkins.append(ActionPlanCheckin(due_date=date.today() + timedelta(days=7)))
        s.add(plan)
    return token


@dataclass(frozen=True)
class SiteRequest:
    kind: str  # "index", "plan" or "other"
    customer: list[str] = field(default_factory=list)
    lang: list[str] = field(default_factory=list)
    token: str = ""
    path: str = "/"
    extra: list[tuple[str, str]] = field(default_factory=list)

    def target(self) -> str:
        if self.kind == "index":
            pairs = [("customer", c) for c in self.customer] + [("lang", v) for v in self.lang] + self.extra
            return "/" + (f"?{urlencoded(pairs)}" if pairs else "")
        if self.kind == "plan":
            pairs = [("lang", v) for v in self.lang] + self.extra
            return f"/plan/{enc(self.token)}" + (f"?{urlencoded(pairs)}" if pairs else "")
        return self.path

    def __repr__(self) -> str:
        return f"SiteRequest({self.kind}, target={short(self.target(), 500)})"


CUSTOMER_VALUES = ["C00001", "c00002", " C00003 ", "C00007", "C00008", FUZZ_REF, "C99999", "anonymous", "ANONYMOUS",
                   " anonymous ", "", " ", "C00001\x00", "Ｃ００００１", "C00001\u200b", "C0000１", "C\u200b00001",
                   "c00001\n", "ç00001", "C00001,C00002", "' OR 1=1 --", "%00"]
LANG_VALUES = ["es", "en", "EN", "fr", "", "es-ES", "<script>", "en\x00"]
site_paths = st.one_of(
    st.sampled_from(["/static/webchat.js", "/static/page.js", "/healthz", "/static/../../etc/passwd",
                     "/static/%2e%2e/%2e%2e/bot/settings.py", "/plan/", "/plan", "/plan/%00", "/plan/..%2F..%2F",
                     "/%2e%2e/%2e%2e/etc/passwd", "/static/", "//", "/?", "/index.html", "/.env",
                     "/var/web_jwt_secret"]),
    st.builds(lambda text: "/" + enc(text), texts))


def site_requests(plan: str) -> st.SearchStrategy[SiteRequest]:
    tokens = st.one_of(st.just(plan), st.just(plan), st.sampled_from([plan.upper(), plan[:-1], plan + "x", plan[1:],
                                                                      plan + "\x00", " " + plan, plan + "/"]),
                       st.from_regex(r"[A-Za-z0-9_-]{8,64}", fullmatch=True), texts)
    extra = st.lists(st.tuples(small_text, small_text), max_size=2)
    customers = st.one_of(st.just([]), st.lists(st.one_of(st.sampled_from(CUSTOMER_VALUES), texts), min_size=1,
                                                max_size=2))
    langs = st.lists(st.one_of(st.sampled_from(LANG_VALUES), small_text), max_size=2)
    return st.one_of(
        st.builds(SiteRequest, kind=st.just("index"), customer=customers, lang=langs, extra=extra),
        st.builds(SiteRequest, kind=st.just("plan"), token=tokens, lang=langs, extra=extra),
        st.builds(SiteRequest, kind=st.just("other"), path=site_paths))


def expected_persona(values: list[str]) -> str | None:
    """The demo persona ``?customer=`` logs in as ("" for the anonymous page, None for a 403)."""
    ref = (values[0] if values else "").strip()
    if not ref or ref.lower() == "anonymous":
        return ""
    return ref.upper() if ref.isascii() and ref.upper() in PERSONAS else None


@pytest.mark.e2e
def test_website_pages_take_any_parameter(fuzz_stack: Stack, stack_people: list[Person], plan_token: str) -> None:
    stack = fuzz_stack
    from bot.channels import verify_web_token

    probe = request_raw(stack.web_url, "GET", "/?customer=C00001")
    demo = probe.status == 200 and bool(JWT_RE.search(probe.text))  # WEB_DEMO=1 (tests/support/stack.py sets it)

    @fuzz_settings(40)
    @given(req=site_requests(plan_token))
    def site_property(req: SiteRequest) -> None:
        reply = request_raw(stack.web_url, "GET", req.target())
        seen(f"website {req.kind} {reply.status}")
        assert reply.status < 500, f"{reply!r}\n----- web -----\n{stack.logs('web', 30)}"
        assert_no_traceback(reply.text, "website")
        assert stack.jwt_secret not in reply.text and "root:x:0:0" not in reply.text, reply
        assert_alive(stack)
        if reply.status == 400 and "too long" in reply.text:
            return  # a request line over aiohttp's limit: refused before the app
        tokens = JWT_RE.findall(reply.text)
        if req.kind == "index":
            persona = expected_persona(req.customer) if demo else ("" if expected_persona(req.customer) == ""
                                                                   else None)
            if persona is None:
                assert reply.status == 403 and not tokens, f"not a persona, yet: {reply!r}"
            elif persona == "":
                assert reply.status == 200 and not tokens, f"anonymous, yet: {reply!r}"
            else:
                assert reply.status == 200, reply
                assert tokens and {verify_web_token(t, stack.jwt_secret) for t in tokens} == {persona}, tokens
            listed = frozenset(PERSONAS) if demo else frozenset()  # the log-in selector names the personas
            shown = leaks(reply.text, stack_people, allowed=listed, echoed=req.target() + json.dumps(req.customer))
            assert not shown, f"customers on the page: {shown}"
        elif req.kind == "plan":
            assert not tokens, reply
            if req.token == plan_token:
                assert reply.status == 200, f"the real plan is not shown: {reply!r}"
                assert not leaks(reply.text, [p for p in stack_people if p.ref != PLAN_REF]), reply
            else:
                assert reply.status == 404, f"a plan page for a token that is not one: {reply!r}"

    try:
        site_property()
    finally:
        print_stats('site_property')
    plan = request_raw(stack.web_url, "GET", f"/plan/{plan_token}")
    assert plan.status == 200 and "PLAN-FZ" in plan.text, plan
    assert request_raw(stack.web_url, "GET", "/healthz").body.strip() == b"ok"
