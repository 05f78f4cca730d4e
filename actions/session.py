"""Session start: identify the customer from the channel and load the profile slots."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted
from rasa_sdk.executor import CollectingDispatcher

from actions.common import Action, latest_text, slots_from
from actions.handoff import opening_events, turn_after_opening
from bot.core.alerts import take_notice
from bot.core.campaign_replies import pending_winback
from bot.core.customers import find_customer, profile_of
from bot.core.proactive import pending_contact
from bot.storage.db import session_scope

PROFILE_SLOTS = ("customer_id", "customer_ref", "customer_first_name", "plan_name",
                 "tenure_months", "monthly_revenue", "value_segment")


def identity_slots(metadata: Dict[Text, Any]) -> Dict[Text, Any]:
    """Profile slots for the identity the *channel* vouched for (never client-supplied text).

    The website channel sets ``customer_ref`` + ``authenticated`` from a verified JWT; the
    Twilio channels set ``customer_phone`` + ``phone_verified`` for a signed request from the
    number. Channels strip these keys from anything a client sends.
    """
    values: Dict[Text, Any] = {k: None for k in PROFILE_SLOTS}
    values["verified"] = False
    channel = metadata.get("channel")
    if channel:
        values["channel"] = channel
    language = metadata.get("language")
    if language in ("es", "en"):
        values["language"] = language
    ref = metadata.get("customer_ref") if metadata.get("authenticated") is True else None
    phone = metadata.get("customer_phone") if metadata.get("phone_verified") is True else None
    if not ref and not phone:
        return values
    with session_scope() as session:
        customer = (find_customer(session, ref=str(ref)) if ref
                    else find_customer(session, phone=str(phone)))
        if customer is None:
            return values
        profile = profile_of(customer)
        language = values.get("language") or profile.language
        values.update(
            customer_id=float(profile.customer_id), customer_ref=profile.ref,
            customer_first_name=profile.first_name,
            plan_name=profile.plan_name_en if language == "en" else profile.plan_name_es,
            tenure_months=float(profile.tenure_months),
            monthly_revenue=float(profile.monthly_revenue), value_segment=profile.value_segment,
            verified=True,
        )
        values.setdefault("language", profile.language)
        values["retention_stage"] = _winback_stage(session, customer.id)
    return values


def event_notice(customer_id: int, language: str) -> str | None:
    """What to tell a customer about a recent key event they were not told about (once)."""
    with session_scope() as session:
        return take_notice(session, customer_id, language)


def _winback_stage(session: Any, customer_id: int) -> Any:
    """A customer answering a cold (win-back) SMS: the conversation starts on that offer."""
    if pending_winback(session, customer_id) is not None or pending_contact(session, customer_id) is not None:
        return "winback"  # a yes/no to the offer of an SMS we sent (win-back or proactive)
    return None


class ActionSessionStart(Action):
    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        metadata = tracker.get_slot("session_started_metadata") or {}
        events: List[EventType] = [SessionStarted()]
        carried = {k: v for k, v in tracker.current_slot_values().items()
                   if k in ("language",) and v is not None}
        events += slots_from(carried)
        identity = identity_slots(metadata)
        events += slots_from(identity)
        events.append(ActionExecuted("action_listen"))
        if identity.get("customer_id") is not None:
            # A key event hit this customer (an outage, a double charge): the first reply says so.
            notice = event_notice(int(identity["customer_id"]), identity.get("language") or "es")
            if notice:
                dispatcher.utter_message(response="utter_event_notice", notice=notice)
        return events


class ActionGreet(Action):
    def name(self) -> Text:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        instead = await opening_events(dispatcher, tracker)  # "hola, me he arrepentido, anula la baja"
        if instead is not None:
            return instead
        if tracker.get_slot("customer_first_name"):
            dispatcher.utter_message(response="utter_greet_customer")
        else:
            dispatcher.utter_message(response="utter_greet")
        return []


#: the answer of each small-talk intent, when the message is what its intent says
REPLIES = {"goodbye": "utter_goodbye", "thanks": "utter_you_are_welcome",
           "bot_challenge": "utter_iamabot", "out_of_scope": "utter_out_of_scope",
           "dont_know": "utter_default"}


class ActionReply(Action):
    """Small talk, unless the words say more ("drop the TV, keep the rest" read as goodbye)."""

    def name(self) -> Text:
        return "action_reply"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        instead = await opening_events(dispatcher, tracker)
        if instead is not None:
            return instead
        dispatcher.utter_message(
            response=REPLIES.get(tracker.get_intent_of_latest_message() or "", "utter_default"))
        return []


class ActionNoteLookalike(Action):
    """Cancelling a visit, an order or a payment is not a cancellation of the service."""

    def name(self) -> Text:
        return "action_note_lookalike"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        text, plan_change = latest_text(tracker), tracker.get_intent_of_latest_message() == "change_plan"
        events, turn = await turn_after_opening(dispatcher, tracker, lambda svc, conv: (
            svc.urgent_request(conv, text) or (svc.plan_options(conv) if plan_change else None)))
        if turn is None and not events:
            dispatcher.utter_message(response="utter_cancel_other")
        return events


class ActionOtherRequest(Action):
    """Account requests the assistant does not handle itself; a lost SIM is urgent."""

    def name(self) -> Text:
        return "action_other_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        text = latest_text(tracker)
        events, turn = await turn_after_opening(dispatcher, tracker, lambda svc, conv: svc.urgent_request(conv, text))
        if turn is None and not events:
            dispatcher.utter_message(response="utter_other_request")
        return events
