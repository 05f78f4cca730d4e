"""The base of every action (``actions.common.Action``), tried with a real subclass."""

from __future__ import annotations


async def test_an_action_blocked_on_the_database_does_not_stop_the_action_server() -> None:
    """Actions reach the database synchronously (SQLAlchemy through bot.core): every ``run`` goes
    to a worker thread with its own event loop, so one action waiting on a locked database does
    not freeze the action server's loop, which serves the other conversations meanwhile."""
    import asyncio
    import time

    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions.common import Action

    class SlowAction(Action):
        def name(self) -> str:
            return "action_slow_for_test"

        async def run(self, dispatcher, tracker, domain):  # type: ignore[no-untyped-def]
            time.sleep(0.6)  # e.g. SQLite's busy timeout on a locked database
            dispatcher.utter_message(text="done")
            return []

    ticks = 0

    async def other_conversations() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    tracker = Tracker("t-slow", {}, {}, [], False, None, {}, None)
    dispatcher = CollectingDispatcher()
    ticker = asyncio.create_task(other_conversations())
    await SlowAction().run(dispatcher, tracker, {})
    ticker.cancel()
    assert [m["text"] for m in dispatcher.messages] == ["done"]
    assert ticks >= 20, f"the event loop ran only {ticks} times in 0.6 s"
