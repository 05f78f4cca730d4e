"""Personalised action plan: two questions, usage data, then the written plan."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import Action, conversation_of, emit, latest_text, service
from actions.handoff import turn_after_opening
from bot.core.action_plans import plan_url, render_text, write_plan
from bot.core.conversation import Turn
from bot.core.vocabulary import Stage
from bot.storage.models import Customer

logger = logging.getLogger(__name__)


class ActionStartActionPlan(Action):
    """The customer asks for a plan instead of an offer (or before any offer)."""

    def name(self) -> Text:
        return "action_start_action_plan"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        text = latest_text(tracker)  # "quiero quitar la tele" is a plan change (the opening reading)
        events, _ = await turn_after_opening(dispatcher, tracker, lambda svc, conv: svc.start_action_plan(conv, text))
        return events


class ActionPlanAnswer(Action):
    def name(self) -> Text:
        return "action_plan_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        conv = conversation_of(tracker)
        text = latest_text(tracker)
        if conv.stage == Stage.PLAN_GOAL:
            dispatcher.utter_message(response="utter_ask_plan_obstacle")
            return [SlotSet("plan_goal", text[:1000]), SlotSet("retention_stage", Stage.PLAN_OBSTACLE)]
        with service() as (session, svc):
            case = svc.open_case(conv)
            customer = session.get(Customer, case.customer_id) if case.customer_id else None
            if customer is None:
                return emit(svc.ask_identity(Turn()), dispatcher)
            plan = write_plan(session, case, customer, tracker.get_slot("plan_goal") or "",
                              text, conv.language)
            reference, plan_text, url = plan.reference, render_text(plan), plan_url(plan.token)
            customer_id = customer.id
        if conv.channel != "voice":
            dispatcher.utter_message(response="utter_action_plan", reference=reference,
                                     plan_text=plan_text, plan_url=url)
        elif await send_plan_by_sms(customer_id, conv.language, reference, url):
            dispatcher.utter_message(response="utter_action_plan_sms", reference=reference)
        else:  # no consent or no SMS set-up: the plan read out briefly, no link to spell out
            dispatcher.utter_message(response="utter_action_plan_voice", reference=reference,
                                     plan_text=plan_text.replace("\n- ", " ").replace("\n", " "))
        return [SlotSet("retention_stage", Stage.CLOSED), SlotSet("plan_goal", None)]


PLAN_SMS = {"es": "Nubia: tu plan de acción {reference} está aquí: {url}",
            "en": "Nubia: your action plan {reference} is here: {url}"}


async def send_plan_by_sms(customer_id: int, language: str, reference: str, url: str) -> bool:
    """On the phone the link is texted (service SMS, with consent); False when it cannot be."""
    from bot.messaging.sms import SmsError, SmsSender

    try:
        sender = SmsSender.from_env()
        await sender.send(body=PLAN_SMS["en" if language == "en" else "es"].format(
            reference=reference, url=url), purpose="service", customer_id=customer_id)
    except SmsError as exc:
        logger.info("Action plan %s not texted: %s", reference, exc)
        return False
    return True
