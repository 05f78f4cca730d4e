"""The data the pages and the CSV exports share, and the routes that serve data outside Dash.

:func:`build_table` builds any table by name for a set of filters (the figures come through the
process's short cache, :func:`dashboard_for`), so that a page and its "Export CSV" link always show the
same rows. ``GET /export/<name>.csv`` (:func:`export`) serves them, masked for users who may not see
contact data; agents may only export the queue. ``GET /conversations/<id>`` (:func:`conversation_view`)
is the plain transcript a handoff ticket links to.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from flask import Response, request
from sqlalchemy import func, select

from analytics import proactive, tracker_store, transcript
from analytics.figures import load_dashboard
from analytics.filters import Filters, default_filters
from analytics.lists import action_plans, case_detail, conversations, handoff_queue
from analytics.results import Dashboard
from analytics.session import app_state, current_user
from analytics.tables import (
    Table,
    case_offers_table,
    checkins_table,
    conversations_table,
    dashboard_tables,
    mask_conversation,
    plans_table,
    queue_table,
    redact_contacts,
    transcript_table,
)
from bot.storage.models import HandoffTicket, utcnow

DASHBOARD_EXPORTS = frozenset({"kpis", "weekly", "reasons", "verbatims", "returns_by_reason", "returns_by_offer",
                               "offers", "offers_by_reason", "hot_cold", "holdout", "handoffs"})
OTHER_EXPORTS = frozenset({"conversations", "case_offers", "transcript", "plans", "checkins", "queue",
                           "alerts", "key_events", "compensations", "at_risk", "proactive"})
AGENT_EXPORTS = frozenset({"queue"})


def dashboard_for(filters: Filters) -> Dashboard:
    state = app_state()

    def compute() -> Dashboard:
        with state.session() as s:
            return load_dashboard(s, filters, tracker=state.tracker())
    return state.cached(("dashboard", filters), compute)


def cached_default_filters() -> Filters:
    state = app_state()

    def compute() -> Filters:
        with state.session() as s:
            return default_filters(s)
    return state.cached(("defaults", utcnow().date()), compute)


def build_table(name: str, filters: Filters, args: Any) -> Table:
    """Any table the dashboard shows, by name, for ``filters`` (pages and exports share this)."""
    state = app_state()
    if name in DASHBOARD_EXPORTS:
        return dashboard_tables(dashboard_for(filters))[name]
    with state.session() as s:
        if name == "conversations":
            return conversations_table(conversations(s, filters))
        if name in ("plans", "checkins"):
            plans, checkins = action_plans(s, filters)
            return plans_table(plans) if name == "plans" else checkins_table(checkins)
        if name == "queue":
            return queue_table(handoff_queue(s, filters))
        if name == "case_offers":
            return case_offers_table(case_detail(s, int_arg(args.get("case"))))
        if name == "transcript":
            conv = str(args.get("conversation") or "")[:128]
            return transcript_table(conv, tracker_store.transcript(state.tracker(), conv))
        if name in ("alerts", "key_events", "compensations", "proactive"):
            return {"alerts": proactive.alerts_table, "key_events": proactive.events_table,
                    "compensations": proactive.compensations_table, "proactive": proactive.proactive_table}[name](s)
        if name == "at_risk":
            return risk_scores()[0]
    raise KeyError(name)


def risk_scores() -> tuple[Table, list[float], str]:
    """Today's at-risk table, every score and the model version (cached); empty without a model."""
    from bot.risk.model import RiskModelError, load

    state = app_state()

    def compute() -> tuple[Table, list[float], str]:
        try:
            model = load()
        except RiskModelError as exc:
            return Table("at_risk", str(exc), ()), [], ""
        with state.session() as s:
            table, scores = proactive.at_risk_table(s, model, utcnow().date())
        return table, scores, str(model.meta.get("model_version"))
    return state.cached(("risk", utcnow().date()), compute)


def int_arg(value: Any) -> int:
    """A database id from a request, or -1 (also for ids no column holds: SQLite raises on those)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        return -1
    return number if 0 <= number < 2**63 else -1


def conversation_view(conversation_id: str) -> Response:
    """A conversation's transcript (404 when the conversation is unknown). An agent who may not see
    contact data cannot open a conversation whose id holds a phone number (SMS, voice) by that id,
    so a guessed number tells nothing: they open it by its ticket, ``/tickets/<id>``."""
    user = current_user()
    if user is None or not user.may_open_by_id(conversation_id):
        return Response("no such conversation\n", status=404, mimetype="text/plain")
    return _transcript(conversation_id)


def ticket_view(ticket_id: int) -> Response:
    """The transcript of a handoff ticket's conversation, the link its notification carries."""
    with app_state().session() as session:
        ticket = session.get(HandoffTicket, ticket_id) if 0 < ticket_id < 2**63 else None
        conversation_id = ticket.conversation_id if ticket is not None else None
    if conversation_id is None:
        return Response("no such ticket\n", status=404, mimetype="text/plain")
    return _transcript(conversation_id)


def _transcript(conversation_id: str) -> Response:
    lines = tracker_store.transcript(app_state().tracker(), conversation_id) if len(conversation_id) <= 255 else None
    if not lines:
        return Response("no such conversation\n", status=404, mimetype="text/plain")
    user = current_user()
    if user is None or (not user.is_supervisor and not _has_ticket(conversation_id)):
        # agents read the conversations handed to a person, not every customer's
        return Response("no such conversation\n", status=404, mimetype="text/plain")
    mask = (lambda text: text) if user.can_see_contact else redact_contacts
    shown = conversation_id if user.can_see_contact else mask_conversation(conversation_id)
    return Response(transcript.render(shown, lines, mask), mimetype="text/html")


def _has_ticket(conversation_id: str) -> bool:
    with app_state().session() as session:
        return session.scalar(select(func.count()).select_from(HandoffTicket).where(
            HandoffTicket.conversation_id == conversation_id)) > 0


def export(name: str) -> Response:
    user = current_user()
    assert user is not None
    if name not in DASHBOARD_EXPORTS | OTHER_EXPORTS:
        return Response("no such table\n", status=404, mimetype="text/plain")
    if not user.is_supervisor and name not in AGENT_EXPORTS:
        return Response("forbidden\n", status=403, mimetype="text/plain")
    try:
        filters = Filters.from_query(request.args)
    except ValueError as exc:
        return Response(f"bad filter: {exc}\n", status=400, mimetype="text/plain")
    table = build_table(name, filters, request.args)
    body = "\ufeff" + table.to_csv(show_contacts=user.can_see_contact)  # BOM: spreadsheets read UTF-8
    filename = f"nubia-{name}-{date.today().isoformat()}.csv"
    return Response(body, mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def export_href(name: str, filters: Filters | None = None, **extra: Any) -> str:
    query = dict(filters.to_query()) if filters else {}
    query.update({k: str(v) for k, v in extra.items()})
    return f"/export/{name}.csv" + (f"?{urlencode(query)}" if query else "")
