"""Attacks on the REST channel of the running stack (found by a probe of `make run`).

* a lone UTF-16 surrogate in ``sender`` made SQLite raise while binding it, and Rasa's SQL
  tracker store exits the process on that ``ValueError``: one request stopped the server;
* the same character in the text made the NLU raise: an empty 200 and a lost message;
* a REST ``sender`` of ``sms-<number>`` continued that customer's SMS conversation, with its
  verified identity;
* (second probe) callers without a ``sender`` all shared Rasa's ``default`` conversation; a
  verified conversation was anyone's who sent the same id from elsewhere; metadata had no size
  limit (50 MB stored with every event).
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import urllib.error
import urllib.request
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.support.stack import Stack
from tests.support.twilio_standin import SMS_WEBHOOK, TwilioStack, shared_twilio_stack, sms_params

JOHN_PHONE = "+447700900001"  # C00002


def post_raw(stack: Stack, body: bytes) -> tuple[int, str]:
    request = urllib.request.Request(stack.rasa_url + "/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def post_from(stack: Stack, address: str, payload: dict[str, Any]) -> tuple[int, Any]:
    """A REST request from another loopback address (a different caller, as the server sees it)."""
    port = int(stack.rasa_url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=90, source_address=(address, 0))
    try:
        conn.request("POST", "/webhooks/rest/webhook", body=json.dumps(payload),
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")
    finally:
        conn.close()


def said(replies: Any) -> str:
    return " / ".join(r.get("text") or "" for r in replies or [])


def alive(stack: Stack) -> bool:
    with urllib.request.urlopen(stack.rasa_url + "/", timeout=10) as resp:
        return resp.status == 200


def test_a_lone_surrogate_in_the_sender_is_refused_and_rasa_keeps_running(stack: Stack) -> None:
    status, body = post_raw(stack, b'{"sender": "x\\ud800", "message": "hola"}')
    assert status == 400 and "sender" in body
    assert alive(stack)
    assert all(s.process is not None and s.process.poll() is None for s in stack.services)
    assert stack.rest("after-surrogate", "hola"), "the next customer is still answered"


def test_a_lone_surrogate_in_the_text_is_answered_like_any_message(stack: Stack) -> None:
    body = json.dumps({"sender": "surrogate-text", "message": "hola\ud800 quiero darme de baja"},
                      ensure_ascii=True).encode()
    status, reply = post_raw(stack, body)
    assert status == 200
    replies: list[dict[str, Any]] = json.loads(reply)
    assert replies and all("Traceback" not in (r.get("text") or "") for r in replies)
    assert "Traceback" not in stack.logs("rasa", 400)
    with sqlite3.connect(stack.tracker_db) as conn:
        [(count,)] = conn.execute("SELECT count(*) FROM events WHERE sender_id = ? AND "
                                  "type_name = 'user'", ("rest-surrogate-text",)).fetchall()
    assert count == 1, "the message is stored, in the REST namespace"


@pytest.fixture(scope="session")
def twilio_stack() -> Any:
    yield from shared_twilio_stack()


def test_rest_cannot_continue_a_customers_sms_conversation(twilio_stack: TwilioStack) -> None:
    """John texts (his number proves who he is); a REST caller then uses ``sms-<his number>``
    as its sender and asks to cancel: it is a new anonymous REST conversation."""
    caller, stack = twilio_stack.caller, twilio_stack.stack
    reply = caller.post(SMS_WEBHOOK, sms_params(JOHN_PHONE, "hola"))
    assert reply.status == 200 and "John" in reply.body
    replies = " ".join(r.get("text") or "" for r in stack.rest(f"sms-{JOHN_PHONE}",
                                                              "quiero darme de baja ya"))
    assert "John" not in replies
    assert "cliente" in replies.lower(), replies  # asked who they are
    replies = " ".join(r.get("text") or "" for r in stack.rest(f"sms-{JOHN_PHONE}", "sí"))
    engine = create_engine(stack.database_url)
    with engine.connect() as conn:
        status = conn.execute(text(
            "SELECT s.status FROM subscriptions s JOIN customers c ON c.id = s.customer_id "
            "WHERE c.ref = 'C00002' ORDER BY s.id DESC LIMIT 1")).scalar_one()
    assert status == "active"
    with sqlite3.connect(stack.tracker_db) as conn:
        senders = {s for (s,) in conn.execute("SELECT DISTINCT sender_id FROM events")}
        sms_said = [json.loads(d).get("text") for (d,) in conn.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user'",
            (f"sms-{JOHN_PHONE}",))]
    assert f"rest-sms-{JOHN_PHONE}" in senders
    assert "quiero darme de baja ya" not in sms_said, "the SMS conversation never saw it"


def test_a_request_without_sender_is_refused_not_put_in_a_shared_conversation(stack: Stack) -> None:
    status, body = post_raw(stack, json.dumps({"message": "quiero darme de baja"}).encode())
    assert status == 400 and "sender" in body
    with sqlite3.connect(stack.tracker_db) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE sender_id IN ('default', 'rest-default')"
                            ).fetchone() == (0,)


def test_metadata_over_the_cap_is_refused_and_not_stored(stack: Stack) -> None:
    payload = {"sender": "big-metadata", "message": "hola", "metadata": {"x": "y" * 20_000}}
    status, body = post_raw(stack, json.dumps(payload).encode())
    assert status == 413 and "metadata" in body
    with sqlite3.connect(stack.tracker_db) as conn:
        assert conn.execute("SELECT count(*) FROM events WHERE sender_id = 'rest-big-metadata'").fetchone() == (0,)
    assert stack.rest("small-metadata", "hola", metadata={"page": "/baja"}), "normal metadata still works"


def test_a_verified_rest_conversation_is_not_anyones_who_sends_its_id(stack: Stack) -> None:
    sender = "bound-to-its-caller"
    for text_ in ("quiero darme de baja", "C00005", "50001"):
        status, replies = post_from(stack, "127.0.0.1", {"sender": sender, "message": text_})
        assert status == 200
    code = stack.texted_code("C00005")  # the code texted to Carlos's (demo) phone
    assert code, said(replies)
    status, replies = post_from(stack, "127.0.0.1", {"sender": sender, "message": code})
    assert "Carlos" in said(replies), said(replies)  # verified: greeted by name
    # someone else sends the same id from another address: asked who they are, nothing changes
    status, replies = post_from(stack, "127.0.0.2", {"sender": sender, "message": "no, cancélalo ya"})
    assert status == 200
    assert "número de cliente" in said(replies), said(replies)
    engine = create_engine(stack.env["DATABASE_URL"])
    with engine.connect() as conn:
        statuses = conn.execute(text("SELECT status FROM retention_cases WHERE conversation_id = :c"),
                                {"c": "rest-" + sender}).scalars().all()
        confirmations = conn.execute(text(
            "SELECT count(*) FROM retention_cases WHERE conversation_id = :c AND status = 'cancelled'"),
            {"c": "rest-" + sender}).scalar_one()
    assert statuses and confirmations == 0, statuses
