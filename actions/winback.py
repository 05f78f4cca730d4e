"""Answers to a cold (win-back) SMS: rules in ``bot.core.campaign_replies``.

A "sí"/"no" outside any question in the conversation goes here too: whether a win-back offer is
waiting is read from the database, not from the conversation, because the SMS was sent by the
campaign runner, outside Rasa.
"""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import Action, conversation_of, last_bot_response, service
from actions.handoff import hand_off, turn_after_opening


class ActionWinbackAccept(Action):
    """A "yes" with no question pending: a win-back offer's, or a message misread as yes."""

    def name(self) -> Text:
        return "action_winback_accept"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        with service() as (_, svc):
            person = svc.yes_to_a_person(conversation_of(tracker), last_bot_response(tracker))
        if person is not None:  # "sí" to "si lo prefieres, te paso con una persona"
            return await hand_off(dispatcher, tracker, person.handoff or "asked")
        events, _ = await turn_after_opening(dispatcher, tracker, lambda svc, conv: svc.winback(conv, accept=True))
        return events


class ActionWinbackDecline(Action):
    """A "no" with no question pending: a win-back offer's, or a message misread as no."""

    def name(self) -> Text:
        return "action_winback_decline"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        events, _ = await turn_after_opening(dispatcher, tracker, lambda svc, conv: svc.winback(conv, accept=False))
        return events
