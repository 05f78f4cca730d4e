"""Identity check of an anonymous visitor (rules in ``bot.core.verification``)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import Action, conversation_of, emit, latest_text, message_source, service, slots_from
from actions.handoff import follow_up_if_angry, hand_off, handoff_instead
from actions.session import identity_slots
from bot.core.handoff import person_available_now
from bot.core.process import VerificationPolicy, load_policy
from bot.core.verification import Attempt, IdentityStep, answer, code_sms, void_codes
from bot.core.vocabulary import Stage
from bot.messaging.sms import SmsError, SmsSender, sms_configured
from bot.storage.db import session_scope

logger = logging.getLogger(__name__)


def attempt_of(tracker: Tracker) -> Attempt:
    """Who answers: the source the channel saw (never a client's claim) and whether a code can
    be texted at all. Whatever the channel (REST, web chat, an SMS or call from a number on no
    account), only the code texted to the phone on file proves the identity."""
    return Attempt(source=message_source(tracker),
                   conversation_id=tracker.sender_id,
                   can_text=sms_configured(),
                   language=tracker.get_slot("language") or "es")


async def text_code(step: IdentityStep, who: Attempt, policy: VerificationPolicy) -> IdentityStep:
    """Send the step's one-time code; when it cannot be sent, the check ends with a way out."""
    if step.code is None or step.code_customer_id is None:
        return step
    try:
        await SmsSender.from_env().send(body=code_sms(step.code, who.language, policy),
                                        purpose="service", customer_id=step.code_customer_id)
        return step
    except SmsError as exc:
        logger.warning("Could not text a verification code (%s): %s", who.conversation_id, exc)
        await asyncio.to_thread(_void, who.conversation_id)
        return IdentityStep(responses=["utter_verify_code_unavailable"], stage=None,
                            attempts=step.attempts, failed=True)


def _void(conversation_id: str) -> None:
    with session_scope() as session:
        void_codes(session, conversation_id)


class ActionVerifyIdentity(Action):
    def name(self) -> Text:
        return "action_verify_identity"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        conv = conversation_of(tracker)
        policy = load_policy().verification
        who = attempt_of(tracker)
        with service() as (session, _):
            step = answer(session, conv.stage or Stage.VERIFY_REF, latest_text(tracker),
                          tracker.get_slot("verify_ref"),
                          int(tracker.get_slot("verify_attempts") or 0), who, policy)
        step = await text_code(step, who, policy)
        events = self._say(dispatcher, step)
        if step.customer_id is None:
            return events
        events = events[:-1]  # the stage is the retention conversation's from here on
        with service() as (session, svc):
            profile = identity_slots({"customer_ref": step.ref, "authenticated": True,
                                      "language": conv.language})
            events += slots_from(profile)
            events.append(SlotSet("verified_source", who.source))
            verified = replace(conv, customer_id=step.customer_id, verified=True, stage=None)
            # A visitor who asked to cancel at once is let go, whatever the account's value.
            if not svc.cancel_requested(verified) and not conv.pending and handoff_instead(
                    tracker, step.customer_id, starting=True) == "high_value" and person_available_now():
                high_value = True
            else:
                high_value = False
                turn = svc.after_verification(verified)
                events += emit(turn, dispatcher)
        if not high_value and turn.handoff:
            return events + await hand_off(dispatcher, tracker, turn.handoff, customer_id=step.customer_id)
        if high_value:  # a valuable account that wants to leave: a person takes over now
            return events + await hand_off(dispatcher, tracker, "high_value", customer_id=step.customer_id)
        await follow_up_if_angry(dispatcher, tracker, turn, customer_id=step.customer_id)
        return events

    @staticmethod
    def _say(dispatcher: CollectingDispatcher, step: IdentityStep) -> List[EventType]:
        for response in step.responses:
            dispatcher.utter_message(response=response, **step.params)
        return [SlotSet("verify_ref", step.ref), SlotSet("verify_attempts", float(step.attempts)),
                SlotSet("retention_stage", step.stage)]
