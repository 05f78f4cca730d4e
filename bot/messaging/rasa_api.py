"""What an agent does with a handed-off conversation: reply into it, and hand it back.

Both go through Rasa's HTTP API (``rasa run --enable-api --auth-token``): a ``bot`` event
appended with ``output_channel=latest`` reaches the customer on the channel they used; a
``resume`` event un-pauses the assistant. The ticket is updated in the project database.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.config import settings
from bot.core.vocabulary import TicketStatus
from bot.storage.models import HandoffTicket, utcnow

MAX_REPLY_CHARS = 2000


class AgentApiError(RuntimeError):
    """Rasa could not be reached or refused the request."""


def rasa_api_url() -> str:
    return settings.rasa_api_url()


def _post_events(conversation_id: str, events: list[dict[str, Any]], token: str,
                 base_url: str | None = None) -> None:
    quoted = urllib.parse.quote(conversation_id, safe="")
    url = (f"{base_url or rasa_api_url()}/conversations/{quoted}/tracker/events"
           f"?output_channel=latest&execute_side_effects=true&include_events=NONE"
           f"&token={urllib.parse.quote(token)}")
    req = urllib.request.Request(url, data=json.dumps(events).encode("utf-8"),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            if resp.status >= 300:
                raise AgentApiError(f"Rasa answered {resp.status}")
    except urllib.error.HTTPError as exc:
        raise AgentApiError(f"Rasa refused the request ({exc.code})") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise AgentApiError(f"Rasa is not reachable at {base_url or rasa_api_url()}: {exc}") from exc


def _ticket(session: Session, conversation_id: str) -> HandoffTicket | None:
    return session.scalar(select(HandoffTicket).where(HandoffTicket.conversation_id == conversation_id)
                          .order_by(HandoffTicket.id.desc()).limit(1))


def reply(session: Session, conversation_id: str, text: str, agent: str, token: str,
          base_url: str | None = None) -> HandoffTicket | None:
    """Send ``text`` to the customer as the agent; the ticket moves to in_progress."""
    text = (text or "").strip()
    if not text:
        raise ValueError("the reply is empty")
    if len(text) > MAX_REPLY_CHARS:
        raise ValueError(f"the reply is longer than {MAX_REPLY_CHARS} characters")
    _post_events(conversation_id, [{"event": "bot", "text": text,
                                    "metadata": {"agent": agent[:80]}}], token, base_url)
    ticket = _ticket(session, conversation_id)
    if ticket is not None and ticket.status in (TicketStatus.WAITING, TicketStatus.CALLBACK):
        ticket.status, ticket.assigned_to = TicketStatus.IN_PROGRESS, agent[:80]
    return ticket


def resume(session: Session, conversation_id: str, agent: str, token: str,
           base_url: str | None = None) -> HandoffTicket | None:
    """Hand the conversation back to the assistant and resolve the ticket."""
    # `action_listen` closes the paused turn, so the customer's next message is a new turn.
    _post_events(conversation_id, [{"event": "resume"}, {"event": "action", "name": "action_listen"}],
                 token, base_url)
    ticket = _ticket(session, conversation_id)
    if ticket is not None and ticket.status != TicketStatus.RESOLVED:
        ticket.status, ticket.resolved_at = TicketStatus.RESOLVED, utcnow()
        ticket.assigned_to = ticket.assigned_to or agent[:80]
    return ticket
