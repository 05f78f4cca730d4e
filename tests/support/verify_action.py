"""One answer of an anonymous visitor to the identity check, run through the real action."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.verify import ActionVerifyIdentity


def run_verify(sender: str, stage: str, text: str, ref: str | None,
               source: str = "rest:203.0.113.20", channel: str = "rest") -> tuple[list[str], dict[str, Any]]:
    """The responses and slots of ``ActionVerifyIdentity`` for ``text`` at ``stage``, as the REST
    or web channel hands the message to the action."""
    tracker = Tracker(
        sender_id=sender, slots={"language": "es", "retention_stage": stage, "verify_ref": ref,
                                 "verify_attempts": 0.0},
        latest_message={"text": text, "intent": {"name": "nlu_fallback", "confidence": 0.3},
                        "metadata": {"channel": channel, "source": source}},
        events=[{"event": "user", "text": "quiero darme de baja"}, {"event": "user", "text": text}],
        paused=False, followup_action=None, active_loop={}, latest_action_name=None)
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionVerifyIdentity().run(dispatcher, tracker, {}))
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return [m.get("response") or "" for m in dispatcher.messages], slots
