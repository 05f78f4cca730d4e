"""Verification of an anonymous visitor: customer number + postcode of the contract address."""

from __future__ import annotations

import re
from typing import Any, Dict, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.session import identity_slots
from bot.customers import find_customer
from bot.db import session_scope

REF = re.compile(r"\b[cC]\s?-?\s?(\d{1,5})\b")
POSTCODE = re.compile(r"\b(\d{5})\b")
MAX_TRIES = 3


class ValidateVerifyForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_verify_form"

    async def validate_verify_ref(self, slot_value: Any, dispatcher: CollectingDispatcher,
                                  tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        match = REF.search(str(slot_value or ""))
        if not match:
            dispatcher.utter_message(response="utter_ask_verify_ref")
            return {"verify_ref": None}
        return {"verify_ref": f"C{int(match.group(1)):05d}"}

    async def validate_verify_postcode(self, slot_value: Any, dispatcher: CollectingDispatcher,
                                       tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        match = POSTCODE.search(str(slot_value or ""))
        ref = tracker.get_slot("verify_ref")
        ok = False
        if match and ref:
            with session_scope() as session:
                customer = find_customer(session, ref=ref)
                ok = customer is not None and customer.postcode == match.group(1)
        if ok:
            values = identity_slots({"customer_ref": ref, "authenticated": True,
                                     "language": tracker.get_slot("language")})
            dispatcher.utter_message(response="utter_verified",
                                     customer_first_name=values["customer_first_name"])
            values["verify_postcode"] = match.group(1) if match else None
            return values
        tries = int(tracker.get_slot("verify_attempts") or 0) + 1
        if tries >= MAX_TRIES:
            # Give up politely: the form ends, and the flow explains how to continue.
            return {"verify_postcode": "failed", "verified": False, "verify_attempts": tries}
        dispatcher.utter_message(response="utter_verify_failed_retry")
        return {"verify_ref": None, "verify_postcode": None, "verify_attempts": tries}
