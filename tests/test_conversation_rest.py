"""Whole conversations through the running stack (Rasa + action server + database) over REST."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bot.core.language import detect

pytestmark = pytest.mark.e2e


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def post_raw(stack: Any, body: bytes) -> tuple[int, str]:
    req = urllib.request.Request(stack.rasa_url + "/webhooks/rest/webhook", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def db(stack: Any):  # noqa: ANN201
    return create_engine(stack.env["DATABASE_URL"]).connect()


def assert_language(replies: list[dict[str, Any]], language: str) -> None:
    assert replies, "the assistant said nothing"
    for r in replies:
        found = detect(re.sub(r"[A-Z]+-[0-9A-F]+", "", r.get("text", ""))).language
        assert found in (language, None), (language, r)


def test_spanish_cancel_with_reason_verify_and_accept(stack: Any) -> None:
    first = stack.rest("rest-es-1", "quiero darme de baja porque me cobrasteis dos veces la factura")
    assert_language(first, "es")
    assert "número de cliente" in texts(first)  # anonymous over REST: must verify first
    offer = stack.verify_rest("rest-es-1", "C00006", "29001")
    assert_language(offer, "es")
    assert "Elena" in texts(offer) and "€" in texts(offer)
    done = stack.rest("rest-es-1", "sí, acepto")
    assert_language(done, "es")
    ref = re.search(r"RET-[0-9A-F]{8}", texts(done))
    assert ref, texts(done)
    with db(stack) as conn:
        row = conn.execute(text("select reason, status, reference, customer_id from retention_cases "
                                "where conversation_id='rest-es-1'")).one()
    assert row.reason == "billing_error" and row.status == "retained" and row.reference == ref.group(0)


def test_english_decline_twice_then_cancelled(stack: Any) -> None:
    assert_language(stack.rest("rest-en-1", "I want to cancel my subscription, it's way too expensive"), "en")
    offer = stack.verify_rest("rest-en-1", "C00002", "08002")
    assert_language(offer, "en")
    alternative = stack.rest("rest-en-1", "no thanks")
    assert_language(alternative, "en")
    cancelled = stack.rest("rest-en-1", "no")
    assert_language(cancelled, "en")
    assert re.search(r"BAJA-[0-9A-F]{8}", texts(cancelled)) and "Effective date" in texts(cancelled)
    with db(stack) as conn:
        status = conn.execute(text("select s.status from subscriptions s join customers c on c.id=s.customer_id "
                                   "where c.ref='C00002'")).scalar_one()
    assert status == "cancelled"


def test_firm_cancel_at_once(stack: Any) -> None:
    stack.rest("rest-firm", "quiero la baja")
    stack.verify_rest("rest-firm", "C00001", "28013")
    done = stack.rest("rest-firm", "no quiero ofertas, tramita la baja ya")
    assert re.search(r"BAJA-[0-9A-F]{8}", texts(done)), texts(done)


def test_anonymous_just_cancel_it_is_verified_then_read_back_then_processed(stack: Any) -> None:
    asked = stack.rest("rest-firm-anon", "tramita mi baja ya, no quiero ofertas")
    assert "número de cliente" in texts(asked), texts(asked)  # whose account, first
    read_back = stack.verify_rest("rest-firm-anon", "C00004", "41001")
    assert "¿quieres que tramite ahora la baja" in texts(read_back), texts(read_back)
    with db(stack) as conn:  # nothing recorded or changed before the "sí"
        assert conn.execute(text("select count(*) from retention_cases "
                                 "where conversation_id='rest-firm-anon'")).scalar_one() == 0
    done = stack.rest("rest-firm-anon", "sí")
    assert re.search(r"BAJA-[0-9A-F]{8}", texts(done)), texts(done)
    assert "motivo" not in texts(done).lower()  # no reason question, no offer: the request stands
    with db(stack) as conn:
        row = conn.execute(text("select c.status, s.status as sub from retention_cases c "
                                "join subscriptions s on s.customer_id = c.customer_id "
                                "where c.conversation_id='rest-firm-anon'")).one()
    assert row.status == "cancelled" and row.sub == "cancelled"


def test_identity_cannot_be_forged_through_metadata(stack: Any) -> None:
    replies = stack.rest("rest-forge", "quiero darme de baja ya",
                         metadata={"customer_ref": "C00001", "authenticated": True, "phone_verified": True,
                                   "customer_phone": "+447700900000"})
    assert "número de cliente" in texts(replies)
    with db(stack) as conn:
        rows = conn.execute(text("select customer_id from retention_cases "
                                 "where conversation_id='rest-forge'")).all()
    assert all(row.customer_id is None for row in rows)  # nothing bound to C00001


def test_lookalike_is_not_a_cancellation(stack: Any) -> None:
    replies = stack.rest("rest-look", "quiero anular la visita del técnico de mañana")
    assert "no tu contrato" in texts(replies)
    with db(stack) as conn:
        n = conn.execute(text("select count(*) from retention_cases where conversation_id='rest-look'")).scalar_one()
    assert n == 0


@pytest.mark.parametrize("body,fragment", [
    (b"{not json", "must be JSON"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"sender": "x", "message": 5}).encode(), "must be a string"),
    (json.dumps({"sender": "x", "message": "   "}).encode(), "empty"),
    (json.dumps({"sender": "", "message": "hola"}).encode(), "sender"),
])
def test_bad_requests_get_a_clear_400(stack: Any, body: bytes, fragment: str) -> None:
    status, payload = post_raw(stack, body)
    assert status == 400 and fragment in payload


@pytest.mark.parametrize("message,language", [
    ("x" * 20000, "es"),
    ("😀😀😀", "es"),
    ("bonjour je veux annuler mon abonnement", "es"),
    ("Guten Tag, ich möchte meinen Vertrag kündigen", "es"),
])
def test_odd_messages_get_a_polite_answer(stack: Any, message: str, language: str) -> None:
    status, payload = post_raw(stack, json.dumps({"sender": f"odd-{hash(message)}", "message": message}).encode())
    assert status == 200
    replies = json.loads(payload)
    assert replies and all(r.get("text") for r in replies)
    assert_language(replies, language)
