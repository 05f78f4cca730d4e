"""Personalised action plan: two questions, usage data, then the written plan."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import conversation_of, emit, latest_text, service
from bot.action_plans import plan_url, render_text, write_plan
from bot.models import Customer
from bot.retention import Turn


class ActionStartActionPlan(Action):
    """The customer asks for a plan instead of an offer (or before any offer)."""

    def name(self) -> Text:
        return "action_start_action_plan"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        conv = conversation_of(tracker)
        with service() as (_, svc):
            if not conv.verified:
                return emit(svc.ask_identity(Turn()), dispatcher)
            case = svc.open_case(conv)
            svc.decline_pending(case)
            if case.reason is None:
                case.reason = "low_usage"
                case.reason_verbatim = latest_text(tracker)
            dispatcher.utter_message(response="utter_ask_plan_goal")
            return [SlotSet("case_id", float(case.id)), SlotSet("retention_stage", "plan_goal")]


class ActionPlanAnswer(Action):
    def name(self) -> Text:
        return "action_plan_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        conv = conversation_of(tracker)
        text = latest_text(tracker)
        if conv.stage == "plan_goal":
            dispatcher.utter_message(response="utter_ask_plan_obstacle")
            return [SlotSet("plan_goal", text[:1000]), SlotSet("retention_stage", "plan_obstacle")]
        with service() as (session, svc):
            case = svc.open_case(conv)
            customer = session.get(Customer, case.customer_id) if case.customer_id else None
            if customer is None:
                return emit(svc.ask_identity(Turn()), dispatcher)
            plan = write_plan(session, case, customer, tracker.get_slot("plan_goal") or "",
                              text, conv.language)
            dispatcher.utter_message(response="utter_action_plan", reference=plan.reference,
                                     plan_text=render_text(plan), plan_url=plan_url(plan.token))
        return [SlotSet("retention_stage", "closed"), SlotSet("plan_goal", None)]
