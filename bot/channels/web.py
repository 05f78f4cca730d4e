"""The website's chat channel: Rasa's socket.io channel with the visitor's identity attached.

The demo website signs a short-lived HS256 token (``sub`` = customer reference, ``exp``) with
``bot.config.settings.web_jwt_secret()``. ``rasa-webchat`` cannot send socket.io ``auth``, so the token
travels in the handshake's query string (``socketUrl: "http://rasa:5005?token=..."``); an
``auth={"token": ...}`` sent by other clients is accepted too.

* valid token: the connection is bound to that customer;
* invalid or expired token: the connection is refused;
* no token: an anonymous visitor.

Every user message reaches Rasa with metadata built on the server: the client's ``customData``
without the reserved identity keys (``RESERVED_METADATA_KEYS``: these three and the phone
identity keys of ``bot.channels.rest``), then ``channel="web"``, ``customer_ref`` (or None)
and ``authenticated``. A client can never set any of them itself.

With ``session_persistence: true`` the conversation (sender) id is ``web-<ref>-<session id>``
or ``web-anon-<session id>``, so a session id used by one customer can never continue another
customer's (or an anonymous visitor's) tracker. Registered in ``credentials.yml`` as
``bot.channels.web.SignedSocketIOInput``; its name stays ``socketio`` (path ``/socket.io``).
"""

from __future__ import annotations

import inspect
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer
from socketio.exceptions import ConnectionRefusedError as SocketIOConnectionRefused

from bot.channels import InvalidWebToken, engineio_guard, faults, safe_text, verify_web_token
from bot.channels.rest import MAX_MESSAGE_CHARS, MAX_METADATA_CHARS, SERVER_OWNED_KEYS, request_source
from bot.config.network import source_address
from bot.config.settings import trusted_proxies, web_jwt_secret

logger = logging.getLogger(__name__)

CHANNEL_NAME = "web"
# Identity keys only the server may set (plus every key the REST channel treats as such).
RESERVED_METADATA_KEYS = frozenset({"channel", "customer_ref", "authenticated"}) | SERVER_OWNED_KEYS
DEFAULT_MAX_MESSAGE_CHARS = MAX_MESSAGE_CHARS  # the same cap as the REST channel
SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")  # \Z: no trailing newline


@dataclass(frozen=True)
class WebIdentity:
    """Who is behind one socket.io connection, as proven by the handshake."""

    customer_ref: str | None = None
    #: the client's address as the server saw it (limits of the identity check)
    address: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.customer_ref is not None


ANONYMOUS = WebIdentity()


def token_from_handshake(environ: Mapping[str, Any] | None, auth: Any) -> str | None:
    """The token sent as socket.io ``auth["token"]`` or as ``?token=`` in the handshake URL.

    Returns None when neither carries one. Raises :class:`InvalidWebToken` when the query
    string carries several different tokens (ambiguous, so refused).
    """
    if isinstance(auth, Mapping):
        token = auth.get("token")
        if isinstance(token, str) and token:
            return token
    query = (environ or {}).get("QUERY_STRING") or ""
    if not isinstance(query, str) or not query:
        return None
    values = set(parse_qs(query).get("token", []))
    if len(values) > 1:
        raise InvalidWebToken("several tokens in the handshake")
    return values.pop() if values else None


def identity_from_handshake(environ: Mapping[str, Any] | None, auth: Any,
                            secret: str) -> WebIdentity:
    """The connection's identity; :class:`InvalidWebToken` if a token is there but not valid."""
    token = token_from_handshake(environ, auth)
    if token is None:
        return ANONYMOUS
    return WebIdentity(customer_ref=verify_web_token(token, secret))


def build_metadata(custom_data: Any, identity: WebIdentity) -> dict[str, Any]:
    """Message metadata: the client's ``customData`` minus reserved keys, plus the server's."""
    if isinstance(custom_data, str):
        try:
            custom_data = json.loads(custom_data) if len(custom_data) <= MAX_METADATA_CHARS \
                else None
        except ValueError:
            custom_data = None
    metadata: dict[str, Any] = {}
    if isinstance(custom_data, Mapping):
        metadata = {key: value for key, value in custom_data.items()
                    if isinstance(key, str) and key.strip().lower() not in RESERVED_METADATA_KEYS}
        try:
            size = len(json.dumps(metadata, default=str))
        except (TypeError, ValueError):
            size = MAX_METADATA_CHARS + 1
        if size > MAX_METADATA_CHARS:
            logger.warning("Dropped oversized customData (%d characters).", size)
            metadata = {}
    metadata.update(channel=CHANNEL_NAME, customer_ref=identity.customer_ref,
                    authenticated=identity.authenticated,
                    source=f"web:{identity.address or 'unknown'}")
    return metadata


def client_address(environ: Mapping[str, Any] | None) -> str | None:
    """The handshake's source: its TCP peer, or the client a trusted proxy names in
    ``X-Forwarded-For`` (``bot.config.network``; a client's own header is ignored).

    python-engineio's Sanic driver writes ``REMOTE_ADDR: 127.0.0.1`` for every client, so the
    Sanic request it keeps is asked first: otherwise every visitor would share one source and
    one visitor's wrong answers would lock every anonymous visitor out.
    """
    environ = environ or {}
    request = environ.get("sanic.request")
    if request is not None and getattr(request, "ip", None):
        return request_source(request)
    return source_address(environ.get("REMOTE_ADDR"), environ.get("HTTP_X_FORWARDED_FOR"))


def clean_text(message: Any, max_chars: int = DEFAULT_MAX_MESSAGE_CHARS) -> str | None:
    """The message text to hand to Rasa, or None when there is nothing to process."""
    if not isinstance(message, str):
        return None
    text = safe_text(message).strip()
    if not text:
        return None
    if len(text) > max_chars:
        logger.info("Truncated a %d-character message to %d characters.", len(text), max_chars)
        text = text[:max_chars]
    return text


def sender_for(identity: WebIdentity, session_id: str) -> str:
    """The tracker's sender id for a persistent session, namespaced by who owns it."""
    owner = identity.customer_ref if identity.customer_ref else "anon"
    return f"web-{owner}-{session_id}"


def valid_session_id(value: Any) -> str | None:
    return value if isinstance(value, str) and SESSION_ID_RE.match(value) else None


async def _maybe_await(result: Any) -> None:
    # python-socketio 5.x made ``enter_room`` a coroutine; older versions return None.
    if inspect.isawaitable(result):
        await result


class SignedSocketIOInput(SocketIOInput):
    """Socket.io input channel that knows which demo customer (if any) is chatting."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        return cls(
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            session_persistence=bool(credentials.get("session_persistence", False)),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            metadata_key=credentials.get("metadata_key", "customData"),
            max_message_length=int(credentials.get("max_message_length",
                                                   DEFAULT_MAX_MESSAGE_CHARS)),
        )

    def __init__(
        self,
        user_message_evt: str = "user_uttered",
        bot_message_evt: str = "bot_uttered",
        namespace: str | None = None,
        session_persistence: bool = False,
        socketio_path: str | None = "/socket.io",
        metadata_key: str | None = "customData",
        max_message_length: int = DEFAULT_MAX_MESSAGE_CHARS,
        jwt_secret: str | None = None,
    ) -> None:
        super().__init__(user_message_evt, bot_message_evt, namespace, session_persistence,
                         socketio_path, jwt_key=None, metadata_key=metadata_key)
        self.max_message_length = max(1, max_message_length)
        self._jwt_secret = jwt_secret
        self._on_new_message: Callable[[UserMessage], Awaitable[Any]] | None = None
        # per socket.io connection (sid): who it is, and its persistent conversation id
        self.identities: dict[str, WebIdentity] = {}
        self.senders: dict[str, str] = {}

    @property
    def jwt_secret(self) -> str:
        if self._jwt_secret is None:
            self._jwt_secret = web_jwt_secret()
        return self._jwt_secret

    def identity_of(self, sid: str) -> WebIdentity:
        return self.identities.get(sid, ANONYMOUS)

    # --- socket.io event handlers (public so that tests can drive them directly) ---

    async def on_connect(self, sid: str, environ: Mapping[str, Any] | None,
                         auth: Any = None) -> bool:
        try:
            identity = identity_from_handshake(environ, auth, self.jwt_secret)
        except InvalidWebToken as exc:
            logger.info("Refused socket.io connection %s: %s", sid, exc)
            raise SocketIOConnectionRefused("invalid or expired token") from None
        self.identities[sid] = replace(identity, address=client_address(environ))
        logger.debug("Socket.io connection %s (customer %s).", sid,
                     identity.customer_ref or "anonymous")
        return True

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.identities.pop(sid, None)
        self.senders.pop(sid, None)
        logger.debug("Socket.io connection %s closed.", sid)

    async def on_session_request(self, sid: str, data: Any = None, *_: Any) -> None:
        requested = valid_session_id(data.get("session_id")) if isinstance(data, Mapping) \
            else None
        session_id = requested or uuid.uuid4().hex
        if self.session_persistence:
            sender = sender_for(self.identity_of(sid), session_id)
            previous = self.senders.get(sid)
            if previous is not None and previous != sender:
                await _maybe_await(self._sio().leave_room(sid, previous,
                                                          namespace=self.namespace))
            self.senders[sid] = sender
            await _maybe_await(self._sio().enter_room(sid, sender, namespace=self.namespace))
        await self._sio().emit("session_confirm", session_id, room=sid, namespace=self.namespace)

    async def on_user_message(self, sid: str, data: Any = None, *_: Any) -> None:
        message = await self.user_message(sid, data)
        if message is not None and self._on_new_message is not None:
            await self._on_new_message(message)

    async def user_message(self, sid: str, data: Any) -> UserMessage | None:
        """The :class:`UserMessage` for one ``user_uttered`` event, None if it is unusable."""
        if not isinstance(data, Mapping):
            logger.warning("Ignored a socket.io message whose data is not an object.")
            return None
        text = clean_text(data.get("message"), self.max_message_length)
        if text is None:
            logger.debug("Ignored an empty socket.io message from %s.", sid)
            return None
        identity = self.identity_of(sid)
        sender_id: str | None = sid
        if self.session_persistence:
            sender_id = self.senders.get(sid)
            if sender_id is None:
                session_id = valid_session_id(data.get("session_id"))
                if session_id is None:
                    logger.warning("Ignored a message without a valid session_id; the client "
                                   "must send session_request first.")
                    return None
                sender_id = sender_for(identity, session_id)
                self.senders[sid] = sender_id
                await _maybe_await(self._sio().enter_room(sid, sender_id,
                                                          namespace=self.namespace))
        return UserMessage(
            text,
            SocketIOOutput(self._sio(), self.bot_message_evt),
            sender_id,
            input_channel=self.name(),
            metadata=build_metadata(data.get(self.metadata_key), identity),
        )

    def _sio(self) -> AsyncServer:
        if self.sio is None:
            raise RuntimeError("blueprint() has not been called yet")
        return self.sio

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        """The Sanic blueprint serving socket.io at ``socketio_path``."""
        trusted_proxies()  # a bad TRUSTED_PROXIES stops Rasa at start-up, saying why
        # cors_allowed_origins=[]: engine.io leaves CORS to Sanic (``rasa run --cors``), as
        # Rasa's own socket.io channel does.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        engineio_guard.guard(sio.eio)
        socketio_webhook = SocketBlueprint(sio, self.socketio_path, "socketio_webhook",
                                           __name__)
        self.sio = sio
        faults.install()
        self._on_new_message = faults.guarded(on_new_message)

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        sio.on("connect", namespace=self.namespace)(self.on_connect)
        sio.on("disconnect", namespace=self.namespace)(self.on_disconnect)
        sio.on("session_request", namespace=self.namespace)(self.on_session_request)
        sio.on(self.user_message_evt, namespace=self.namespace)(self.on_user_message)
        return socketio_webhook
