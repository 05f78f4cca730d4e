"""The dashboard's frame: the top bar with the user's pages, the filters and the page area, and the HTML
shell with its style sheet.

:func:`serve_layout` is Dash's layout (computed per request, so that the navigation and the default
filters follow the logged-in user); agents see only their page and no filters.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html
from flask import session

from analytics.exports import cached_default_filters
from analytics.filters import Filters
from analytics.session import AGENT_HOME, CurrentUser, current_user
from analytics.theme import ACCENT
from bot.core.offer_model import SEGMENTS
from bot.core.reasons import REASONS

PAGES: dict[str, str] = {
    "/": "Overview",
    "/reasons": "Reasons & offers",
    "/conversations": "Conversations",
    "/plans": "Action plans",
    "/queue": "Handoff queue",
    "/proactive": "Proactive",
}
CHANNEL_LABELS = {"web": "Web chat", "rest": "REST API", "sms": "SMS", "voice": "Voice"}
LANGUAGE_LABELS = {"es": "Spanish", "en": "English"}


def _nav(user: CurrentUser | None) -> list[Any]:
    if user is None:
        return []
    pages = PAGES if user.is_supervisor else {AGENT_HOME: PAGES[AGENT_HOME]}
    return [dcc.Link(label, href=path, className="nav-link", id=f"nav-{path.strip('/') or 'overview'}")
            for path, label in pages.items()]


def serve_layout() -> html.Div:
    user = current_user()
    defaults = cached_default_filters() if user is not None and user.is_supervisor else Filters()
    hide_filters = user is None or not user.is_supervisor
    dropdown = {"multi": True, "clearable": True, "className": "filter"}
    return html.Div([
        dcc.Location(id="url"),
        html.Header([
            html.Div([html.Strong("Nubia Telecom"), html.Span(" · Retention analytics")], className="brand"),
            html.Nav(_nav(user), className="nav", id="nav"),
            html.Div([html.Span(f"{user.username} ({user.role})" if user else "", id="whoami"),
                      html.Form([dcc.Input(type="hidden", name="csrf", value=session.get("csrf") or "", id="lo-csrf"),
                                 html.Button("Log out", type="submit", id="logout")],
                                method="POST", action="/logout", className="logout-form")], className="who"),
        ], className="top"),
        html.Div([
            dcc.DatePickerRange(id="f-dates", start_date=defaults.since, end_date=defaults.until,
                                display_format="YYYY-MM-DD", first_day_of_week=1, clearable=True),
            dcc.Dropdown(id="f-channel", options=[{"label": v, "value": k} for k, v in CHANNEL_LABELS.items()],
                         placeholder="All channels", **dropdown),
            dcc.Dropdown(id="f-language", options=[{"label": v, "value": k} for k, v in LANGUAGE_LABELS.items()],
                         placeholder="All languages", **dropdown),
            dcc.Dropdown(id="f-reason", options=[{"label": r.replace("_", " "), "value": r} for r in REASONS],
                         placeholder="All reasons", **dropdown),
            dcc.Dropdown(id="f-segment", options=[{"label": s, "value": s} for s in SEGMENTS],
                         placeholder="All value segments", **dropdown),
        ], className="filters", id="filters", style={"display": "none"} if hide_filters else {}),
        dcc.Loading(html.Main(id="page", className="page"), type="dot", color=ACCENT),
    ])


INDEX = """<!DOCTYPE html>
<html lang="en"><head>{%metas%}<title>{%title%}</title>{%favicon%}{%css%}
<style>
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f2fa;color:#1d1d2b}
.top{display:flex;align-items:center;gap:24px;background:#2b1b6b;color:#fff;padding:10px 24px;flex-wrap:wrap}
.top .brand{font-size:1.05rem}.nav{display:flex;gap:4px;flex-wrap:wrap;flex:1}
.nav-link{color:#ddd6ff;text-decoration:none;padding:6px 10px;border-radius:6px}
.nav-link:hover{background:rgba(255,255,255,.12);color:#fff}.who{display:flex;gap:12px;font-size:.9rem}
.who a{color:#ffb3dc}
.logout-form{margin:0}.logout-form button{background:none;border:0;color:#ffb3dc;cursor:pointer;font:inherit;padding:0}
.filters{display:flex;gap:10px;flex-wrap:wrap;padding:12px 24px;background:#fff;
border-bottom:1px solid #e4e0f2;align-items:center}.filter{min-width:190px}
.page{padding:16px 24px 48px}.page h2{color:#2b1b6b;margin:8px 0 16px;font-size:1.3rem}
.page-head{display:flex;justify-content:space-between;align-items:center;gap:16px;flex-wrap:wrap}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:12px;margin-bottom:16px}
.kpi{background:#fff;border-radius:10px;padding:14px;box-shadow:0 1px 4px rgba(43,27,107,.08);
border-top:3px solid #e2007a}.kpi.good{border-top-color:#2e9d5b}.kpi.bad{border-top-color:#d1495b}
.kpi-label{font-size:.8rem;color:#666;text-transform:uppercase;letter-spacing:.03em}
.kpi-value{font-size:1.6rem;font-weight:650;margin:4px 0;color:#2b1b6b}.kpi-detail{font-size:.78rem;color:#555}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:12px;margin-bottom:12px}
.card{background:#fff;border-radius:10px;padding:12px 16px;box-shadow:0 1px 4px rgba(43,27,107,.08);
margin-bottom:12px}.card h3{margin:0 0 8px;font-size:1rem;color:#2b1b6b}
.card-head{display:flex;justify-content:space-between;align-items:baseline;gap:12px}
.export{font-size:.85rem;color:#e2007a}.note{color:#666;font-size:.85rem}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:12px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 12px;margin:0;font-size:.9rem}
.facts dt{color:#666}.facts dd{margin:0}.transcript{max-height:420px;overflow:auto;display:flex;
flex-direction:column;gap:6px}.msg{padding:8px 10px;border-radius:10px;max-width:85%;font-size:.9rem}
.msg.user{align-self:flex-end;background:#2b1b6b;color:#fff}.msg.bot{align-self:flex-start;background:#f0edf8}
.msg .when{font-size:.7rem;opacity:.7;margin-right:6px}.msg .intent{font-size:.7rem;opacity:.7}
</style></head><body>{%app_entry%}<footer>{%config%}{%scripts%}{%renderer%}</footer></body></html>
"""
