"""What every request to the dashboard passes before it is served, and the headers on every answer.

:func:`guard` (Flask's ``before_request``) sends a visitor without a session to ``/login`` (pages) or
answers 401 (Dash's routes, exports), keeps agents on their pages, and for a Dash callback checks the
CSRF header and the body's shape (:mod:`analytics.callback_guard`, with :data:`VALUE_RULES`, the type of
every callback input). :func:`security_headers` (``after_request``) forbids framing, sniffing and
caching. Kept apart from the routes so that access control can be read in one place.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from dash import Dash
from flask import Response, g, redirect, request, session

from analytics import callback_guard
from analytics.session import AGENT_HOME, AppState, CurrentUser, app_state, same_secret, session_user

PUBLIC_PATHS = frozenset({"/login", "/logout", "/healthz"})
AGENT_CALLBACKS = frozenset({"page.children", "queue-body.children"})  # the callbacks an agent may run


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


def check_value_rules(app: Dash) -> None:
    """Every callback input needs a rule in VALUE_RULES, else its requests would all be refused."""
    missing = callback_guard.missing_rules(app.callback_map, VALUE_RULES)
    if missing:
        raise RuntimeError(f"no VALUE_RULES entry for callback inputs {', '.join(missing)}")


def _is_api(path: str) -> bool:
    return path.startswith(("/_dash-", "/_reload-hash", "/_favicon", "/export/", "/assets/", "/api/"))


def guard() -> Response | None:
    state = app_state()
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
          and not path.startswith(("/conversations/", "/tickets/"))):  # agents read the transcripts of tickets
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


def security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not request.path.startswith("/_dash-component-suites/"):
        response.headers["Cache-Control"] = "no-store"
    return response
