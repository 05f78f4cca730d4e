"""The "just cancel it" action reads the model's confidence from the tracker (real SDK objects, real DB)."""

from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.retention import ActionCancelSubscription
from bot.customers import find_customer
from bot.db import session_factory
from bot.models import Customer
from tests.db_fixtures import db_url  # noqa: F401


def run(sender: str, customer_id: int, confidence: float) -> tuple[list[str], dict]:
    tracker = Tracker(
        sender_id=sender, slots={"customer_id": float(customer_id), "verified": True, "language": "en",
                                 "retention_stage": None},
        latest_message={"text": "cancel that request now", "intent": {"name": "cancel_firm",
                                                                      "confidence": confidence}},
        events=[], paused=False, followup_action=None, active_loop={}, latest_action_name=None)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionCancelSubscription().run(dispatcher, tracker, {}))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return [m["response"] for m in dispatcher.messages], slots


@pytest.mark.parametrize("confidence, replies, status", [
    (0.5, ["utter_confirm_cancel"], "active"),
    (0.0, ["utter_confirm_cancel"], "active"),
    (0.95, ["utter_cancel_confirmed"], "cancelled"),
])
def test_firm_cancel_action_asks_only_when_the_model_is_unsure(
        db_url: str, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
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
