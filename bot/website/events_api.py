"""``POST /api/events``: key events from the company's systems (billing, network, CRM).

The body is one event as JSON (``bot.cli.events`` documents the fields). It must be signed:
``X-Signature: sha256=<hex HMAC-SHA256 of the raw body with EVENTS_API_SECRET>`` (the secret
is ``var/events_api_secret`` when the variable is unset). A replayed request is harmless: the
event id makes ingestion idempotent (``200`` with ``"duplicate": true``).

Answers: 201 taken in, 200 duplicate, 400 not JSON, 401 unsigned or wrong signature,
413 larger than 64 KB, 422 an invalid event (the message names the field), 503 database down.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.config.settings import events_api_secret

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
SECRET_KEY = web.AppKey("events_api_secret", str)


def signature(secret: str, body: bytes) -> str:
    """The ``X-Signature`` header value a sender puts on ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _ingest(raw: Any) -> dict[str, Any]:
    from bot.cli.events import ingest_one
    from bot.storage.db import session_factory

    return ingest_one(session_factory(), raw, "api")


async def post_event(request: web.Request) -> web.Response:
    from bot.core.alerts import EventError

    if (request.content_length or 0) > MAX_BODY_BYTES:
        return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    given = request.headers.get("X-Signature", "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"),
                               signature(request.app[SECRET_KEY], body).encode("ascii")):
        return _error(401, "missing or wrong X-Signature (sha256=<HMAC-SHA256 of the body>)")
    try:
        raw = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, a 5,000-digit number, deep nesting
        return _error(400, "the body must be a JSON object in UTF-8")
    try:
        result = await asyncio.get_running_loop().run_in_executor(None, _ingest, raw)
    except EventError as exc:
        return _error(422, str(exc))
    except SQLAlchemyError as exc:
        logger.error("Key event not taken in, database error: %s", type(exc).__name__)
        return _error(503, "database unavailable; send the event again later (same id)")
    return web.json_response(result, status=200 if result["duplicate"] else 201)


def add_routes(app: web.Application, secret: str | None = None) -> None:
    app[SECRET_KEY] = secret or events_api_secret()
    app.router.add_post("/api/events", post_event, name="events")
