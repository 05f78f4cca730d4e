"""A hanging action server: the first action waits out ACTION_TIMEOUT_SECONDS, the next ones of
the same turn do not wait again (the second probe saw a new conversation wait twice: its session
start, then its first action)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.channels import faults
from bot.storage import outbox


class Hanging:
    """Stands for a RemoteAction whose server never answers; counts the calls that reached it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name


def test_after_one_timeout_the_next_action_fails_at_once(monkeypatch: pytest.MonkeyPatch, private_outbox: Any) -> None:
    monkeypatch.setenv("ACTION_TIMEOUT_SECONDS", "1")
    reached: list[str] = []

    async def never_answers(self: Any, *_: Any) -> list[Any]:
        reached.append(self.name())
        await asyncio.sleep(3600)
        return []

    run = faults._remote_action_run(never_answers)
    tracker = DialogueStateTracker.from_events("rest-hang-1", [UserUttered("quiero darme de baja")])

    async def one_turn() -> tuple[list[Any], list[Any]]:
        with faults.turn():  # what faults.guarded does for every customer message
            first = await run(Hanging("action_start_retention"), None, None, tracker, None)
            second = await run(Hanging("action_read_answer"), None, None, tracker, None)
        return first, second

    first, second = asyncio.run(one_turn())
    assert reached == ["action_start_retention"], "the second action must not wait for the hung server"
    asyncio.run(one_turn())  # the next message tries the action server again
    assert reached == ["action_start_retention", "action_start_retention"]
    assert isinstance(first[0], BotUttered) and first[0].text == faults.fault_text("es")
    assert isinstance(second[0], BotUttered)  # the same polite reply, at once
    kept = [e for e in outbox.entries(path=private_outbox) if e.conversation_id == "rest-hang-1"]
    assert kept and "action server" in (kept[0].reason or "")
