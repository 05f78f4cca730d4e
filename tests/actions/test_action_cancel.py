"""The "just cancel it" action reads the model's confidence from the tracker (real SDK objects, real DB)."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.retention import ActionAcceptOffer, ActionCancelSubscription
from bot.core.customers import find_customer
from bot.storage.db import session_factory
from bot.storage.models import Customer, HandoffTicket


def run(sender: str, customer_id: int, confidence: float,
        text: str = "cancel that request now") -> tuple[list[str], dict]:
    """The action on a first "just cancel it" (``text``; "/cancel_firm" is a pressed button)."""
    tracker = Tracker(
        sender_id=sender, slots={"customer_id": float(customer_id), "verified": True, "language": "en",
                                 "retention_stage": None},
        latest_message={"text": text, "intent": {"name": "cancel_firm",
                                                                      "confidence": confidence}},
        events=[], paused=False, followup_action=None, active_loop={}, latest_action_name=None)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionCancelSubscription().run(dispatcher, tracker, {}))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return [m["response"] for m in dispatcher.messages], slots


@pytest.mark.parametrize("confidence, replies, status", [
    (0.5, ["utter_confirm_cancel"], "active"),
    (0.0, ["utter_confirm_cancel"], "active"),
    (0.95, ["utter_confirm_cancel"], "active"),  # typed: read back however sure (data/retention.yml)
    (1.0, ["utter_confirm_cancel"], "active"),  # typed, even at full confidence
])
def test_first_firm_cancel_is_read_back_unless_it_was_a_button(
        db_url: str, monkeypatch: pytest.MonkeyPatch,
        confidence: float, replies: list[str], status: str) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    with session_factory(db_url)() as session:
        customer = find_customer(session, ref="C00003")
        customer_id, before = customer.id, customer.current_subscription.status
    assert before == "active"
    said, slots = run("conv-firm", customer_id, confidence)
    assert said == replies
    with session_factory(db_url)() as session:
        assert session.get(Customer, customer_id).current_subscription.status == status
    if status == "active":
        assert slots.get("retention_stage") == "confirm_cancel"


def test_pressed_cancel_button_is_processed_at_once(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    with session_factory(db_url)() as session:
        customer_id = find_customer(session, ref="C00003").id
    said, _ = run("conv-button", customer_id, 1.0, text="/cancel_firm")
    assert said == ["utter_cancel_confirmed"]
    with session_factory(db_url)() as session:
        assert session.get(Customer, customer_id).current_subscription.status == "cancelled"


def test_yes_to_the_read_back_of_an_angry_demand_cancels_and_a_person_follows_up(
        db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    with session_factory(db_url)() as session:
        customer_id = find_customer(session, ref="C00003").id
    demand = "ESTO ES UNA VERGÜENZA, SOIS UNOS LADRONES, QUIERO LA BAJA YA"
    said, slots = run("conv-angry", customer_id, 0.9, text=demand)
    assert said == ["utter_confirm_cancel"] and slots["retention_stage"] == "confirm_cancel"
    tracker = Tracker(
        sender_id="conv-angry", slots={"customer_id": float(customer_id), "verified": True, "language": "es",
                                       "retention_stage": "confirm_cancel"},
        latest_message={"text": "sí", "intent": {"name": "affirm", "confidence": 0.99}},
        events=[{"event": "user", "text": demand}, {"event": "bot", "text": "¿...?"},
                {"event": "user", "text": "sí"}],
        paused=False, followup_action=None, active_loop={}, latest_action_name=None)
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAcceptOffer().run(dispatcher, tracker, {}))
    assert [m["response"] for m in dispatcher.messages] == ["utter_cancel_confirmed", "utter_angry_followup"]
    with session_factory(db_url)() as session:
        assert session.get(Customer, customer_id).current_subscription.status == "cancelled"
        ticket = session.scalar(select(HandoffTicket).where(HandoffTicket.conversation_id == "conv-angry"))
        assert ticket.trigger == "angry" and ticket.sentiment == "negative"
        assert ticket.summary["last_message"] == demand  # the demand, not the "sí"


def test_calm_yes_to_the_read_back_opens_no_ticket(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    with session_factory(db_url)() as session:
        customer_id = find_customer(session, ref="C00003").id
    run("conv-calm", customer_id, 0.9)
    tracker = Tracker(
        sender_id="conv-calm", slots={"customer_id": float(customer_id), "verified": True, "language": "en",
                                      "retention_stage": "confirm_cancel"},
        latest_message={"text": "yes", "intent": {"name": "affirm", "confidence": 0.99}},
        events=[{"event": "user", "text": "cancel that request now"}, {"event": "user", "text": "yes"}],
        paused=False, followup_action=None, active_loop={}, latest_action_name=None)
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionAcceptOffer().run(dispatcher, tracker, {}))
    assert [m["response"] for m in dispatcher.messages] == ["utter_cancel_confirmed"]
    with session_factory(db_url)() as session:
        assert session.scalar(select(HandoffTicket).where(HandoffTicket.conversation_id == "conv-calm")) is None
