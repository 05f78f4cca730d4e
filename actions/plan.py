"""Personalised action plan: two questions (a form), usage data, then the written plan."""

from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import conversation_of, service
from bot.action_plans import plan_url, render_text, write_plan
from bot.models import Customer


class ActionStartActionPlan(Action):
    """The customer asks for a plan instead of an offer (or before any offer)."""

    def name(self) -> Text:
        return "action_start_action_plan"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        conv = conversation_of(tracker)
        if not conv.verified:
            dispatcher.utter_message(response="utter_need_verification")
            return [SlotSet("retention_stage", "verify")]
        with service() as (_, svc):
            case = svc.open_case(conv)
            svc._decline_pending(case)
            if case.reason is None:
                case.reason = "low_usage"
                case.reason_verbatim = (tracker.latest_message or {}).get("text")
            return [SlotSet("case_id", float(case.id)), SlotSet("retention_stage", "action_plan")]


class ActionWriteActionPlan(Action):
    def name(self) -> Text:
        return "action_write_action_plan"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[EventType]:
        conv = conversation_of(tracker)
        with service() as (session, svc):
            case = svc.open_case(conv) if svc.current_case(conv) is None else svc.current_case(conv)
            customer = session.get(Customer, case.customer_id) if case.customer_id else None
            if customer is None:
                dispatcher.utter_message(response="utter_need_verification")
                return [SlotSet("retention_stage", "verify")]
            plan = write_plan(session, case, customer, tracker.get_slot("plan_goal") or "",
                              tracker.get_slot("plan_obstacle") or "", conv.language)
            dispatcher.utter_message(response="utter_action_plan", reference=plan.reference,
                                     plan_text=render_text(plan), plan_url=plan_url(plan.token))
        return [SlotSet("retention_stage", "closed"), SlotSet("plan_goal", None),
                SlotSet("plan_obstacle", None)]
