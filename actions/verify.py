"""Identity check of an anonymous visitor (rules in ``bot.verification``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import conversation_of, emit, latest_text, service, slots_from
from actions.session import identity_slots
from bot.verification import answer


class ActionVerifyIdentity(Action):
    def name(self) -> Text:
        return "action_verify_identity"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        conv = conversation_of(tracker)
        with service() as (session, svc):
            step = answer(session, conv.stage or "verify_ref", latest_text(tracker),
                          tracker.get_slot("verify_ref"), int(tracker.get_slot("verify_attempts") or 0))
            for response in step.responses:
                dispatcher.utter_message(response=response, **step.params)
            events: List[EventType] = [SlotSet("verify_ref", step.ref),
                                       SlotSet("verify_attempts", float(step.attempts))]
            if step.customer_id is None:
                return events + [SlotSet("retention_stage", step.stage)]
            profile = identity_slots({"customer_ref": step.ref, "authenticated": True,
                                      "language": conv.language})
            events += slots_from(profile)
            verified = replace(conv, customer_id=step.customer_id, verified=True, stage=None)
            return events + emit(svc.after_verification(verified), dispatcher)
