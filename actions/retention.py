"""Actions of the hot-retention conversation (rules live in ``bot.retention``)."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import conversation_of, emit, latest_text, reason_from_intent, service


class ActionStartRetention(Action):
    def name(self) -> Text:
        return "action_start_retention"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        _, reason = reason_from_intent(tracker.get_intent_of_latest_message())
        with service() as (_, svc):
            turn = svc.start(conversation_of(tracker), reason=reason,
                             verbatim=latest_text(tracker) if reason else None)
            return emit(turn, dispatcher)


class ActionSetReason(Action):
    def name(self) -> Text:
        return "action_set_reason"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        _, reason = reason_from_intent(tracker.get_intent_of_latest_message())
        with service() as (_, svc):
            turn = svc.set_reason(conversation_of(tracker), reason or "other", latest_text(tracker))
            return emit(turn, dispatcher)


class ActionClarifyReason(Action):
    def name(self) -> Text:
        return "action_clarify_reason"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        with service() as (_, svc):
            return emit(svc.clarify(conversation_of(tracker), latest_text(tracker)), dispatcher)


class ActionAcceptOffer(Action):
    def name(self) -> Text:
        return "action_accept_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        with service() as (_, svc):
            return emit(svc.accept(conversation_of(tracker)), dispatcher)


class ActionDeclineOffer(Action):
    def name(self) -> Text:
        return "action_decline_offer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        with service() as (_, svc):
            return emit(svc.decline(conversation_of(tracker)), dispatcher)


class ActionCancelSubscription(Action):
    def name(self) -> Text:
        return "action_cancel_subscription"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        with service() as (_, svc):
            return emit(svc.cancel(conversation_of(tracker)), dispatcher)


class ActionKeepService(Action):
    def name(self) -> Text:
        return "action_keep_service"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        with service() as (_, svc):
            return emit(svc.keep(conversation_of(tracker)), dispatcher)
