"""Identity check of an anonymous visitor (rules in ``bot.verification``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import conversation_of, emit, latest_text, service, slots_from
from actions.handoff import follow_up_if_angry, hand_off, handoff_instead
from actions.session import identity_slots
from bot.handoff import in_office_hours, now_utc
from bot.policy import load_policy
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
            # A visitor who asked to cancel at once is let go, whatever the account's value.
            if not svc.cancel_requested(verified) and not conv.pending and handoff_instead(
                    tracker, step.customer_id, starting=True) == "high_value" and in_office_hours(
                    load_policy().handoff, now_utc()):
                high_value = True
            else:
                high_value = False
                turn = svc.after_verification(verified)
                events += emit(turn, dispatcher)
        if not high_value and turn.handoff:
            return events + hand_off(dispatcher, tracker, turn.handoff, customer_id=step.customer_id)
        if high_value:  # a valuable account that wants to leave: a person takes over now
            return events + hand_off(dispatcher, tracker, "high_value", customer_id=step.customer_id)
        follow_up_if_angry(dispatcher, tracker, turn, customer_id=step.customer_id)
        return events
