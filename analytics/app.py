"""The supervisor dashboard: is retention working, and is it profitable? (issue 6)

``python -m analytics.app [--host H] [--port N]`` serves a Dash app on :8050.

Access
    Everything needs a logged-in dashboard user (``python -m analytics.users create``): the pages
    (without a session: redirect to ``/login``), Dash's own routes ``/_dash-*`` (layout,
    dependencies, callbacks, component bundles) and the CSV exports ``/export/*`` (without a
    session: 401). Only ``/login``, ``/logout`` and ``/healthz`` are public, and they show no data.
    The session is Flask's signed cookie (HttpOnly, SameSite=Lax, ``Secure`` with
    ``ANALYTICS_COOKIE_SECURE=1``) and expires ``ANALYTICS_SESSION_HOURS`` (8) hours after the
    login, whatever the activity; deleting the user or changing their password ends it at once.
    The cookie names a session the server keeps open (:mod:`analytics.auth`): logging out closes
    it, so a copy of the cookie stops working everywhere, and a restart of the dashboard closes all.
    Callbacks also need the ``X-CSRFToken`` header Dash's renderer copies from the
    ``_csrf_token`` cookie set at login, and a body of the shape Dash's renderer sends (else a
    short JSON 400, :mod:`analytics.callback_guard`). Failed logins are limited to 10 per 5 minutes
    from one address and 5 per 15 minutes for one user name (then 429 with ``Retry-After``).
    ``next`` after the login only leads to a path on this site.

Roles
    ``admin`` and ``supervisor`` see everything; ``agent`` sees only the handoff queue (other pages
    redirect to it, other callbacks and exports answer 403). Customers have no account at all.
    Phone numbers and e-mails (in tables, exports and free text) are masked unless the user has
    ``can_see_contact``.

Settings (environment)
    ``DATABASE_URL`` (project database), ``TRACKER_DB_URL`` (Rasa's tracker store, default
    ``sqlite:///var/tracker.db``), ``ANALYTICS_SECRET_KEY`` (else a random one kept in
    ``var/analytics_secret``), ``ANALYTICS_SESSION_HOURS``, ``ANALYTICS_HOST`` (127.0.0.1),
    ``ANALYTICS_PORT`` (8050), ``ANALYTICS_COOKIE_SECURE``.
"""

from __future__ import annotations

import argparse
import html as html_lib
import json
import logging
import math
import secrets
import time
import warnings
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dash_table, dcc, html
from dash.exceptions import DependencyException, PreventUpdate
from flask import Flask, Response, current_app, g, redirect, request, session
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from analytics import agent as agent_desk
from analytics import auth, callback_guard, proactive, transcript
from analytics import session as logins
from analytics.figures import load_dashboard
from analytics.filters import Filters
from analytics.filters import default_filters as filters_by_default
from analytics.lists import action_plans, case_detail, conversations, handoff_queue
from analytics.results import Dashboard, HoldoutStats
from analytics.returns import REAL_SAVE_DAYS, REVENUE_HORIZON_MONTHS
from analytics.session import (  # noqa: F401 - the pages' names for them (tests use them too)
    AGENT_HOME,
    CACHE_SECONDS,
    ROLES,
    SUPERVISOR_ROLES,
    AppState,
    CurrentUser,
    current_user,
    password_fingerprint,
    same_secret,
    session_user,
)
from analytics.session import app_state as _state
from analytics.tables import (
    Table,
    TableColumn,
    case_offers_table,
    checkins_table,
    conversations_table,
    dashboard_tables,
    kpi_rows,
    plans_table,
    queue_table,
    redact_contacts,
    transcript_table,
)
from analytics.tracker_store import transcript as read_transcript
from bot.config import settings
from bot.config.settings import PROJECT_ROOT, persistent_secret
from bot.core.offers import SEGMENTS
from bot.core.privacy import mask_email, mask_phone
from bot.core.reasons import REASONS
from bot.storage.db import database_url
from bot.storage.models import DashboardUser, HandoffTicket, utcnow

logger = logging.getLogger(__name__)

SECRET_FILE = PROJECT_ROOT / "var" / "analytics_secret"
DEFAULT_PORT = 8050
DEFAULT_HOST = "127.0.0.1"
DEFAULT_SESSION_HOURS = 8
PUBLIC_PATHS = frozenset({"/login", "/logout", "/healthz"})
AGENT_CALLBACKS = frozenset({"page.children", "queue-body.children"})  # the callbacks an agent may run
CSRF_COOKIE = "_csrf_token"
SESSION_COOKIE = "nubia_analytics_session"
MAX_FAILURES = auth.USER_LIMIT  # wrong passwords for one user name...
LOCK_SECONDS = auth.USER_WINDOW  # ...within this many seconds lock it (see analytics.auth for addresses)
BRAND = "#2b1b6b"
ACCENT = "#e2007a"
PALETTE = {"retained": "#2e9d5b", "cancelled": "#d1495b", "handed_off": "#edae49", "other": "#9aa5b1",
           "hot": "#e2007a", "cold": "#00798c", "really_saved": "#2e9d5b", "deflected": "#d1495b",
           "pending": "#edae49", "unverifiable": "#9aa5b1"}

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
NUMERIC_KINDS = frozenset({"int", "money", "pct", "ratio", "number"})

DASHBOARD_EXPORTS = frozenset({"kpis", "weekly", "reasons", "verbatims", "returns_by_reason", "returns_by_offer",
                               "offers", "offers_by_reason", "hot_cold", "holdout", "handoffs"})
OTHER_EXPORTS = frozenset({"conversations", "case_offers", "transcript", "plans", "checkins", "queue",
                           "alerts", "key_events", "compensations", "at_risk", "proactive"})
AGENT_EXPORTS = frozenset({"queue"})


# ============================================================================ settings



_env = settings.env


def secret_key(path: Path | None = None) -> str:
    """``ANALYTICS_SECRET_KEY``, else a random key created once in ``var/analytics_secret`` (mode 600)."""
    return persistent_secret("ANALYTICS_SECRET_KEY", path or SECRET_FILE)


def session_hours() -> float:
    value = _env("ANALYTICS_SESSION_HOURS")
    try:
        hours = float(value) if value else DEFAULT_SESSION_HOURS
    except ValueError as exc:
        raise ValueError(f"ANALYTICS_SESSION_HOURS must be a number, got {value!r}") from exc
    return min(max(hours, 0.05), 24 * 7)


# ============================================================================ state and users


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        from werkzeug.security import generate_password_hash

        _DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def authenticate(state: AppState, username: str, password: str) -> DashboardUser | None:
    with state.session() as s:
        user = s.scalar(select(DashboardUser).where(DashboardUser.username == username))
        if user is None:
            check_password_hash(_dummy_hash(), password)  # same time as a wrong password
            return None
        if user.role not in logins.ROLES or not check_password_hash(user.password_hash, password):
            return None
        user.last_login_at = utcnow()
        s.commit()
        s.refresh(user)
        s.expunge(user)
        return user


# ============================================================================ the Flask side


def _is_api(path: str) -> bool:
    return path.startswith(("/_dash-", "/_reload-hash", "/_favicon", "/export/", "/assets/", "/api/"))


def _guard() -> Response | None:
    state = _state()
    path = request.path
    if path in PUBLIC_PATHS:
        return None
    user = session_user(state)
    if user is None:
        if _is_api(path):
            return Response("login required\n", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Cookie realm="nubia-analytics"'})
        query = urlencode({"next": request.full_path.rstrip("?") if request.query_string else path})
        return redirect(f"/login?{query}")
    g.user = user
    if path.startswith("/_dash-update-component"):
        expected = session.get("csrf")
        sent = request.headers.get("X-CSRFToken", "")
        if not same_secret(expected, sent):
            return Response("missing or wrong CSRF token\n", status=403, mimetype="text/plain")
        return _check_callback_request(state, user)
    elif (not user.is_supervisor and not _is_api(path) and path != AGENT_HOME
          and not path.startswith("/conversations/")):  # agents read the transcripts of tickets
        return redirect(AGENT_HOME)
    return None


def _check_callback_request(state: AppState, user: CurrentUser) -> Response | None:
    """A JSON 4xx for a callback request Dash would fail on (or an agent may not make), else None."""
    if not request.is_json:
        return _json_error("the body must be application/json", 415)
    body, error = callback_guard.parse(request.get_data(cache=True))
    if error is None and not user.is_supervisor and not _agent_may_run(body):
        return Response("forbidden\n", status=403, mimetype="text/plain")
    error = error or callback_guard.body_error(body, state.callbacks, VALUE_RULES)
    return _json_error(error, 400) if error else None


def _json_error(message: str, status: int) -> Response:
    return Response(json.dumps({"error": message}), status=status, mimetype="application/json")


def _agent_may_run(body: Any) -> bool:
    """Agents may only run the router and the queue refresh. Dash picks the callback by the body's
    ``output`` key, so that is what is checked (and the declared outputs must agree with it)."""
    if not isinstance(body, dict) or body.get("output") not in AGENT_CALLBACKS:
        return False
    outputs = body.get("outputs")
    items = outputs if isinstance(outputs, list) else [outputs]
    return all(isinstance(o, dict) and f"{o.get('id')}.{o.get('property')}" in AGENT_CALLBACKS for o in items)


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/_dash-component-suites/"):
        response.headers["Cache-Control"] = "no-store"
    return response


LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Nubia Telecom · Retention analytics · Log in</title>
<style>
body{{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:#f4f2fa;color:#1d1d2b}}
main{{max-width:360px;margin:12vh auto;background:#fff;border-radius:12px;padding:32px;
box-shadow:0 4px 24px rgba(43,27,107,.12)}}
h1{{font-size:1.25rem;margin:0 0 4px;color:{brand}}} p.sub{{margin:0 0 24px;color:#666;font-size:.9rem}}
label{{display:block;font-size:.85rem;margin:12px 0 4px}}
input{{width:100%;box-sizing:border-box;padding:10px;border:1px solid #ccc;border-radius:8px;font-size:1rem}}
button{{margin-top:20px;width:100%;padding:11px;border:0;border-radius:8px;background:{brand};color:#fff;
font-size:1rem;cursor:pointer}} .error{{background:#fde8ec;color:#9b1c31;padding:10px;border-radius:8px;
font-size:.9rem}}
</style></head><body><main>
<h1>Nubia Telecom</h1><p class="sub">Retention analytics · supervisors and agents</p>
{error}
<form method="post" action="/login" autocomplete="on">
<input type="hidden" name="csrf" value="{csrf}"><input type="hidden" name="next" value="{next}">
<label for="username">User name</label><input id="username" name="username" autocomplete="username" required
 autofocus value="{username}">
<label for="password">Password</label><input id="password" name="password" type="password"
 autocomplete="current-password" required>
<button type="submit" id="login-button">Log in</button>
</form></main></body></html>
"""


def _login_page(error: str = "", username: str = "", status: int = 200) -> Response:
    token = session.get("login_csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session["login_csrf"] = token
    body = LOGIN_PAGE.format(
        brand=BRAND, csrf=token, next=html_lib.escape(auth.safe_next(request.values.get("next"))),
        username=html_lib.escape(username[:80]),
        error=f'<p class="error" role="alert">{html_lib.escape(error)}</p>' if error else "")
    return Response(body, status=status, mimetype="text/html")


def login() -> Response:
    state = _state()
    if request.method == "GET":
        return _login_page()
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    expected = session.get("login_csrf")
    if not same_secret(expected, request.form.get("csrf", "")):
        return _login_page("Your login form expired. Please try again.", username, status=400)
    address = request.remote_addr or "?"
    wait = state.throttle.retry_after(address, username)
    if wait:
        logger.warning("dashboard login throttled for %r from %s", username[:80], address)
        return _throttled(username, wait)
    user = authenticate(state, username, password) if username and password else None
    if user is None:
        state.throttle.failed(address, username)
        logger.warning("dashboard login failed for %r from %s", username[:80], address)
        return _login_page("Wrong user name or password.", username, status=401)
    state.throttle.succeeded(username)
    _open_session(state, user)
    target = auth.safe_next(request.form.get("next"))
    if user.role not in SUPERVISOR_ROLES:
        target = AGENT_HOME
    response = redirect(target)
    response.set_cookie(CSRF_COOKIE, session["csrf"], max_age=int(state.lifetime), httponly=False, samesite="Strict",
                        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]), path="/")
    logger.info("dashboard login: %s (%s)", user.username, user.role)
    return response


def _throttled(username: str, wait: int) -> Response:
    minutes = max(1, math.ceil(wait / 60))
    response = _login_page(f"Too many failed login attempts. Try again in {minutes} minute"
                           f"{'s' if minutes > 1 else ''}.", username, status=429)
    response.headers["Retry-After"] = str(wait)
    return response


def _open_session(state: AppState, user: DashboardUser) -> None:
    """A new server-side session in a fresh cookie (this browser's previous session is closed)."""
    state.sessions.close(session.get("sid"))
    session.clear()
    session.update(uid=user.id, iat=state.clock(), pwf=password_fingerprint(user.password_hash),
                   csrf=secrets.token_urlsafe(32), sid=state.sessions.open(user.id, state.lifetime))
    session.permanent = True


def logout() -> Response:
    _state().sessions.close(session.get("sid"))
    session.clear()
    response = redirect("/login")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")


def _cookie_secure() -> bool:
    return (_env("ANALYTICS_COOKIE_SECURE") or "0").lower() in ("1", "true", "yes")


# ============================================================================ data for pages


def dashboard_for(filters: Filters) -> Dashboard:
    state = _state()

    def compute() -> Dashboard:
        with state.session() as s:
            return load_dashboard(s, filters, tracker=state.tracker())
    return state.cached(("dashboard", filters), compute)


def default_filters() -> Filters:
    state = _state()

    def compute() -> Filters:
        with state.session() as s:
            return filters_by_default(s)
    return state.cached(("defaults", utcnow().date()), compute)


def build_table(name: str, filters: Filters, args: Any) -> Table:
    """Any table the dashboard shows, by name, for ``filters`` (pages and exports share this)."""
    state = _state()
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
            return case_offers_table(case_detail(s, _int_arg(args.get("case"))))
        if name == "transcript":
            conv = str(args.get("conversation") or "")[:128]
            return transcript_table(conv, read_transcript(state.tracker(), conv))
        if name in ("alerts", "key_events", "compensations", "proactive"):
            return {"alerts": proactive.alerts_table, "key_events": proactive.events_table,
                    "compensations": proactive.compensations_table, "proactive": proactive.proactive_table}[name](s)
        if name == "at_risk":
            return risk_scores()[0]
    raise KeyError(name)


def risk_scores() -> tuple[Table, list[float], str]:
    """Today's at-risk table, every score and the model version (cached); empty without a model."""
    from bot.risk.model import RiskModelError, load

    state = _state()

    def compute() -> tuple[Table, list[float], str]:
        try:
            model = load()
        except RiskModelError as exc:
            return Table("at_risk", str(exc), ()), [], ""
        with state.session() as s:
            table, scores = proactive.at_risk_table(s, model, utcnow().date())
        return table, scores, str(model.meta.get("model_version"))
    return state.cached(("risk", utcnow().date()), compute)


def _int_arg(value: Any) -> int:
    """A database id from a request, or -1 (also for ids no column holds: SQLite raises on those)."""
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("inf"))
        return -1
    return number if 0 <= number < 2**63 else -1


def conversation_view(conversation_id: str) -> Response:
    """The transcript a handoff ticket links to (404 when the conversation is unknown)."""
    lines = read_transcript(_state().tracker(), conversation_id) if len(conversation_id) <= 255 else None
    if not lines:
        return Response("no such conversation\n", status=404, mimetype="text/plain")
    user = current_user()
    if user is None or (not user.is_supervisor and not _has_ticket(conversation_id)):
        # agents read the conversations handed to a person, not every customer's
        return Response("no such conversation\n", status=404, mimetype="text/plain")
    mask = (lambda text: text) if user.can_see_contact else redact_contacts
    return Response(transcript.render(mask(conversation_id), lines, mask), mimetype="text/html")


def _has_ticket(conversation_id: str) -> bool:
    with _state().session() as session:
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


# ============================================================================ components


def _fmt_money(value: Any) -> str:
    return f"{float(value):,.0f} €"


def kpi_cards(d: Dashboard) -> html.Div:
    rows = {r["key"]: r for r in kpi_rows(d)}
    cards = []
    values = {"revenue_kept": _fmt_money(d.returns.revenue_kept), "offer_cost": _fmt_money(d.returns.offer_cost),
              "return": _fmt_money(d.returns.net_return)}
    for key, row in rows.items():
        tone = ""
        if key == "return":
            tone = " good" if d.returns.net_return >= 0 else " bad"
        cards.append(html.Div([
            html.Div(row["metric"], className="kpi-label"),
            html.Div(values.get(key, row["value"]), className="kpi-value"),
            html.Div(row["detail"], className="kpi-detail"),
        ], className="kpi" + tone, id=f"kpi-{key}"))
    return html.Div(cards, className="kpis", id="kpis")


def _column(c: TableColumn) -> dict[str, Any]:
    column: dict[str, Any] = {"name": c.label, "id": c.key, "type": "numeric" if c.kind in NUMERIC_KINDS else "text"}
    specifier = {"money": ",.2f", "pct": ".1f", "ratio": ".2f"}.get(c.kind)
    if specifier:
        column["format"] = {"specifier": specifier}
    return column


def table_card(table: Table, user: CurrentUser, href: str, *, table_id: str | None = None,
               page_size: int = 12, row_ids: list[Any] | None = None, note: str = "") -> html.Div:
    records = table.records(show_contacts=user.can_see_contact)
    if row_ids is not None:
        for record, row_id in zip(records, row_ids):
            record["id"] = row_id
    columns = [_column(c) for c in table.columns]
    return html.Div([
        html.Div([html.H3(table.title), html.A("Export CSV", href=href, className="export",
                                                id=f"export-{table.name}")], className="card-head"),
        html.P(note, className="note") if note else None,
        dash_table.DataTable(
            id=table_id or f"table-{table.name}", columns=columns, data=records, page_size=page_size,
            sort_action="native", filter_action="native", style_table={"overflowX": "auto"},
            style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "6px", "textAlign": "left",
                        "maxWidth": "420px", "whiteSpace": "normal", "height": "auto"},
            style_header={"backgroundColor": "#f0edf8", "fontWeight": "600", "color": BRAND},
            style_data_conditional=[{"if": {"row_index": "odd"}, "backgroundColor": "#fbfaff"}],
            style_cell_conditional=[{"if": {"column_id": c.key}, "minWidth": "280px"}
                                    for c in table.columns if c.kind == "longtext"],
        ),
    ], className="card table-card")


def chart_card(title: str, figure: go.Figure, graph_id: str) -> html.Div:
    figure.update_layout(template="plotly_white", margin={"l": 40, "r": 16, "t": 16, "b": 40}, height=320,
                         legend={"orientation": "h", "y": -0.18}, font={"family": "system-ui, sans-serif"})
    return html.Div([html.H3(title), dcc.Graph(id=graph_id, figure=figure, config={"displaylogo": False})],
                    className="card chart-card")


def weekly_figure(d: Dashboard) -> go.Figure:
    weeks = [w.week.isoformat() for w in d.weekly]
    fig = go.Figure()
    fig.add_bar(x=weeks, y=[w.requests for w in d.weekly], name="Cancellation requests", marker_color="#c9c2e6")
    fig.add_bar(x=weeks, y=[w.retained for w in d.weekly], name="Retained", marker_color=PALETTE["retained"])
    fig.add_scatter(x=weeks, y=[w.save_rate.percent for w in d.weekly], name="Hot save rate (%)", yaxis="y2",
                    mode="lines+markers", line={"color": ACCENT})
    fig.update_layout(barmode="overlay", yaxis={"title": "cases"},
                      yaxis2={"title": "%", "overlaying": "y", "side": "right", "range": [0, 100], "dtick": 20,
                              "showgrid": False})
    return fig


def deflection_figure(d: Dashboard) -> go.Figure:
    r = d.real_saves
    labels = ["really_saved", "deflected", "pending", "unverifiable"]
    values = [r.really_saved, r.deflected, r.pending, r.unverifiable]
    return go.Figure(go.Pie(labels=["Really saved", "Deflected", "Pending (< 30 days)", "Unverifiable"],
                            values=values, hole=0.55, marker={"colors": [PALETTE[k] for k in labels]},
                            sort=False))


def hot_cold_figure(d: Dashboard) -> go.Figure:
    fig = go.Figure()
    for row in d.hot_cold:
        fig.add_bar(x=["Save rate (%)"], y=[row.rate.percent or 0], name=row.variant.capitalize(),
                    marker_color=PALETTE[row.variant], text=[str(row.rate)], textposition="auto")
    hold = d.holdout
    fig.add_bar(x=["Save rate (%)"], y=[hold.holdout_rate.percent or 0], name="Holdout (no offer)",
                marker_color=PALETTE["other"], text=[str(hold.holdout_rate)], textposition="auto")
    fig.update_layout(barmode="group", yaxis={"title": "%", "range": [0, 100]})
    return fig


def return_by_reason_figure(d: Dashboard) -> go.Figure:
    rows = sorted(d.returns_by_reason, key=lambda r: r.net_return)
    fig = go.Figure()
    fig.add_bar(y=[r.key for r in rows], x=[float(r.revenue_kept) for r in rows], name="Revenue kept",
                orientation="h", marker_color=PALETTE["retained"])
    fig.add_bar(y=[r.key for r in rows], x=[-float(r.offer_cost) for r in rows], name="Offer cost",
                orientation="h", marker_color=PALETTE["cancelled"])
    fig.add_scatter(y=[r.key for r in rows], x=[float(r.net_return) for r in rows], name="Return",
                    mode="markers", marker={"color": BRAND, "size": 10, "symbol": "diamond"})
    fig.update_layout(barmode="relative", xaxis={"title": "EUR"})
    return fig


def reasons_figure(d: Dashboard) -> go.Figure:
    rows = list(reversed(d.reasons))
    fig = go.Figure()
    for key, label in (("retained", "Retained"), ("cancelled", "Cancelled"), ("handed_off", "Handed off"),
                       ("other", "Open / abandoned")):
        fig.add_bar(y=[r.reason for r in rows], x=[getattr(r, key) for r in rows], name=label, orientation="h",
                    marker_color=PALETTE[key])
    fig.update_layout(barmode="stack", xaxis={"title": "cases"})
    return fig


def offers_figure(d: Dashboard) -> go.Figure:
    rows = [o for o in d.offers if o.accepted + o.declined][:15]
    rows.sort(key=lambda o: o.acceptance.value or 0)
    labels = [f"{o.offer_id} ({o.variant})" for o in rows]
    return go.Figure(go.Bar(y=labels, x=[o.acceptance.percent for o in rows], orientation="h",
                            marker_color=ACCENT, text=[f"{o.accepted}/{o.accepted + o.declined}" for o in rows],
                            textposition="auto")).update_layout(xaxis={"title": "acceptance %", "range": [0, 100]})


# ============================================================================ pages


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
    with _state().session() as s:
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
    state = _state()
    with state.session() as s:
        detail = case_detail(s, case_id)
    if detail is None:
        return [html.P("This case no longer exists.", className="note")]
    lines = read_transcript(state.tracker(), detail.conversation_id)
    show = user.can_see_contact

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
        html.Div([html.H3(f"Conversation {detail.conversation_id}"),
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
    with _state().session() as s:
        plans, checkins = action_plans(s, filters)
    return [
        html.H2("Action plans and their check-ins"),
        table_card(plans_table(plans), user, export_href("plans", filters)),
        table_card(checkins_table(checkins), user, export_href("checkins", filters)),
    ]


def queue_body(user: CurrentUser, filters: Filters) -> list[Any]:
    with _state().session() as s:
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
    with _state().session() as s:
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


def filters_from(start: str | None, end: str | None, channels: Any, languages: Any, reasons: Any,
                 segments: Any) -> Filters:
    def day(value: str | None) -> date | None:
        return date.fromisoformat(value[:10]) if value else None

    def many(value: Any) -> tuple[str, ...]:
        if not value:
            return ()
        return tuple(value) if isinstance(value, (list, tuple)) else (str(value),)

    return Filters(since=day(start), until=day(end), channels=many(channels), languages=many(languages),
                   reasons=many(reasons), segments=many(segments))


# ============================================================================ layout


def _nav(user: CurrentUser | None) -> list[Any]:
    if user is None:
        return []
    pages = PAGES if user.is_supervisor else {AGENT_HOME: PAGES[AGENT_HOME]}
    return [dcc.Link(label, href=path, className="nav-link", id=f"nav-{path.strip('/') or 'overview'}")
            for path, label in pages.items()]


def serve_layout() -> html.Div:
    user = current_user()
    defaults = default_filters() if user is not None and user.is_supervisor else Filters()
    hide_filters = user is None or not user.is_supervisor
    dropdown = {"multi": True, "clearable": True, "className": "filter"}
    return html.Div([
        dcc.Location(id="url"),
        html.Header([
            html.Div([html.Strong("Nubia Telecom"), html.Span(" · Retention analytics")], className="brand"),
            html.Nav(_nav(user), className="nav", id="nav"),
            html.Div([html.Span(f"{user.username} ({user.role})" if user else "", id="whoami"),
                      html.A("Log out", href="/logout", id="logout")], className="who"),
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
.who a{color:#ffb3dc}.filters{display:flex;gap:10px;flex-wrap:wrap;padding:12px 24px;background:#fff;
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


# ============================================================================ the app


def _no_such_file(_error: Exception) -> tuple[str, int, dict[str, str]]:
    return "Not found", 404, {"Content-Type": "text/plain; charset=utf-8"}


def create_app(db_url: str | None = None, tracker_db_url: str | None = None, *, secret: str | None = None,
               hours: float | None = None, clock: Callable[[], float] = time.time,
               cookie_secure: bool | None = None) -> Dash:
    """The Dash app (``app.server`` is the Flask WSGI app)."""
    server = Flask(__name__, static_folder=None)  # Dash serves its own files; nothing else is public
    lifetime = (hours if hours is not None else session_hours()) * 3600
    server.config.update(
        SECRET_KEY=secret or secret_key(), SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=_cookie_secure() if cookie_secure is None else cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=lifetime), SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024)
    server.extensions["nubia_analytics"] = AppState(db_url=db_url or database_url(), tracker_url=tracker_db_url,
                                                    lifetime=lifetime, clock=clock)
    server.before_request(_guard)
    server.after_request(_security_headers)
    server.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout, methods=["GET", "POST"])
    server.add_url_rule("/healthz", "healthz", healthz)
    server.add_url_rule("/export/<name>.csv", "export", export)
    server.add_url_rule("/conversations/<path:conversation_id>", "conversation", conversation_view)
    agent_desk.register(server)  # POST /agent/conversations/<id>/reply|resume
    # Dash raises DependencyException for a component file or library it does not have: a 404
    server.register_error_handler(DependencyException, _no_such_file)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        app = Dash(__name__, server=server, title="Nubia · Retention analytics", update_title=None,
                   suppress_callback_exceptions=True, serve_locally=True, compress=False)
    app.index_string = INDEX
    app.layout = serve_layout
    _register_callbacks(app)
    _check_value_rules(app)
    server.extensions["nubia_analytics"].callbacks = app.callback_map
    go.Figure(layout={"template": "plotly_white"})  # load plotly's validators and template now, not on a request
    return app


VALUE_RULES: dict[str, callback_guard.Rule] = {
    "url.pathname": callback_guard.optional_text,
    "f-dates.start_date": callback_guard.optional_text,
    "f-dates.end_date": callback_guard.optional_text,
    "f-channel.value": callback_guard.choices,
    "f-language.value": callback_guard.choices,
    "f-reason.value": callback_guard.choices,
    "f-segment.value": callback_guard.choices,
    "queue-tick.n_intervals": callback_guard.optional_int,
    "conv-table.active_cell": callback_guard.optional_object,
}  # the type of every callback input and state, as the components send it


def _check_value_rules(app: Dash) -> None:
    """Every callback input needs a rule in VALUE_RULES, else its requests would all be refused."""
    missing = callback_guard.missing_rules(app.callback_map, VALUE_RULES)
    if missing:
        raise RuntimeError(f"no VALUE_RULES entry for callback inputs {', '.join(missing)}")


def _register_callbacks(app: Dash) -> None:
    @app.callback(Output("page", "children"), Input("url", "pathname"), Input("f-dates", "start_date"),
                  Input("f-dates", "end_date"), Input("f-channel", "value"), Input("f-language", "value"),
                  Input("f-reason", "value"), Input("f-segment", "value"))
    def render_page(pathname: str | None, start: str | None, end: str | None, channels: Any, languages: Any,
                    reasons: Any, segments: Any) -> list[Any]:
        user = current_user()
        if user is None:
            raise PreventUpdate
        path = pathname or "/"
        if not user.is_supervisor:
            path = AGENT_HOME
        builder = PAGE_BUILDERS.get(path)
        if builder is None:
            return [html.H2("Page not found"), dcc.Link("Back to the overview", href="/")]
        try:
            filters = filters_from(start, end, channels, languages, reasons, segments)
        except ValueError as exc:
            return [html.P(f"Check the filters: {exc}", className="note")]
        return builder(user, filters)

    @app.callback(Output("queue-body", "children"), Input("queue-tick", "n_intervals"),
                  State("f-channel", "value"), State("f-language", "value"), prevent_initial_call=True)
    def refresh_queue(_: int | None, channels: Any, languages: Any) -> list[Any]:
        user = current_user()
        if user is None:
            raise PreventUpdate
        try:
            filters = filters_from(None, None, channels, languages, None, None)
        except ValueError as exc:
            return [html.P(f"Check the filters: {exc}", className="note")]
        return queue_body(user, filters)

    @app.callback(Output("conv-detail", "children"), Input("conv-table", "active_cell"), prevent_initial_call=True)
    def show_conversation(active_cell: dict[str, Any] | None) -> list[Any]:
        user = current_user()
        if user is None or not user.is_supervisor or not active_cell or active_cell.get("row_id") is None:
            raise PreventUpdate
        return conversation_detail(user, _int_arg(active_cell["row_id"]))


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    parser = argparse.ArgumentParser(description="Nubia retention analytics dashboard (login required).")
    parser.add_argument("--host", default=_env("ANALYTICS_HOST") or DEFAULT_HOST,
                        help="interface (ANALYTICS_HOST, default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=int(_env("ANALYTICS_PORT") or DEFAULT_PORT),
                        help="port (ANALYTICS_PORT, default 8050)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app()
    try:
        with app.server.extensions["nubia_analytics"].session() as s:
            users = s.query(DashboardUser).count()
    except Exception as exc:  # noqa: BLE001 - explain instead of a traceback
        parser.error(f"the database is not ready ({exc.__class__.__name__}): run `python -m bot.storage.seed` first")
    if not users:
        logger.warning("no dashboard user yet: create one with "
                       "`python -m analytics.users create NAME --role supervisor`")
    logger.info("dashboard on http://%s:%s (login required)", args.host, args.port)
    app.run(host=args.host, port=args.port, debug=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
