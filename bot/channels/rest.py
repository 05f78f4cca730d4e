"""Rasa's REST channel for anonymous callers, with input hygiene.

Rasa's own ``RestInput`` passes the request's ``metadata`` into the conversation verbatim,
so a caller could claim to be any customer. Here the identity keys that only a trusted
channel may set are removed, the message is length-capped, and malformed bodies get a
clear 400 instead of a server error.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import faults, safe_text, valid_client_id
from bot.config import settings
from bot.config.network import source_address

# Keys that identify a customer: only channels that verified the identity may set them.
SERVER_OWNED_KEYS = frozenset({"channel", "customer_ref", "authenticated", "customer_phone",
                               "phone_verified", "source"})
# Every REST conversation id starts with this: a REST caller cannot address an SMS ("sms-"),
# voice ("voice-") or website ("web-") conversation, whatever sender it sends.
CONVERSATION_PREFIX = "rest-"
MAX_MESSAGE_CHARS = 2000
MAX_SENDER_CHARS = 128
MAX_METADATA_CHARS = 8000  # client metadata as JSON; more is refused (it is stored with every event)


def public_metadata(raw: Any, channel: str, source: str | None = None) -> Dict[Text, Any]:
    """Client metadata without identity keys, plus the channel name and the caller's address."""
    clean = {k: v for k, v in raw.items()
             if isinstance(k, str) and k.strip().lower() not in SERVER_OWNED_KEYS} \
        if isinstance(raw, dict) else {}
    clean["channel"] = channel
    clean["authenticated"] = False
    clean["source"] = f"{channel}:{source or 'unknown'}"
    return clean


def request_source(request: Request) -> str | None:
    """The caller's address for the identity check's limits: the TCP peer, or the client a
    trusted proxy names in ``X-Forwarded-For`` (``bot.config.network``)."""
    headers = getattr(request, "headers", None)
    forwarded = headers.getall("x-forwarded-for", []) if headers is not None else []
    return source_address(getattr(request, "ip", None), forwarded)


def conversation_id(sender: str) -> str:
    """The tracker's id of a REST ``sender``: always in the REST namespace."""
    return sender if sender.startswith(CONVERSATION_PREFIX) else CONVERSATION_PREFIX + sender


class PublicRestInput(RestInput):
    @classmethod
    def name(cls) -> Text:
        return "rest"

    def get_metadata(self, request: Request) -> Optional[Dict[Text, Any]]:
        body = request.json if isinstance(request.json, dict) else {}
        return public_metadata(body.get("metadata"), "rest", request_source(request))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        faults.install()
        settings.trusted_proxies()  # a bad TRUSTED_PROXIES stops Rasa at start-up, saying why
        on_new_message = faults.guarded(on_new_message)
        inner = super().blueprint(on_new_message)
        bp = Blueprint("public_rest_webhook", url_prefix="/webhooks/rest")
        receive = next(r.handler for r in inner._future_routes if r.uri.endswith("/webhook"))

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            try:
                body = json.loads(request.body or b"")
            except (ValueError, UnicodeDecodeError, RecursionError):  # nesting too deep too
                return response.json({"error": "the body must be JSON: "
                                      '{"sender": "...", "message": "..."}'}, status=400)
            if not isinstance(body, dict):
                return response.json({"error": "the body must be a JSON object"}, status=400)
            message, sender = body.get("message"), body.get("sender")
            if message is not None and not isinstance(message, str):
                return response.json({"error": "'message' must be a string"}, status=400)
            if sender is None:  # Rasa's "default" would be one conversation shared by every caller
                return response.json({"error": "'sender' is required: an id the client keeps for "
                                      "the whole conversation, e.g. a random UUID"}, status=400)
            if len(json.dumps(body.get("metadata"), ensure_ascii=False)) > MAX_METADATA_CHARS:
                return response.json({"error": f"'metadata' is over {MAX_METADATA_CHARS} characters "
                                      "as JSON"}, status=413)
            if not valid_client_id(sender) or len(sender) > MAX_SENDER_CHARS - 5:
                return response.json({"error": "'sender' must be 1 to 123 characters: letters, "
                                      "digits and . _ - : @ + ="}, status=400)
            message = safe_text(message or "")
            if not message.strip():
                return response.json({"error": "'message' is empty: write what you need, e.g. "
                                      '"quiero darme de baja"'}, status=400)
            body["message"] = message[:MAX_MESSAGE_CHARS]
            body["sender"] = conversation_id(sender)
            request.parsed_json = body
            return await receive(request)

        return bp
