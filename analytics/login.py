"""Logging in and out of the dashboard: the login page, password checks, throttling and the session cookie.

``GET /login`` shows the form (with its own CSRF token), ``POST /login`` checks the password against
``dashboard_users`` (same time for an unknown user), limits failed attempts (:mod:`analytics.auth`) and
opens a server-side session in a fresh cookie; ``/logout`` closes it. ``/healthz`` is the other public
route. ``next`` after the login only leads to a path on this site.
"""

from __future__ import annotations

import html as html_lib
import logging
import math
import secrets

from flask import Response, current_app, redirect, request, session
from sqlalchemy import select
from werkzeug.security import check_password_hash

from analytics import auth
from analytics import session as logins
from analytics.config import CSRF_COOKIE
from analytics.session import AGENT_HOME, SUPERVISOR_ROLES, AppState, app_state, password_fingerprint, same_secret
from analytics.theme import BRAND
from bot.config.network import source_address
from bot.storage.models import DashboardUser, utcnow

logger = logging.getLogger("analytics.app")  # the dashboard's log, named as before the split

MAX_FAILURES = auth.USER_LIMIT  # wrong passwords for one user name...
LOCK_SECONDS = auth.USER_WINDOW  # ...within this many seconds lock it (see analytics.auth for addresses)


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
    state = app_state()
    if request.method == "GET":
        return _login_page()
    username = (request.form.get("username") or "").strip()
    password = request.form.get("password") or ""
    expected = session.get("login_csrf")
    if not same_secret(expected, request.form.get("csrf", "")):
        return _login_page("Your login form expired. Please try again.", username, status=400)
    address = source_address(request.remote_addr, request.headers.getlist("X-Forwarded-For")) or "?"
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


LOGOUT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log out · Nubia retention analytics</title>
<style>body{{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;color:#222}}
button{{background:{brand};color:#fff;border:0;padding:.5rem 1rem;border-radius:4px}}</style></head>
<body><h1>Log out?</h1><form method="post" action="/logout">
<input type="hidden" name="csrf" value="{csrf}"><button type="submit" id="logout-confirm">Log out</button>
</form><p><a href="/">Back to the dashboard</a></p></body></html>"""


def logout() -> Response:
    """Only a POST carrying the session's CSRF token logs out (the dashboard's button does): a
    link or a form on another site cannot end someone's session. A GET asks to confirm."""
    token = session.get("csrf")
    if not isinstance(token, str):
        return redirect("/login")
    given = request.form.get("csrf") or request.headers.get("X-CSRFToken") or ""
    if request.method != "POST" or not same_secret(token, given):
        page = LOGOUT_PAGE.format(brand=BRAND, csrf=html_lib.escape(token))
        return Response(page, status=200 if request.method == "GET" else 400, mimetype="text/html")
    app_state().sessions.close(session.get("sid"))
    session.clear()
    response = redirect("/login")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain")
