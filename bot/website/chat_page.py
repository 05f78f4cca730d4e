"""The demo website's chat page: its texts in both languages, style and script, the demo
personas a visitor may log in as, and the rendering of the page and its error pages. The routes
and the application are in ``bot.website.app``."""

from __future__ import annotations

import asyncio
import html
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from bot.core.language import LANGUAGES
from bot.messaging import demo_phone

logger = logging.getLogger(__name__)

DEFAULT_LANGUAGE = "es"
DEMO_CUSTOMERS = 7
# The hand-made personas of ``bot.storage.seed.PERSONAS`` (the first seeded customers): the only ones a
# visitor of the demo may log in as. Every other customer is real-looking data, never offered.
DEMO_PERSONA_REFS: tuple[str, ...] = tuple(f"C{i:05d}" for i in range(1, DEMO_CUSTOMERS + 1))
ANONYMOUS_VALUE = "anonymous"
BRAND_COLOR = "#2b1b6b"
CHAT_STORAGE_KEY = "chat_session"  # where rasa-webchat keeps its session (fixed in the widget)

TEXTS: dict[str, dict[str, str]] = {
    "es": {
        "title": "Nubia Telecom · Área de clientes",
        "tagline": "Fibra, móvil y televisión",
        "intro": "Bienvenido a la demo del asistente de atención al cliente de Nubia Telecom. "
                 "Elige un cliente de prueba para entrar como él, o sigue como visitante, "
                 "y abre el chat en la esquina inferior derecha.",
        "intro_public": "Bienvenido a Nubia Telecom. Abre el chat en la esquina inferior "
                        "derecha: el asistente te pedirá tu número de cliente y tu código "
                        "postal antes de tocar tu contrato.",
        "login_label": "Entrar como",
        "demo_phone_link": ("Teléfono de demostración: los SMS que el asistente envía "
                            "(códigos de verificación incluidos)"),
        "demo_phone_title": "Teléfono de demostración",
        "demo_phone_intro": ("Sin Twilio configurado, los SMS a los móviles de los clientes de demo llegan aquí. "
                             "Los enviados a cualquier otro cliente no los ve nadie."),
        "demo_phone_empty": "Todavía no se ha enviado ningún SMS.",
        "anonymous": "Visitante anónimo (sin iniciar sesión)",
        "change": "Cambiar",
        "logged_in": "Has iniciado sesión como <strong>{name}</strong> (cliente {ref}).",
        "logged_out": "No has iniciado sesión: el asistente te atenderá como visitante.",
        "chat_hint": "El asistente está en la burbuja de la esquina inferior derecha.",
        "footer": "Demo con datos ficticios: ningún cliente, teléfono ni correo es real.",
        "language": "Idioma",
        "widget_subtitle": "Asistente virtual",
        "widget_hint": "Escribe un mensaje…",
        "widget_connecting": "Conectando con el asistente…",
        "widget_missing": "El chat no está instalado en este servidor (ejecuta «make setup»).",
        "error_title": "No se puede mostrar la página",
        "unknown_customer": "No existe ningún cliente con la referencia «{ref}».",
        "not_demo_customer": "Solo se puede entrar como uno de los clientes de prueba de la "
                             "demo; «{ref}» no es uno de ellos.",
        "login_disabled": "Este sitio no permite entrar como un cliente (solo en modo demo). "
                          "Abre el chat como visitante: el asistente comprobará tu identidad.",
        "db_unavailable": "La base de datos de la demo no está lista. Ejecuta «make setup».",
        "back": "Volver al inicio",
    },
    "en": {
        "title": "Nubia Telecom · Customer area",
        "tagline": "Fibre, mobile and TV",
        "intro": "Welcome to the demo of Nubia Telecom's customer service assistant. "
                 "Pick a test customer to log in as, or stay a visitor, "
                 "and open the chat in the bottom right corner.",
        "intro_public": "Welcome to Nubia Telecom. Open the chat in the bottom right corner: "
                        "the assistant asks for your customer number and postcode before it "
                        "touches your contract.",
        "login_label": "Log in as",
        "demo_phone_link": "Demo phone: the texts the assistant sends (verification codes included)",
        "demo_phone_title": "Demo phone",
        "demo_phone_intro": ("With no Twilio set up, texts to the demo customers' mobiles arrive here. "
                             "Those sent to any other customer are seen by no one."),
        "demo_phone_empty": "No text has been sent yet.",
        "anonymous": "Anonymous visitor (not logged in)",
        "change": "Change",
        "logged_in": "You are logged in as <strong>{name}</strong> (customer {ref}).",
        "logged_out": "You are not logged in: the assistant will treat you as a visitor.",
        "chat_hint": "The assistant is in the bubble in the bottom right corner.",
        "footer": "Demo with fictional data: no customer, phone number or e-mail is real.",
        "language": "Language",
        "widget_subtitle": "Virtual assistant",
        "widget_hint": "Type a message…",
        "widget_connecting": "Connecting to the assistant…",
        "widget_missing": "The chat is not installed on this server (run \"make setup\").",
        "error_title": "This page cannot be shown",
        "unknown_customer": "There is no customer with reference \"{ref}\".",
        "not_demo_customer": "You can only log in as one of the demo's test customers; "
                             "\"{ref}\" is not one of them.",
        "login_disabled": "This site does not log you in as a customer (demo mode only). "
                          "Open the chat as a visitor: the assistant will verify who you are.",
        "db_unavailable": "The demo database is not ready. Run \"make setup\".",
        "back": "Back to the start page",
    },
}

STYLE = """
*{box-sizing:border-box}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2330;
background:#f4f6fb;line-height:1.5}
header{background:#2b1b6b;color:#fff;padding:1rem 1.5rem;display:flex;align-items:center;
justify-content:space-between;gap:1rem;flex-wrap:wrap}
header h1{margin:0;font-size:1.4rem;letter-spacing:.02em}
header .tagline{margin:0;font-size:.9rem;opacity:.85}
nav.lang a{color:#fff;margin-left:.5rem;text-decoration:none;padding:.15rem .45rem;
border-radius:4px;border:1px solid transparent}
nav.lang a[aria-current="true"]{border-color:#fff;font-weight:600}
main,footer{max-width:46rem;padding:0 1.5rem;margin-right:auto;
margin-left:max(0px,calc((100% - 46rem - 400px) / 2))}
main{margin-top:2rem;margin-bottom:2rem}
.card{background:#fff;border-radius:10px;padding:1.25rem 1.5rem;
box-shadow:0 1px 3px rgba(0,0,0,.08);margin-bottom:1.25rem}
label{font-weight:600;display:block;margin-bottom:.35rem}
select,button{font:inherit;padding:.4rem .6rem;border-radius:6px;border:1px solid #b8bfd0}
button{background:#2b1b6b;color:#fff;border-color:#2b1b6b;cursor:pointer}
.status{margin:.75rem 0 0}
.error{border-left:4px solid #c62828}
.notice{color:#c62828}
footer{margin-bottom:6rem;font-size:.85rem;color:#5b6275}
.rw-widget-container,.rw-widget-container *{font-family:inherit}
.rw-launcher{background-color:#2b1b6b}
"""

PAGE_JS = """(function () {
  "use strict";
  var cfgNode = document.getElementById("webchat-config");
  if (!cfgNode) { return; }
  var cfg = JSON.parse(cfgNode.textContent);

  var select = document.getElementById("customer-select");
  if (select && select.form) {
    select.addEventListener("change", function () {
      var option = select.options[select.selectedIndex];
      var lang = option && option.getAttribute("data-lang");
      var langInput = document.getElementById("lang-input");
      if (lang && langInput) { langInput.value = lang; }
      select.form.submit();
    });
  }

  // A fresh conversation whenever the visitor changes customer (or language): the widget
  // keeps its session under one fixed key, so drop it when it belongs to someone else.
  try {
    if (window.sessionStorage.getItem(cfg.ownerStorageKey) !== cfg.owner) {
      window.sessionStorage.removeItem(cfg.chatStorageKey);
      window.sessionStorage.setItem(cfg.ownerStorageKey, cfg.owner);
    }
  } catch (err) { /* storage disabled: the widget starts a new session anyway */ }

  if (!window.WebChat || typeof window.WebChat.default !== "function") {
    var notice = document.getElementById("chat-missing");
    if (notice) { notice.hidden = false; }
    return;
  }
  window.WebChat.default(cfg.widget, null);
})();
"""


@dataclass(frozen=True)
class Visitor:
    """Who the page is shown to: a demo customer or an anonymous visitor."""

    ref: str | None
    name: str | None
    language: str


class PageError(Exception):
    def __init__(self, status: int, message_key: str, **params: str) -> None:
        super().__init__(message_key)
        self.status = status
        self.message_key = message_key
        self.params = params


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def json_for_script(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element (no ``</script>``, no HTML comments)."""
    return (json.dumps(value, ensure_ascii=False)
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def with_token(url: str, token: str | None) -> str:
    if not token:
        return url
    return f"{url}{'&' if '?' in url else '?'}{urlencode({'token': token})}"


def content_security_policy(socket_url: str) -> str:
    parts = urlsplit(socket_url)
    connect = ["'self'"]
    if parts.scheme in ("http", "https") and parts.netloc:
        ws = "wss" if parts.scheme == "https" else "ws"
        connect += [f"{parts.scheme}://{parts.netloc}", f"{ws}://{parts.netloc}"]
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # the widget injects its own <style> elements
        "img-src 'self' data: https:",
        "font-src 'self' data:",
        f"connect-src {' '.join(connect)}",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _load_customers() -> list[dict[str, str]]:
    from bot.core.customers import list_demo_customers
    from bot.storage.db import session_scope

    with session_scope() as session:
        customers = list_demo_customers(session, limit=DEMO_CUSTOMERS)
    return [c for c in customers if c["ref"] in DEMO_PERSONA_REFS]


def persona_ref(value: str) -> str | None:
    """The demo persona that ``value`` names (any case), else None."""
    ref = value.strip().upper()
    return ref if value.isascii() and ref in DEMO_PERSONA_REFS else None


def _shown_ref(value: str) -> str:
    """``value`` fit to be repeated on a page: printable characters only, at most 64."""
    return "".join(ch for ch in value[:256] if ch.isprintable())[:64]


async def customers_and_visitor(customer_param: str | None, lang_param: str | None,
                                 demo: bool) -> tuple[list[dict[str, str]], Visitor]:
    """The selector's personas (demo mode only) and who the page is for.

    Raises :class:`PageError` 403 for a log-in the website does not allow (any customer outside
    demo mode, anyone but a persona in demo mode); the database is not read for those.
    """
    from sqlalchemy.exc import SQLAlchemyError

    lang = lang_param if lang_param in LANGUAGES else None
    ref = (customer_param or "").strip()
    anonymous = not ref or ref.lower() == ANONYMOUS_VALUE
    if not demo:
        if not anonymous:
            raise PageError(403, "login_disabled")
        return [], Visitor(None, None, lang or DEFAULT_LANGUAGE)
    persona = None if anonymous else persona_ref(ref)
    if not anonymous and persona is None:
        raise PageError(403, "not_demo_customer", ref=_shown_ref(ref))
    try:
        customers = await asyncio.to_thread(_load_customers)
    except SQLAlchemyError:
        logger.exception("The demo database is not available.")
        raise PageError(503, "db_unavailable") from None
    if persona is None:
        return customers, Visitor(None, None, lang or DEFAULT_LANGUAGE)
    found = next((c for c in customers if c["ref"] == persona), None)
    if found is None:  # a persona missing from the database (not seeded)
        raise PageError(400, "unknown_customer", ref=persona)
    language = found["language"] if found["language"] in LANGUAGES else DEFAULT_LANGUAGE
    return customers, Visitor(found["ref"], found["name"], lang or language)


def layout(lang: str, title: str, header_extra: str, body: str) -> str:
    return (
        "<!doctype html>\n"
        f'<html lang="{esc(lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        '<header><div><h1>Nubia Telecom</h1>'
        f'<p class="tagline">{esc(TEXTS[lang]["tagline"])}</p></div>{header_extra}</header>\n'
        f"{body}\n</body>\n</html>\n"
    )


def _lang_nav(lang: str, visitor_ref: str | None) -> str:
    links = []
    for code in LANGUAGES:
        query = {"lang": code} if visitor_ref is None else {"customer": visitor_ref, "lang": code}
        current = "true" if code == lang else "false"
        links.append(f'<a href="/?{esc(urlencode(query))}" hreflang="{code}" '
                     f'aria-current="{current}">{code.upper()}</a>')
    return f'<nav class="lang" aria-label="{esc(TEXTS[lang]["language"])}">{"".join(links)}</nav>'


def render_page(customers: list[dict[str, str]], visitor: Visitor, socket_url: str,
                demo: bool = True) -> str:
    """The page; without ``demo`` it has no log-in selector (the widget is anonymous)."""
    lang = visitor.language
    t = TEXTS[lang]
    anonymous_selected = " selected" if visitor.ref is None else ""
    anonymous_option = (f'<option value="{ANONYMOUS_VALUE}"{anonymous_selected}>'
                        f'{esc(t["anonymous"])}</option>')
    options = [anonymous_option]
    for c in customers:
        selected = " selected" if c["ref"] == visitor.ref else ""
        options.append(
            f'<option value="{esc(c["ref"])}" data-lang="{esc(c["language"])}"{selected}>'
            f'{esc(c["name"])} · {esc(c["ref"])} ({esc(c["language"].upper())})</option>')
    if visitor.ref is not None:
        status = t["logged_in"].format(name=esc(visitor.name), ref=esc(visitor.ref))
    else:
        status = esc(t["logged_out"])
    owner = f"{visitor.ref or ANONYMOUS_VALUE}:{lang}"
    config = {
        "owner": owner,
        "ownerStorageKey": "nubia_chat_owner",
        "chatStorageKey": CHAT_STORAGE_KEY,
        "widget": {
            "socketUrl": socket_url,
            "socketPath": "/socket.io/",
            "customData": {"language": lang},
            "title": "Nubia Telecom",
            "mainColor": BRAND_COLOR,
            "userBackgroundColor": BRAND_COLOR,
            "userTextColor": "#ffffff",
            "subtitle": t["widget_subtitle"],
            "inputTextFieldHint": t["widget_hint"],
            "connectingText": t["widget_connecting"],
            "storage": "session",
            "params": {"storage": "session"},
            "docViewer": False,
            "showFullScreenButton": False,
            "hideWhenNotConnected": False,
            "withRules": False,
        },
    }
    login_form = (
        '<form method="get" action="/" id="login-form">\n'
        f'<label for="customer-select">{esc(t["login_label"])}</label>\n'
        f'<select id="customer-select" name="customer">{"".join(options)}</select>\n'
        f'<input type="hidden" id="lang-input" name="lang" value="{esc(lang)}">\n'
        f'<noscript><button type="submit">{esc(t["change"])}</button></noscript>\n'
        "</form>\n"
    ) if demo else ""
    phone_link = (f'<p><a href="/demo/phone?{esc(urlencode({"lang": lang}))}" id="demo-phone-link">'
                  f'{esc(t["demo_phone_link"])}</a></p>\n') if demo and demo_phone.enabled() else ""
    body = (
        '<main>\n<section class="card">\n'
        f'<p>{esc(t["intro"] if demo else t["intro_public"])}</p>\n'
        f"{login_form}{phone_link}"
        f'<p class="status" id="login-status" data-customer="{esc(visitor.ref or "")}">'
        f"{status}</p>\n"
        "</section>\n"
        f'<section class="card"><p>{esc(t["chat_hint"])}</p>'
        f'<p class="notice" id="chat-missing" hidden>{esc(t["widget_missing"])}</p></section>\n'
        "</main>\n"
        f'<footer>{esc(t["footer"])}</footer>\n'
        f'<script type="application/json" id="webchat-config">{json_for_script(config)}</script>\n'
        '<script src="/static/webchat.js"></script>\n'
        '<script src="/static/page.js"></script>'
    )
    return layout(lang, t["title"], _lang_nav(lang, visitor.ref), body)


def render_error(lang: str, error: PageError) -> str:
    t = TEXTS[lang]
    message = t[error.message_key].format(**{k: v for k, v in error.params.items()})
    body = (
        '<main><section class="card error" role="alert">'
        f'<h2>{esc(t["error_title"])}</h2><p id="error-message">{esc(message)}</p>'
        f'<p><a href="/?{esc(urlencode({"lang": lang}))}">{esc(t["back"])}</a></p>'
        "</section></main>"
    )
    return layout(lang, t["error_title"], _lang_nav(lang, None), body)


