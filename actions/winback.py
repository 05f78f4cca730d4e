"""Answers to a cold (win-back) SMS: rules in ``bot.campaigns``.

A "sí"/"no" outside any question in the conversation goes here too: whether a win-back offer is
waiting is read from the database, not from the conversation, because the SMS was sent by the
campaign runner, outside Rasa.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import conversation_of, service
from bot.campaigns import accept_winback, decline_winback, pending_winback, winback_offer_text


class ActionWinbackAccept(Action):
    def name(self) -> Text:
        return "action_winback_accept"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        conv = conversation_of(tracker)
        with service() as (session, _):
            cold = pending_winback(session, conv.customer_id) if conv.customer_id else None
            if cold is None:
                dispatcher.utter_message(response="utter_anything_else")
                return [SlotSet("retention_stage", None)]
            reference = accept_winback(session, cold)
            text = winback_offer_text(cold, conv.language)
        dispatcher.utter_message(response="utter_winback_accepted", reference=reference, offer_text=text)
        return [SlotSet("retention_stage", "closed")]


class ActionWinbackDecline(Action):
    def name(self) -> Text:
        return "action_winback_decline"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        conv = conversation_of(tracker)
        with service() as (session, _):
            cold = pending_winback(session, conv.customer_id) if conv.customer_id else None
            if cold is None:  # a plain "no" outside any question
                dispatcher.utter_message(response="utter_anything_else")
                return [SlotSet("retention_stage", None)]
            decline_winback(session, cold)
        dispatcher.utter_message(response="utter_winback_declined")
        return [SlotSet("retention_stage", "closed")]
