"""Handoff to a person (rules in ``bot.core.handoff``): tickets, pause, callback out of hours."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import Action, conversation_of, emit, latest_text, recent_user_texts, service
from bot.core.conversation import Conversation, Turn
from bot.core.handoff import handoff_trigger, is_angry, notify, open_ticket, retry_pending
from bot.core.i18n import format_opening
from bot.core.process import load_policy
from bot.core.retention import RetentionService
from bot.core.vocabulary import CaseStatus, TicketStatus
from bot.storage.db import session_scope
from bot.storage.models import HandoffTicket


def _notify(ticket_id: int, retry_others: bool) -> None:
    with session_scope() as session:
        ticket = session.get(HandoffTicket, ticket_id)
        if ticket is not None and notify(session, ticket, timeout=3.0) and retry_others:
            retry_pending(session, limit=5)  # the webhook is up again: deliver earlier failures too


async def deliver(ticket_id: int, retry_others: bool = True) -> None:
    """Tell the agents about a committed ticket (webhook, up to 3 s) off the event loop, so that
    other conversations on the action server are not held up meanwhile."""
    await asyncio.to_thread(_notify, ticket_id, retry_others)


async def hand_off(dispatcher: CollectingDispatcher, tracker: Tracker, trigger: str,
             customer_id: Optional[int] = None) -> List[EventType]:
    """Open the ticket and tell the customer what happens next; pause in office hours.

    ``customer_id`` names a customer verified in this very turn (not yet in the tracker's slots).
    """
    conv = conversation_of(tracker)
    if customer_id is not None:
        conv = replace(conv, customer_id=customer_id, verified=True)
    with service() as (session, svc):
        case = svc.current_case(conv)
        open_case = case if case is not None and case.status == CaseStatus.OPEN else None
        decision = open_ticket(session, conversation_id=conv.conversation_id, trigger=trigger,
                               channel=conv.channel, language=conv.language, verbatim=latest_text(tracker),
                               customer_id=conv.customer_id if conv.verified else None, case=open_case)
        ticket_id, in_office_hours, opening = decision.ticket.id, decision.in_office_hours, decision.opening
        leaving = conv.asked_to_leave or open_case is not None
    await deliver(ticket_id)
    if not in_office_hours:  # the cancellation is offered meanwhile only to someone who spoke of leaving
        dispatcher.utter_message(response="utter_handoff_callback" if leaving else "utter_handoff_callback_help",
                                 callback_time=format_opening(opening, conv.language))
        return []
    dispatcher.utter_message(response="utter_handoff")
    dispatcher.utter_message(json_message={"handoff": True})
    return [SlotSet("retention_stage", None), ConversationPaused()]


#: how many of the customer's latest messages count for "angry" when a cancellation completes
#: (the demand itself, then "yes" to the read-back and the three verification answers: customer
#: number, postcode and the texted code)
ANGRY_LOOKBACK = 5


def angry_demand(tracker: Tracker) -> Optional[str]:
    """The angry message among the customer's latest ones, if any."""
    return next((t for t in recent_user_texts(tracker, ANGRY_LOOKBACK) if is_angry(t)), None)


async def follow_up_if_angry(dispatcher: CollectingDispatcher, tracker: Tracker, turn: Turn,
                       customer_id: Optional[int] = None) -> None:
    """After a turn that processed a cancellation: a person follows up an angry customer."""
    if any(r.response == "utter_cancel_confirmed" for r in turn.replies):
        verbatim = angry_demand(tracker)
        if verbatim is not None:
            await follow_up_angry_cancellation(dispatcher, tracker, verbatim, customer_id)


async def follow_up_angry_cancellation(dispatcher: CollectingDispatcher, tracker: Tracker, verbatim: str,
                                 customer_id: Optional[int] = None) -> None:
    """An angry customer who insists on leaving is let go at once; a person follows up later."""
    conv = conversation_of(tracker)
    if customer_id is not None:
        conv = replace(conv, customer_id=customer_id, verified=True)
    with service() as (session, svc):
        decision = open_ticket(session, conversation_id=conv.conversation_id, trigger="angry",
                               channel=conv.channel, language=conv.language, verbatim=verbatim,
                               customer_id=conv.customer_id if conv.verified else None, case=svc.current_case(conv))
        if decision.ticket.status == TicketStatus.WAITING:
            decision.ticket.status = TicketStatus.CALLBACK  # nothing to take over: the cancellation is done
        ticket_id = decision.ticket.id
    await deliver(ticket_id, retry_others=False)
    dispatcher.utter_message(response="utter_angry_followup")


def handoff_instead(tracker: Tracker, conv_customer_id: Optional[int], starting: bool) -> Optional[str]:
    """The trigger that sends this turn to a person instead of the assistant, if any
    (``bot.core.handoff.handoff_trigger``)."""
    with service() as (session, _):
        return handoff_trigger(session, latest_text(tracker), conv_customer_id, starting=starting)


async def opening_events(dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[List[EventType]]:
    """The turn for a message that is not what its intent says (``RetentionService.opening``),
    or None when the intent's own action should go on."""
    with service() as (_, svc):
        turn = svc.opening(conversation_of(tracker), latest_text(tracker),
                           tracker.get_intent_of_latest_message())
    if turn is None:
        return None
    events = emit(turn, dispatcher)
    if turn.handoff:
        events += await hand_off(dispatcher, tracker, turn.handoff)
    return events


async def turn_after_opening(dispatcher: CollectingDispatcher, tracker: Tracker,
                             step: Callable[[RetentionService, Conversation], Optional[Turn]],
                             ) -> tuple[List[EventType], Optional[Turn]]:
    """The events of the turn for this message: the opening reading's (``opening_events``) when the
    message is not what its intent says, else ``step``'s, said. The turn is ``step``'s, or None
    when the opening reading answered or ``step`` had nothing to say (then nothing is said)."""
    instead = await opening_events(dispatcher, tracker)
    if instead is not None:
        return instead, None
    with service() as (_, svc):
        turn = step(svc, conversation_of(tracker))
        return (emit(turn, dispatcher) if turn is not None else []), turn


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        return await hand_off(dispatcher, tracker, "asked")


class ActionFallback(Action):
    """Rephrase request; after N turns in a row the assistant did not understand, a person."""

    def name(self) -> Text:
        return "action_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        streak = 0
        for event in reversed(tracker.events):
            if event.get("event") == "user":
                if (event.get("parse_data") or {}).get("intent", {}).get("name") == "nlu_fallback":
                    streak += 1
                else:
                    break
        instead = await opening_events(dispatcher, tracker)
        if instead is not None:
            return instead
        if streak >= load_policy().handoff.not_understood_turns:
            return await hand_off(dispatcher, tracker, "not_understood")
        dispatcher.utter_message(response="utter_default")
        return []
