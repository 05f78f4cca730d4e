"""``/pay/<token>``: update the payment method after a failed payment (a demo form).

The customer gets the link by SMS (``payment_failed`` key event). The link works once and
expires (``bot.core.payment_links``); an unknown, used or expired link shows the same page
and status (404), so a guessed link tells nothing. The form asks for no card data: it records
that the customer updated the method and which kind they chose (card or direct debit).
"""

from __future__ import annotations

import asyncio
import html
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bot.core.payment_links import METHODS, find_link, find_valid, use_link
from bot.storage.db import session_scope
from bot.storage.models import Customer

TEXTS = {
    "es": {"title": "Actualiza tu forma de pago", "lead": "Hola {name}, elige cómo quieres pagar tus recibos.",
           "card": "Tarjeta", "direct_debit": "Domiciliación bancaria", "submit": "Guardar",
           "demo": "Demostración: aquí no se piden ni se guardan datos de tarjeta o cuenta.",
           "done": "Gracias: hemos registrado tu nueva forma de pago. Ya puedes cerrar esta página.",
           "gone": ("Este enlace no es válido, ya se usó o ha caducado. "
                    "Puedes actualizar tu forma de pago en el Área de cliente.")},
    "en": {"title": "Update your payment method", "lead": "Hi {name}, choose how you want to pay your bills.",
           "card": "Card", "direct_debit": "Direct debit", "submit": "Save",
           "demo": "Demo: no card or bank details are asked for or stored here.",
           "done": "Thank you: we've recorded your new payment method. You can close this page.",
           "gone": ("This link is not valid, was already used or has expired. "
                    "You can update your payment method in the Customer Area.")},
}
CSS = "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}h1{color:#2b1b6b}"


def _page(language: str, body: str) -> str:
    t = TEXTS[language]
    return (f"<!doctype html><html lang='{language}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{t['title']} · Nubia</title><style>{CSS}</style></head><body>"
            f"<h1>{t['title']}</h1>{body}</body></html>")


def _respond(text: str, status: int = 200) -> web.Response:
    response = web.Response(text=text, status=status, content_type="text/html", charset="utf-8")
    response.headers.update({"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                             "X-Frame-Options": "DENY", "Cache-Control": "private, no-store",
                             "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                        "form-action 'self'"})
    return response


def _gone(language: str) -> web.Response:
    return _respond(_page(language, f"<p>{TEXTS[language]['gone']}</p>"), status=404)


def _language(session: Any, link: Any) -> str:
    customer = session.get(Customer, link.customer_id) if link is not None else None
    return customer.language if customer is not None and customer.language in TEXTS else "es"


def _form(token: str) -> tuple[str | None, str]:
    """(the form, or None when the link is not usable; the customer's language)."""
    with session_scope() as session:
        link = find_valid(session, token)
        if link is None:
            return None, _language(session, find_link(session, token))
        language = _language(session, link)
        customer = session.get(Customer, link.customer_id)
        name = customer.first_name if customer else ""
    t = TEXTS[language]
    options = "".join(f"<p><label><input type='radio' name='method' value='{m}'{' checked' if i == 0 else ''}> "
                      f"{t[m]}</label></p>" for i, m in enumerate(METHODS))
    body = (f"<p>{html.escape(t['lead'].format(name=name))}</p><form method='post'>{options}"
            f"<p><button type='submit'>{t['submit']}</button></p></form><p><small>{t['demo']}</small></p>")
    return _page(language, body), language


def _submit(token: str, method: str) -> tuple[bool, str]:
    with session_scope() as session:
        language = _language(session, find_link(session, token))
        return use_link(session, token, method), language


async def pay_page(request: web.Request) -> web.Response:
    token = request.match_info.get("token", "")
    page, language = await asyncio.get_running_loop().run_in_executor(None, _form, token)
    if page is None:
        return _gone(language)
    return _respond(page)


def _cross_site(request: web.Request) -> bool:
    """A browser says where a form post comes from (``Sec-Fetch-Site``; ``Origin`` is ``null``
    here because the page sends no referrer): only this site's own form may use a link."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("Origin", "")
    return bool(origin) and origin != "null" and urlsplit(origin).netloc.lower() != request.host.lower()


async def pay_submit(request: web.Request) -> web.Response:
    token = request.match_info.get("token", "")
    if _cross_site(request):
        return _respond(_page("es", "<p>Forbidden</p>"), status=403)
    form: Any = await request.post()
    method = form.get("method") if hasattr(form, "get") else None
    if method not in METHODS:
        method = "__none__"
    done, language = await asyncio.get_running_loop().run_in_executor(None, _submit, token, method)
    if not done:
        return _gone(language)
    return _respond(_page(language, f"<p>{TEXTS[language]['done']}</p>"))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/pay/{token}", pay_page, name="pay")
    app.router.add_post("/pay/{token}", pay_submit, name="pay_submit")
