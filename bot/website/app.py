"""The demo website: a small Nubia Telecom page that embeds the chat widget.

``python -m bot.website.app [--host H] [--port N]`` serves on ``WEB_PORT`` (8080):

* ``GET /``: page text in Spanish or English (``?lang=es|en``) and the ``rasa-webchat`` widget.
  The widget is anonymous (the assistant verifies identity itself, customer number + postcode)
  unless the website runs in demo mode (``WEB_DEMO=1``, ``bot.config.settings.web_demo()``): then a
  selector lets the visitor "log in" as one of the demo personas (``?customer=C00001``, only
  ``DEMO_PERSONA_REFS``), and for them the widget's socket URL carries a signed, short-lived
  token (see ``bot.channels``) that the Rasa channel verifies. Any other ``?customer=`` is
  refused with a 403 page and no token: every customer other than a persona, and every
  customer at all outside demo mode. No other route signs a chat token.
* ``GET /static/webchat.js``: the widget bundle from ``web/node_modules`` (``make setup``).
* ``GET /static/page.js``: the page's own script (starts the widget).
* ``GET /healthz``: ``ok``.
* ``GET /plan/<token>``: the printable action plan the customer got a link to (``bot.website.plan_page``).

The page itself (texts, style, script, rendering) is ``bot.website.chat_page``. Other modules
add routes with ``app = make_app(); app.router.add_get(...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from bot.channels import issue_web_token
from bot.config.settings import (
    PROJECT_ROOT,
    rasa_public_url,
    web_demo,
    web_host,
    web_jwt_secret,
    web_port,
    web_token_ttl_seconds,
)
from bot.core.language import LANGUAGES
from bot.messaging import demo_phone
from bot.storage.seed import phone_for
from bot.website import events_api, pay_page
from bot.website.chat_page import (
    DEFAULT_LANGUAGE,
    DEMO_PERSONA_REFS,
    PAGE_JS,
    TEXTS,
    PageError,
    content_security_policy,
    customers_and_visitor,
    esc,
    layout,
    render_error,
    render_page,
    with_token,
)
from bot.website.plan_page import plan_page

logger = logging.getLogger(__name__)

WEBCHAT_JS = PROJECT_ROOT / "web" / "node_modules" / "rasa-webchat" / "lib" / "index.js"

WEBCHAT_JS_KEY = web.AppKey("webchat_js", Path)
JWT_SECRET_KEY = web.AppKey("jwt_secret", str)
DEMO_KEY = web.AppKey("demo", bool)


def _security_headers(response: web.StreamResponse, csp: str | None = None) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if csp:
        response.headers["Content-Security-Policy"] = csp


async def index(request: web.Request) -> web.Response:
    lang_param = request.query.get("lang")
    demo = request.app[DEMO_KEY]
    try:
        customers, visitor = await customers_and_visitor(request.query.get("customer"),
                                                          lang_param, demo)
    except PageError as error:
        lang = lang_param if lang_param in LANGUAGES else DEFAULT_LANGUAGE
        response = web.Response(text=render_error(lang, error), status=error.status,
                                content_type="text/html", charset="utf-8")
        response.headers["Cache-Control"] = "no-store"
        _security_headers(response, content_security_policy(rasa_public_url()))
        return response
    token = None
    if demo and visitor.ref is not None and visitor.ref in DEMO_PERSONA_REFS:
        token = issue_web_token(visitor.ref, request.app[JWT_SECRET_KEY], web_token_ttl_seconds())
    socket_url = with_token(rasa_public_url(), token)
    response = web.Response(text=render_page(customers, visitor, socket_url, demo),
                            content_type="text/html", charset="utf-8")
    response.headers["Cache-Control"] = "no-store"  # the page carries a personal token
    _security_headers(response, content_security_policy(rasa_public_url()))
    return response


async def webchat_js(request: web.Request) -> web.StreamResponse:
    path = request.app[WEBCHAT_JS_KEY]
    if not path.is_file():
        response = web.Response(
            status=503, content_type="text/plain", charset="utf-8",
            text=("rasa-webchat is not installed: run `make setup` "
                  f"(or `npm ci --prefix web`). Missing file: {path}\n"))
    else:
        response = web.FileResponse(path, headers={
            "Content-Type": "application/javascript; charset=utf-8",
            "Cache-Control": "public, max-age=3600"})
    _security_headers(response)
    return response


async def page_js(_: web.Request) -> web.Response:
    response = web.Response(text=PAGE_JS, content_type="application/javascript",
                            charset="utf-8")
    _security_headers(response)
    return response


async def demo_phone_page(request: web.Request) -> web.Response:
    """The demo personas' phones (demo mode only): the texts the assistant sent them."""
    if not request.app[DEMO_KEY]:
        raise web.HTTPNotFound(text="Not found")
    lang = request.query.get("lang") if request.query.get("lang") in LANGUAGES else DEFAULT_LANGUAGE
    t = TEXTS[lang]
    owners = {phone_for(i): ref for i, ref in enumerate(DEMO_PERSONA_REFS)}
    texts = await asyncio.to_thread(demo_phone.texts_to, list(owners), 30)
    rows = "".join(f'<li class="sms"><strong>{esc(owners.get(x.to_number, ""))}</strong> '
                   f'<span class="when">{esc(x.sent_at)}</span><br>{esc(x.body)}</li>' for x in texts)
    body = (f'<main><section class="card"><h2>{esc(t["demo_phone_title"])}</h2>'
            f'<p>{esc(t["demo_phone_intro"])}</p>'
            + (f'<ul id="demo-phone">{rows}</ul>' if rows
               else f'<p id="demo-phone-empty">{esc(t["demo_phone_empty"])}</p>')
            + f'<p><a href="/?{esc(urlencode({"lang": lang}))}">{esc(t["back"])}</a></p></section></main>')
    response = web.Response(text=layout(lang, t["demo_phone_title"], "", body), content_type="text/html",
                            charset="utf-8")
    response.headers["Cache-Control"] = "no-store"
    _security_headers(response)
    return response


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app(webchat_js_path: Path | None = None, jwt_secret: str | None = None,
             demo: bool | None = None, events_secret: str | None = None) -> web.Application:
    """The website's application; add routes to ``app.router`` before it starts.

    ``demo`` (default: ``WEB_DEMO``, read now) allows logging in as a demo persona.
    """
    app = web.Application()
    app[WEBCHAT_JS_KEY] = webchat_js_path or WEBCHAT_JS
    app[JWT_SECRET_KEY] = jwt_secret or web_jwt_secret()
    app[DEMO_KEY] = web_demo() if demo is None else demo
    app.router.add_get("/", index, name="index")
    app.router.add_get("/static/webchat.js", webchat_js, name="webchat_js")
    app.router.add_get("/static/page.js", page_js, name="page_js")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/plan/{token}", plan_page, name="plan")
    app.router.add_get("/demo/phone", demo_phone_page, name="demo_phone")
    events_api.add_routes(app, events_secret)
    pay_page.add_routes(app)
    return app


def main(argv: list[str] | None = None) -> None:
    from bot.config.settings import protect_data_files

    protect_data_files()  # var/ holds personal data and secrets: files 0600
    parser = argparse.ArgumentParser(description="Nubia Telecom demo website")
    parser.add_argument("--host", default=None, help="interface (WEB_HOST, default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=None, help="port (WEB_PORT, default 8080)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    host = args.host or web_host()
    port = args.port if args.port is not None else web_port()
    if not WEBCHAT_JS.is_file():
        logger.warning("rasa-webchat is missing (%s): run `make setup`.", WEBCHAT_JS)
    app = make_app()
    if app[DEMO_KEY]:
        mode = f"demo mode: visitors may log in as {', '.join(DEMO_PERSONA_REFS)}"
    else:
        mode = "no customer log-in (WEB_DEMO=1 allows the demo personas)"
    logger.info("Website on http://%s:%d (Rasa at %s), %s", host, port, rasa_public_url(), mode)
    web.run_app(app, host=host, port=port, print=None)


if __name__ == "__main__":
    main()
