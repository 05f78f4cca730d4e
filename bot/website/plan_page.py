"""The printable action-plan page the customer receives a link to: ``GET /plan/<token>``.

The token is the plan's unguessable URL token (``bot.core.action_plans``); any other path or token
gives a plain 404, so a guessed or mistyped link shows nothing of anybody. The page is in the
plan's language (``?lang=es|en`` switches), carries the plan's reference, both sides'
commitments, the gift and the check-in dates, and prints cleanly (print CSS, no chat widget).
"""

from __future__ import annotations

import asyncio
import html
import re

from aiohttp import web

from bot.core.action_plans import find_by_token
from bot.core.i18n import format_short_date
from bot.storage.db import session_scope
from bot.storage.models import ActionPlan

TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
TEXTS = {
    "es": {"title": "Tu plan de acción", "ref": "Referencia", "you": "Tú te comprometes a",
           "we": "Nubia se compromete a", "gift": "Regalo", "checkins": "Te llamamos para ver cómo va",
           "print": "Imprimir", "other": "English", "not_found": "Este enlace no corresponde a ningún plan."},
    "en": {"title": "Your action plan", "ref": "Reference", "you": "You commit to",
           "we": "Nubia commits to", "gift": "Gift", "checkins": "We call you to see how it's going",
           "print": "Print", "other": "Español", "not_found": "This link does not match any plan."},
}
CSS = """
body{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1d1d1f}
h1{color:#2b1b6b}section{margin:1.2rem 0}li{margin:.3rem 0}.ref{color:#555}
nav a,nav button{margin-right:1rem}
@media print{nav{display:none}body{margin:0;max-width:none}h1{color:#000}}
"""


def render(plan: ActionPlan, language: str) -> str:
    t = TEXTS[language]
    esc = html.escape
    dates = [format_short_date(c.due_date, language) for c in plan.checkins]
    other = "en" if language == "es" else "es"
    items = lambda rows: "".join(f"<li>{esc(str(r))}</li>" for r in rows)  # noqa: E731
    return (f"<!doctype html><html lang='{language}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{t['title']} · Nubia</title><style>{CSS}</style></head><body>"
            f"<nav><a href='?lang={other}'>{t['other']}</a>"
            f"<button type='button' id='print'>{t['print']}</button></nav>"
            f"<h1>{t['title']}</h1><p class='ref'>{t['ref']}: <strong>{esc(plan.reference)}</strong></p>"
            f"<section><h2>{t['you']}</h2><ul>{items(plan.customer_commitments)}</ul></section>"
            f"<section><h2>{t['we']}</h2><ul>{items(plan.company_commitments)}</ul></section>"
            f"<section><h2>{t['gift']}</h2><p>{esc(plan.gift)}</p></section>"
            f"<section><h2>{t['checkins']}</h2><ul>{items(dates)}</ul></section>"
            f"<script>document.getElementById('print').onclick=function(){{window.print()}}</script>"
            f"</body></html>")


def _load(token: str, language: str | None) -> tuple[str, str] | None:
    with session_scope() as session:
        plan = find_by_token(session, token)
        if plan is None:
            return None
        lang = language if language in TEXTS else (plan.language if plan.language in TEXTS else "es")
        return render(plan, lang), lang


async def plan_page(request: web.Request) -> web.Response:
    token = request.match_info.get("token", "")
    if not TOKEN.match(token):
        raise web.HTTPNotFound(text=TEXTS["es"]["not_found"] + " / " + TEXTS["en"]["not_found"])
    found = await asyncio.get_running_loop().run_in_executor(None, _load, token, request.query.get("lang"))
    if found is None:
        raise web.HTTPNotFound(text=TEXTS["es"]["not_found"] + " / " + TEXTS["en"]["not_found"])
    response = web.Response(text=found[0], content_type="text/html", charset="utf-8")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
    return response
