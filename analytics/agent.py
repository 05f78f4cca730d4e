"""Agents answer handed-off customers from the dashboard: reply into the conversation, hand it back.

Routes (on the dashboard's Flask server, see :func:`register`)
    ``POST /agent/conversations/<conversation_id>/reply`` with ``text`` (form field or JSON body)
        sends ``text`` to the customer as the logged-in agent; the ticket goes to ``in_progress``.
    ``POST /agent/conversations/<conversation_id>/resume``
        hands the conversation back to the assistant; the ticket is ``resolved``.
    ``POST /agent/tickets/<ticket_id>/reply`` and ``/resume``
        the same, addressed by the handoff ticket's number: what the queue page's forms use, so that
        the page never carries an SMS or voice conversation id, which holds the caller's phone number.
        An agent who may not see contact data cannot address a conversation whose id holds a number
        (404): they cannot test a guessed number.

Both go through Rasa's HTTP API (:mod:`bot.messaging.rasa_api`) at ``RASA_API_URL`` (default
``http://localhost:5005``) with the token ``make run`` gives Rasa (:func:`bot.cli.run_rasa.rasa_api_token`).

Access
    A dashboard session (``analytics.app``'s login) with role agent, supervisor or admin: 401 without one,
    403 for another role. The session's CSRF token is required, as for Dash's callbacks: in the
    ``X-CSRFToken`` header (scripts) or, from the queue page's plain HTML forms, in a ``csrf_token`` field
    (403 when missing or wrong).

Answers
    JSON (``{"ok": true, "ticket": {...}}`` or ``{"error": "..."}``) unless a browser posts a form
    (``Accept: text/html``): then a 303 back to the queue on success, else a short HTML page with the error.
    400 on an empty or too long reply and on a conversation without an open handoff ticket, 502 when
    Rasa cannot be reached or refuses, 503 when the database is not available; never a 500.
"""

from __future__ import annotations

import html as html_lib
import logging
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from dash import dcc, html
from flask import Flask, Response, current_app, g, has_request_context, jsonify, request, session
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from analytics import session as logins
from analytics.lists import QueueRow
from analytics.tables import mask_conversation
from bot.cli.run_rasa import rasa_api_token
from bot.core.vocabulary import OPEN_TICKET_STATUSES
from bot.messaging.rasa_api import MAX_REPLY_CHARS, AgentApiError
from bot.messaging.rasa_api import reply as rasa_reply
from bot.messaging.rasa_api import resume as rasa_resume
from bot.storage.models import HandoffTicket

logger = logging.getLogger(__name__)

ENDPOINTS = frozenset({"agent_reply", "agent_resume", "agent_ticket_reply", "agent_ticket_resume"})
AGENT_ROLES = frozenset({"agent", "supervisor", "admin"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRFToken"
MAX_CONVERSATION_ID = 128  # HandoffTicket.conversation_id
CONTROL_STATUSES = ("waiting", "in_progress")  # tickets a person is (about to be) talking on


class AgentRequestError(Exception):
    """A refused request: the HTTP status and a message for the agent."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ============================================================================ routes


def register(server: Flask) -> None:
    """Add the agent routes to the dashboard's Flask server.

    The dashboard's page guard (``analytics.app._guard``) redirects anonymous requests to ``/login`` and
    agents to ``/queue``, which is right for pages and wrong for this API: ``/agent/...`` requests are
    dispatched before it, and the views check the session, role and CSRF token themselves.
    """
    server.add_url_rule("/agent/conversations/<path:conversation_id>/reply", "agent_reply", reply_view,
                        methods=["POST"])
    server.add_url_rule("/agent/conversations/<path:conversation_id>/resume", "agent_resume", resume_view,
                        methods=["POST"])
    server.add_url_rule("/agent/tickets/<int:ticket_id>/reply", "agent_ticket_reply", ticket_reply_view,
                        methods=["POST"])
    server.add_url_rule("/agent/tickets/<int:ticket_id>/resume", "agent_ticket_resume", ticket_resume_view,
                        methods=["POST"])
    server.before_request_funcs.setdefault(None, []).insert(0, _dispatch_agent_routes)


def _dispatch_agent_routes() -> Any:
    rule = request.url_rule  # anything else (other paths, a GET caught by Dash's pages) is left to the guard
    if rule is None or rule.endpoint not in ENDPOINTS:
        return None
    return current_app.dispatch_request()


def reply_view(conversation_id: str) -> Response:
    return _handle(conversation_id, "reply")


def resume_view(conversation_id: str) -> Response:
    return _handle(conversation_id, "resume")


def ticket_reply_view(ticket_id: int) -> Response:
    return _handle(None, "reply", ticket_id)


def ticket_resume_view(ticket_id: int) -> Response:
    return _handle(None, "resume", ticket_id)


def _handle(conversation_id: str | None, action: str, ticket_id: int | None = None) -> Response:
    try:
        user = _authorised_user()
        if conversation_id is None:
            conversation_id = _conversation_of_ticket(ticket_id)
        elif not user.may_open_by_id(conversation_id):
            raise AgentRequestError(404, "Unknown conversation.")
        text = _reply_text() if action == "reply" else ""
        ticket = _act(conversation_id, action, text, user.username)
    except AgentRequestError as exc:
        return _refusal(exc)
    logger.info("agent %s: %s on conversation %s (ticket %s is %s)", user.username, action,
                mask_conversation(conversation_id), ticket["id"], ticket["status"])
    if _wants_html():
        return Response(status=303, headers={"Location": logins.AGENT_HOME})
    shown = conversation_id if user.can_see_contact else mask_conversation(conversation_id)
    return jsonify({"ok": True, "action": action, "conversation_id": shown, "ticket": ticket})


def _conversation_of_ticket(ticket_id: int | None) -> str:
    if ticket_id is None or not 0 < ticket_id < 2**63:
        raise AgentRequestError(400, "Unknown ticket.")
    try:
        with logins.app_state().session() as s:
            ticket = s.get(HandoffTicket, ticket_id)
            if ticket is None:
                raise AgentRequestError(400, "Unknown ticket.")
            return ticket.conversation_id
    except SQLAlchemyError as exc:
        raise AgentRequestError(503, "The database is not available; try again in a moment.") from exc


def _authorised_user() -> logins.CurrentUser:
    user = logins.session_user(logins.app_state())
    if user is None:
        raise AgentRequestError(401, "Login required.")
    g.user = user
    if user.role not in AGENT_ROLES:
        raise AgentRequestError(403, "Your role may not talk to customers.")
    expected = session.get("csrf")
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    if not logins.same_secret(expected, sent):
        raise AgentRequestError(403, "Missing or wrong CSRF token: reload the queue page and try again.")
    return user


def _reply_text() -> str:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise AgentRequestError(400, 'The body must be a JSON object like {"text": "..."}.')
        value = body.get("text")
    else:
        value = request.form.get("text")
    if not isinstance(value, str) or not value.strip():
        raise AgentRequestError(400, "The reply is empty.")
    if len(value.strip()) > MAX_REPLY_CHARS:
        raise AgentRequestError(400, f"The reply is longer than {MAX_REPLY_CHARS} characters.")
    return value.strip()


def _open_ticket(session_: Session, conversation_id: str) -> HandoffTicket:
    if not conversation_id or len(conversation_id) > MAX_CONVERSATION_ID:
        raise AgentRequestError(400, "Unknown conversation.")
    ticket = session_.scalar(select(HandoffTicket).where(HandoffTicket.conversation_id == conversation_id)
                             .order_by(HandoffTicket.id.desc()).limit(1))
    if ticket is None:
        raise AgentRequestError(400, "Unknown conversation: it has no handoff ticket.")
    if ticket.status not in OPEN_TICKET_STATUSES:
        raise AgentRequestError(400, f"Ticket #{ticket.id} is {ticket.status}: the conversation was handed back "
                                     "to the assistant already.")
    return ticket


def _act(conversation_id: str, action: str, text: str, agent: str) -> dict[str, Any]:
    state = logins.app_state()
    try:
        with state.session() as s:
            _open_ticket(s, conversation_id)
            try:
                token = rasa_api_token()
            except OSError as exc:
                raise AgentRequestError(502, f"The token of the assistant's API is not available: {exc}") from exc
            try:
                if action == "reply":
                    ticket = rasa_reply(s, conversation_id, text, agent, token)
                else:
                    ticket = rasa_resume(s, conversation_id, agent, token)
            except AgentApiError as exc:
                logger.warning("agent %s could not %s conversation %s: %s", agent, action,
                               mask_conversation(conversation_id), exc)
                raise AgentRequestError(502, f"Not delivered: the assistant's server did not take it ({exc}). "
                                             "Try again in a moment.") from exc
            except ValueError as exc:
                raise AgentRequestError(400, str(exc)) from exc
            if ticket is None:  # deleted meanwhile
                raise AgentRequestError(400, "Unknown conversation: it has no handoff ticket.")
            s.commit()
            return {"id": ticket.id, "status": ticket.status, "assigned_to": ticket.assigned_to}
    except SQLAlchemyError as exc:
        logger.exception("agent %s: database error on conversation %s", agent, mask_conversation(conversation_id))
        raise AgentRequestError(503, "The database is not available; try again in a moment.") from exc


def _wants_html() -> bool:
    return not request.is_json and request.accept_mimetypes.best_match(
        ["application/json", "text/html"]) == "text/html"


ERROR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Nubia Telecom · Handoff queue</title>
<style>body{{font-family:system-ui,sans-serif;background:#f4f2fa;color:#1d1d2b}}
main{{max-width:520px;margin:12vh auto;background:#fff;border-radius:12px;padding:28px}}
.error{{background:#fde8ec;color:#9b1c31;padding:10px;border-radius:8px}}</style></head>
<body><main><p class="error" role="alert">{message}</p><p><a href="{href}">{link}</a></p></main></body></html>
"""


def _refusal(exc: AgentRequestError) -> Response:
    headers = {"WWW-Authenticate": 'Cookie realm="nubia-analytics"'} if exc.status == 401 else {}
    if _wants_html():
        href, link = ("/login?next=%2Fqueue", "Log in") if exc.status == 401 else (logins.AGENT_HOME,
                                                                                   "Back to the queue")
        body = ERROR_PAGE.format(message=html_lib.escape(exc.message), href=href, link=link)
        return Response(body, status=exc.status, mimetype="text/html", headers=headers)
    response = jsonify({"ok": False, "error": exc.message})
    response.status_code = exc.status
    response.headers.update(headers)
    return response


# ============================================================================ the queue page's controls


def conversation_url(conversation_id: str, action: str) -> str:
    return f"/agent/conversations/{quote(conversation_id, safe='')}/{action}"


def ticket_url(ticket_id: int, action: str) -> str:
    return f"/agent/tickets/{int(ticket_id)}/{action}"


def _csrf_input(token: str) -> dcc.Input:
    return dcc.Input(type="hidden", name=CSRF_FIELD, value=token)


def ticket_controls(rows: Sequence[QueueRow], user: logins.CurrentUser) -> html.Div:
    """For each waiting or in-progress ticket: a reply box with "Send", and "Hand back to the assistant".

    Plain HTML forms posting to the routes above (with the session's CSRF token), so they work without
    a Dash callback; the typed text survives the queue's periodic refresh (in-memory persistence).
    """
    token = session.get("csrf") if has_request_context() else None
    token = token if isinstance(token, str) else ""
    items: list[Any] = []
    for row in rows:
        if row.status not in CONTROL_STATUSES:
            continue
        key = str(row.ticket_id)
        who = row.customer_name or "Unverified customer"
        conversation = row.conversation_id if user.can_see_contact else mask_conversation(row.conversation_id)
        items.append(html.Div([
            html.Div([
                html.Strong(f"#{row.ticket_id} {who}"),
                html.Span(f" · {row.status.replace('_', ' ')} · {row.trigger.replace('_', ' ')} · {row.channel} · "
                          f"{'English' if row.language == 'en' else 'Spanish'} · conversation {conversation}",
                          className="note"),
            ]),
            html.Form([
                _csrf_input(token),
                dcc.Input(id=f"agent-text-{key}", name="text", type="text", required=True, maxLength=MAX_REPLY_CHARS,
                          placeholder="Reply in English" if row.language == "en" else "Reply in Spanish",
                          persistence=True, persistence_type="memory", style={"flex": "1", "padding": "6px"}),
                html.Button("Send", type="submit", id=f"agent-send-{key}"),
            ], action=ticket_url(row.ticket_id, "reply"), method="post", id=f"agent-reply-{key}",
                style={"display": "flex", "gap": "8px", "margin": "6px 0"}),
            html.Form([
                _csrf_input(token),
                html.Button("Hand back to the assistant", type="submit", id=f"agent-resume-{key}"),
            ], action=ticket_url(row.ticket_id, "resume"), method="post", id=f"agent-handback-{key}"),
        ], className="agent-ticket", id=f"agent-ticket-{key}",
            style={"borderTop": "1px solid #e4e0f2", "padding": "8px 0"}))
    if not items:
        items.append(html.P("No conversation is waiting for a person.", className="note"))
    return html.Div([html.H3("Talk to the customer"), *items], className="card", id="agent-desk")
