"""The dashboard's pages: what each path shows, as Dash components, for one user and set of filters.

Overview, reasons and offers, conversations (with the detail of one case), action plans, the handoff
queue (the agents' only page) and proactive retention. :data:`PAGE_BUILDERS` maps a path to its page;
the router callback of :mod:`analytics.app` calls it. The data comes from :mod:`analytics.exports`
(cached figures, tables by name) and the lists; cards and charts from :mod:`analytics.components` and
:mod:`analytics.charts`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import plotly.graph_objects as go
from dash import dcc, html

from analytics import agent as agent_desk
from analytics import proactive, tracker_store
from analytics.charts import (
    deflection_figure,
    hot_cold_figure,
    offers_figure,
    reasons_figure,
    return_by_reason_figure,
    weekly_figure,
)
from analytics.components import chart_card, kpi_cards, table_card
from analytics.exports import dashboard_for, export_href, risk_scores
from analytics.filters import Filters
from analytics.lists import action_plans, case_detail, conversations, handoff_queue
from analytics.results import HoldoutStats
from analytics.returns import REAL_SAVE_DAYS, REVENUE_HORIZON_MONTHS
from analytics.session import CurrentUser, app_state
from analytics.tables import (
    case_offers_table,
    checkins_table,
    conversations_table,
    dashboard_tables,
    mask_conversation,
    plans_table,
    queue_table,
    redact_contacts,
)
from analytics.theme import BRAND
from bot.core.privacy import mask_email, mask_phone
from bot.storage.models import utcnow


def page_overview(user: CurrentUser, filters: Filters) -> list[Any]:
    d = dashboard_for(filters)
    tables = dashboard_tables(d)
    return [
        html.Div([html.H2("Is retention working, and is it profitable?"),
                  html.A("Export key figures (CSV)", href=export_href("kpis", filters), className="export",
                         id="export-kpis")], className="page-head"),
        kpi_cards(d),
        html.Div([
            chart_card("Weekly trend: requests, saves and hot save rate", weekly_figure(d), "chart-weekly"),
            chart_card("Saves 30 days later: really saved vs deflected", deflection_figure(d), "chart-deflection"),
            chart_card("Hot vs cold vs holdout", hot_cold_figure(d), "chart-hot-cold"),
            chart_card("Return of retention by reason (EUR)", return_by_reason_figure(d), "chart-return-reason"),
        ], className="charts"),
        html.Div([
            table_card(tables["hot_cold"], user, export_href("hot_cold", filters)),
            table_card(tables["holdout"], user, export_href("holdout", filters),
                       note=_holdout_note(d.holdout)),
        ], className="two"),
        table_card(tables["weekly"], user, export_href("weekly", filters), page_size=10),
        table_card(tables["handoffs"], user, export_href("handoffs", filters)),
        html.P(_definitions_note(), className="note"),
    ]


def _holdout_note(h: HoldoutStats) -> str:
    if h.lift_points is None:
        return "Not enough decided cases in one of the groups to compare."
    sign = "more" if h.lift_points >= 0 else "fewer"
    p = "" if h.p_value is None else f" (two-proportion z-test p = {h.p_value:.4f})"
    return (f"Offers saved {abs(h.lift_points):.1f} percentage points {sign} customers than no offer{p}: "
            f"about {h.incremental_saves:.0f} extra saves among {h.offered_decided} decided offered cases.")


def _definitions_note() -> str:
    return (f"Save rate = retained / (retained + cancelled), holdout excluded. Really saved = still subscribed "
            f"{REAL_SAVE_DAYS} days after the save (subscription records). Revenue kept = monthly revenue x "
            f"whole months a really saved customer stayed (up to {REVENUE_HORIZON_MONTHS}); return = revenue kept "
            f"- offer cost. Dates are UTC.")


def page_reasons(user: CurrentUser, filters: Filters) -> list[Any]:
    d = dashboard_for(filters)
    tables = dashboard_tables(d)
    return [
        html.H2("Why customers want to leave, and what keeps them"),
        html.Div([
            chart_card("Reasons by outcome", reasons_figure(d), "chart-reasons"),
            chart_card("Offer acceptance (accepted / decided)", offers_figure(d), "chart-offers"),
        ], className="charts"),
        table_card(tables["reasons"], user, export_href("reasons", filters)),
        table_card(tables["verbatims"], user, export_href("verbatims", filters), page_size=10),
        table_card(tables["returns_by_reason"], user, export_href("returns_by_reason", filters)),
        table_card(tables["returns_by_offer"], user, export_href("returns_by_offer", filters)),
        table_card(tables["offers"], user, export_href("offers", filters)),
        table_card(tables["offers_by_reason"], user, export_href("offers_by_reason", filters)),
    ]


def page_conversations(user: CurrentUser, filters: Filters) -> list[Any]:
    with app_state().session() as s:
        rows = conversations(s, filters)
    table = conversations_table(rows)
    return [
        html.H2("Conversations"),
        html.P("The latest 500 cases in the filters. Click a row for its transcript, offers and outcome.",
               className="note"),
        table_card(table, user, export_href("conversations", filters), table_id="conv-table",
                   row_ids=[r.case_id for r in rows]),
        html.Div(id="conv-detail", className="card", children=html.P("No conversation selected.", className="note")),
    ]


def conversation_detail(user: CurrentUser, case_id: int) -> list[Any]:
    state = app_state()
    with state.session() as s:
        detail = case_detail(s, case_id)
    if detail is None:
        return [html.P("This case no longer exists.", className="note")]
    lines = tracker_store.transcript(state.tracker(), detail.conversation_id)
    show = user.can_see_contact

    shown_id = detail.conversation_id if show else mask_conversation(detail.conversation_id)

    def txt(value: str) -> str:
        return value if show else redact_contacts(value)

    facts = [
        ("Case", f"#{detail.case_id} · {detail.status}" + (" · holdout" if detail.holdout else "")),
        ("Customer", f"{detail.customer_ref} {detail.customer_name}".strip() or "not identified"),
        ("Phone", detail.phone if show else mask_phone(detail.phone)),
        ("E-mail", detail.email if show else mask_email(detail.email)),
        ("Channel / language", f"{detail.channel} / {detail.language}"),
        ("Reason", detail.reason), ("In their words", txt(detail.reason_verbatim)),
        ("Revenue at stake", f"{detail.revenue_at_stake} €/month"), ("Offer cost", f"{detail.offer_cost} €"),
        ("Accepted offer", detail.accepted_offer_id or "-"),
        ("Reference", detail.reference or detail.confirmation_number or "-"),
        ("Cold follow-up", detail.cold_status or "-"), ("Handoff", detail.ticket_status or "-"),
        ("Action plan", detail.plan_reference or "-"),
        ("Opened / closed", f"{detail.opened_at:%Y-%m-%d %H:%M} / "
                            + (f"{detail.closed_at:%Y-%m-%d %H:%M}" if detail.closed_at else "open")),
    ]
    if lines is None:
        chat: list[Any] = [html.P("The tracker store is not reachable (TRACKER_DB_URL).", className="note")]
    elif not lines:
        chat = [html.P("No messages in the tracker store for this conversation.", className="note")]
    else:
        chat = [html.Div([html.Span(f"{ln.at:%H:%M:%S}" if ln.at else "", className="when"),
                          html.Span(txt(ln.text)),
                          html.Span(f" [{ln.intent}]", className="intent") if ln.intent else None],
                         className=f"msg {ln.speaker}") for ln in lines]
    return [
        html.Div([html.H3(f"Conversation {shown_id}"),
                  html.A("Export transcript (CSV)", href=export_href("transcript", conversation=detail.conversation_id),
                         className="export", id="export-transcript")], className="card-head"),
        html.Div([
            html.Dl([item for k, v in facts for item in (html.Dt(k), html.Dd(v or "-"))], className="facts"),
            html.Div(chat, className="transcript", id="transcript"),
        ], className="two"),
        table_card(case_offers_table(detail), user, export_href("case_offers", case=detail.case_id),
                   table_id="case-offers-table"),
    ]


def page_plans(user: CurrentUser, filters: Filters) -> list[Any]:
    with app_state().session() as s:
        plans, checkins = action_plans(s, filters)
    return [
        html.H2("Action plans and their check-ins"),
        table_card(plans_table(plans), user, export_href("plans", filters)),
        table_card(checkins_table(checkins), user, export_href("checkins", filters)),
    ]


def queue_body(user: CurrentUser, filters: Filters) -> list[Any]:
    with app_state().session() as s:
        rows = handoff_queue(s, filters)
    waiting = sum(1 for r in rows if r.status == "waiting")
    return [
        html.P(f"{waiting} waiting, {len(rows) - waiting} in progress or to call back. "
               f"Refreshed {utcnow():%H:%M:%S} UTC.", className="note", id="queue-summary"),
        table_card(queue_table(rows), user, export_href("queue", filters), page_size=20),
        agent_desk.ticket_controls(rows, user),
    ]


def page_queue(user: CurrentUser, filters: Filters) -> list[Any]:
    return [
        html.H2("Handoff queue"),
        html.P("Conversations waiting for a person, oldest first.", className="note"),
        dcc.Interval(id="queue-tick", interval=30_000),
        html.Div(queue_body(user, filters), id="queue-body"),
    ]


def _uplift_note(u: proactive.Uplift) -> str:
    if u.uplift is None or u.interval is None:
        return (f"Contacted versus holdout: not measurable yet ({u.contacted} contacted and {u.holdout} held out "
                "in runs whose 90 days are over).")
    low, high = u.interval
    return (f"Churn within 90 days: holdout {u.holdout_churned}/{u.holdout} "
            f"({100 * u.holdout_churned / u.holdout:.1f} %), contacted {u.contacted_churned}/{u.contacted} "
            f"({100 * u.contacted_churned / u.contacted:.1f} %). Uplift {100 * u.uplift:+.1f} points "
            f"(95 % CI {100 * low:+.1f} to {100 * high:+.1f}); an interval that includes 0 shows no proven effect.")


def page_proactive(user: CurrentUser, filters: Filters) -> list[Any]:
    with app_state().session() as s:
        summary = proactive.alert_summary(s)
        alerts, events = proactive.alerts_table(s), proactive.events_table(s)
        compensations, contacts = proactive.compensations_table(s), proactive.proactive_table(s)
        measured = proactive.uplift(s, utcnow().date())
    at_risk, scores, version = risk_scores()
    figure = go.Figure()
    figure.add_histogram(x=[100 * p for p in scores], nbinsx=30, marker_color=BRAND, name="customers")
    figure.update_layout(xaxis_title="90-day churn risk (%)", yaxis_title="customers")
    open_line = " · ".join(f"{p}: {v['open']} open, {v['overdue']} overdue" for p, v in summary.items())
    return [
        html.H2("Proactive retention"),
        html.P(f"Alerts by priority: {open_line}.", className="note", id="alert-summary"),
        table_card(alerts, user, export_href("alerts")),
        table_card(events, user, export_href("key_events")),
        table_card(compensations, user, export_href("compensations")),
        chart_card(f"Churn risk of today's customers (model {version or 'missing: run make risk-model'})",
                   figure, "risk-histogram"),
        table_card(at_risk, user, export_href("at_risk"), page_size=15),
        table_card(contacts, user, export_href("proactive"), note=_uplift_note(measured)),
    ]


PAGE_BUILDERS: dict[str, Callable[[CurrentUser, Filters], list[Any]]] = {
    "/": page_overview, "/reasons": page_reasons, "/conversations": page_conversations, "/plans": page_plans,
    "/queue": page_queue, "/proactive": page_proactive,
}
