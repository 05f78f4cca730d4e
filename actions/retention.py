"""Actions of the hot-retention conversation (rules live in ``bot.core.retention``)."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import Action, conversation_of, emit, latest_text, reason_from_intent, service
from actions.handoff import follow_up_if_angry, hand_off, handoff_instead, opening_events, turn_after_opening
from bot.core.customer_statements import mentioned_reason
from bot.core.handoff import person_available_now
from bot.core.vocabulary import Stage


class ActionStartRetention(Action):
    def name(self) -> Text:
        return "action_start_retention"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        _, reason = reason_from_intent(tracker.get_intent_of_latest_message())
        reason = reason or mentioned_reason(latest_text(tracker))
        conv = conversation_of(tracker)
        instead = await opening_events(dispatcher, tracker)
        if instead is not None:
            return instead
        trigger = handoff_instead(tracker, conv.customer_id if conv.verified else None, starting=True)
        # In office hours a person takes over before any offer; out of hours the assistant goes on.
        person_now = bool(trigger) and person_available_now()
        with service() as (_, svc):
            turn = svc.start(conv, reason=reason, verbatim=latest_text(tracker) if reason else None,
                             make_offer=not person_now)
            events = emit(turn, dispatcher)
        if trigger and turn.stage != Stage.CLOSED:
            return events + await hand_off(dispatcher, tracker, trigger)
        return events


class ActionSetReason(Action):
    def name(self) -> Text:
        return "action_set_reason"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        _, reason = reason_from_intent(tracker.get_intent_of_latest_message())
        angry = handoff_instead(tracker, None, starting=False) == "angry"
        person_now = angry and person_available_now()
        with service() as (_, svc):
            turn = svc.set_reason(conversation_of(tracker), reason or "other", latest_text(tracker),
                                  make_offer=not person_now)
            events = emit(turn, dispatcher)
        if angry and turn.stage != Stage.CLOSED:
            return events + await hand_off(dispatcher, tracker, "angry")
        return events


class ActionReadAnswer(Action):
    """The customer answered a question (offer, read-back, reason, plan change): read it there."""

    def name(self) -> Text:
        return "action_read_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        intent = tracker.get_intent_of_latest_message()
        with service() as (_, svc):
            turn = svc.answer(conversation_of(tracker), latest_text(tracker), intent)
            events = emit(turn, dispatcher)
        if turn.handoff:
            return events + await hand_off(dispatcher, tracker, turn.handoff)
        await follow_up_if_angry(dispatcher, tracker, turn)
        return events


class ActionAcceptOffer(Action):
    def name(self) -> Text:
        return "action_accept_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events, turn = await turn_after_opening(dispatcher, tracker, lambda svc, conv: svc.accept(conv))
        if turn is not None:  # "yes" to the read-back of an angry demand
            await follow_up_if_angry(dispatcher, tracker, turn)
        return events


class ActionDeclineOffer(Action):
    def name(self) -> Text:
        return "action_decline_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events, _ = await turn_after_opening(dispatcher, tracker, lambda svc, conv: svc.decline(conv))
        return events


class ActionCancelSubscription(Action):
    def name(self) -> Text:
        return "action_cancel_subscription"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        confidence = ((tracker.latest_message or {}).get("intent") or {}).get("confidence")
        text = latest_text(tracker)
        events, turn = await turn_after_opening(dispatcher, tracker, lambda svc, conv: svc.firm_cancel(
            conv, 1.0 if confidence is None else float(confidence),
            pressed=text.startswith("/"), text=text))  # "/...": a button's payload
        if turn is not None:
            await follow_up_if_angry(dispatcher, tracker, turn)
        return events


class ActionKeepService(Action):
    def name(self) -> Text:
        return "action_keep_service"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        with service() as (_, svc):
            return emit(svc.keep(conversation_of(tracker)), dispatcher)
