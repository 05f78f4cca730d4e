"""Replaying the durable outbox (``bot.storage.outbox``) once the failed part is back: an
``action`` entry runs the same action code again on the stored action call; every entry ends
in a handoff ticket so that a person confirms the outcome to the customer. Run by
``python -m bot.cli.outbox replay --every 60`` (a process of ``make run``)."""

from __future__ import annotations

import logging
from pathlib import Path

from bot.storage import outbox

logger = logging.getLogger(__name__)


def _run_action(entry: outbox.Entry) -> list[str]:
    """Run the stored action call again; the texts it would have said (raises on failure)."""
    import asyncio

    from rasa_sdk.executor import ActionExecutor

    from actions.common import replaying

    executor = ActionExecutor()
    executor.register_package("actions")
    with replaying():
        result = asyncio.run(executor.run(entry.payload))
    return [r.get("text") or r.get("response") or "" for r in (result or {}).get("responses", [])]


def _confirmation_ticket(entry: outbox.Entry, outcome: str) -> None:
    """A person confirms to the customer what was (or could not be) done."""
    from bot.core.handoff import open_ticket
    from bot.storage.db import session_scope

    with session_scope() as session:
        open_ticket(session, conversation_id=entry.conversation_id or f"outbox-{entry.id}",
                    trigger="fault", channel=entry.channel or "unknown",
                    language=entry.language or "es", customer_id=entry.customer_id, case=None,
                    verbatim=(f"[kept {entry.created_at}: {entry.reason}] {entry.text or ''} "
                              f"-- {outcome} Confirm it to the customer by SMS or e-mail."))


def replay_once(path: Path | None = None) -> tuple[int, int]:
    """Apply pending entries: (applied, still pending). Never raises for one bad entry."""
    applied = waiting = 0
    for entry in outbox.entries(outbox.PENDING, path):
        try:
            if entry.kind == "action":
                said = _run_action(entry)
                outcome = "Applied after the fault. The assistant would have said: " + \
                    " | ".join(t for t in said if t)
            else:
                outcome = "Nobody answered the customer at the time."
            _confirmation_ticket(entry, outcome)
        except Exception as exc:  # noqa: BLE001 - kept for the next run, with its error
            status = outbox.FAILED if entry.attempts + 1 >= outbox.MAX_ATTEMPTS else outbox.PENDING
            outbox.mark(entry.id, status, error=f"{type(exc).__name__}: {exc}"[:500], path=path)
            waiting += status == outbox.PENDING
            logger.warning("Outbox entry %s not applied yet: %s", entry.id, exc)
            continue
        outbox.mark(entry.id, outbox.APPLIED, outcome=outcome[:2000], path=path)
        applied += 1
    return applied, waiting
