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

Modules
    The app factory and callbacks are here; :mod:`analytics.config` (settings), :mod:`analytics.guards`
    (access checks and headers), :mod:`analytics.login`, :mod:`analytics.exports` (CSV exports and the
    transcript route), :mod:`analytics.layout`, :mod:`analytics.pages`, :mod:`analytics.components` and
    :mod:`analytics.charts` hold the rest.
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import unquote

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html
from dash.exceptions import DependencyException, PreventUpdate
from flask import Flask

from analytics import agent as agent_desk
from analytics.config import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    SESSION_COOKIE,
    cookie_secure_from_env,
    secret_key,
    session_hours,
)
from analytics.exports import conversation_view, export, int_arg, ticket_view
from analytics.filters import Filters
from analytics.guards import check_value_rules, guard, security_headers
from analytics.layout import INDEX, serve_layout
from analytics.login import healthz, login, logout
from analytics.pages import PAGE_BUILDERS, conversation_detail, queue_body
from analytics.session import AGENT_HOME, AppState, current_user
from analytics.tables import mask_conversation
from bot.config import settings
from bot.storage.db import database_url
from bot.storage.models import DashboardUser

logger = logging.getLogger(__name__)


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


def _no_such_file(_error: Exception) -> tuple[str, int, dict[str, str]]:
    return "Not found", 404, {"Content-Type": "text/plain; charset=utf-8"}


def create_app(db_url: str | None = None, tracker_db_url: str | None = None, *, secret: str | None = None,
               hours: float | None = None, clock: Callable[[], float] = time.time,
               cookie_secure: bool | None = None) -> Dash:
    """The Dash app (``app.server`` is the Flask WSGI app)."""
    settings.trusted_proxies()  # a bad TRUSTED_PROXIES stops the dashboard at start-up, saying why
    server = Flask(__name__, static_folder=None)  # Dash serves its own files; nothing else is public
    lifetime = (hours if hours is not None else session_hours()) * 3600
    server.config.update(
        SECRET_KEY=secret or secret_key(), SESSION_COOKIE_NAME=SESSION_COOKIE, SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=cookie_secure_from_env() if cookie_secure is None else cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=lifetime), SESSION_REFRESH_EACH_REQUEST=False,
        MAX_CONTENT_LENGTH=2 * 1024 * 1024)
    server.extensions["nubia_analytics"] = AppState(db_url=db_url or database_url(), tracker_url=tracker_db_url,
                                                    lifetime=lifetime, clock=clock)
    server.before_request(guard)
    server.after_request(security_headers)
    server.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout, methods=["GET", "POST"])
    server.add_url_rule("/healthz", "healthz", healthz)
    server.add_url_rule("/export/<name>.csv", "export", export)
    server.add_url_rule("/conversations/<path:conversation_id>", "conversation", conversation_view)
    server.add_url_rule("/tickets/<int:ticket_id>", "ticket", ticket_view)
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
    check_value_rules(app)
    server.extensions["nubia_analytics"].callbacks = app.callback_map
    go.Figure(layout={"template": "plotly_white"})  # load plotly's validators and template now, not on a request
    return app


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
        return conversation_detail(user, int_arg(active_cell["row_id"]))


class MaskedContacts(logging.Filter):
    """Log lines with phone numbers and e-mail addresses masked (a transcript path of an SMS
    conversation holds the caller's number)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        client, sep, request_line = message.partition(" - - [")  # the client's address stays readable
        if not sep:
            client, request_line = "", message
        for _ in range(3):  # "sms-%2B4477..." as a browser asks for it, or encoded twice
            request_line = unquote(request_line)
        masked = mask_conversation(request_line)
        if masked != request_line:
            record.msg, record.args = f"{client}{sep}{masked}", ()
        return True


def main(argv: list[str] | None = None) -> int:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    parser = argparse.ArgumentParser(description="Nubia retention analytics dashboard (login required).")
    parser.add_argument("--host", default=settings.env("ANALYTICS_HOST") or DEFAULT_HOST,
                        help="interface (ANALYTICS_HOST, default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=int(settings.env("ANALYTICS_PORT") or DEFAULT_PORT),
                        help="port (ANALYTICS_PORT, default 8050)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").addFilter(MaskedContacts())  # its access log writes the raw path
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
