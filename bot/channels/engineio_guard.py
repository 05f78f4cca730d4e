"""Refuse engine.io long-polling requests that python-engineio 4.15 mishandles.

Found by the fuzz suite (``tests/test_fuzz.py``), both reachable by any visitor of the website:

* a POST carrying a packet a client never sends (``0`` OPEN, ``2`` PING, ``6`` NOOP) makes
  python-engineio disconnect the socket and wait for its send queue to drain; nobody polls it
  any more, so the request is never answered and its task stays alive;
* a POST to a session that a ``1`` (CLOSE) packet has just closed raises ``KeyError`` in
  ``_get_socket``: a 500 with a traceback in the log.

The guard answers both with a 400 before python-engineio sees them, and turns any other
exception the handler raises into a 400 too (logged as a warning, never echoed).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from engineio import packet, payload
from engineio.async_server import AsyncServer as EngineIOServer
from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

#: the packets an engine.io v4 client sends over long-polling (the server sends the others)
CLIENT_PACKETS = frozenset({packet.CLOSE, packet.PONG, packet.MESSAGE, packet.UPGRADE})


def _bad_request() -> HTTPResponse:
    return response.text("Bad request", status=400)


def acceptable_post(eio: EngineIOServer, request: Request) -> bool:
    """False when python-engineio would hang or raise on this POST."""
    sid = request.args.get("sid")
    socket = eio.sockets.get(sid) if isinstance(sid, str) else None
    if socket is not None and (socket.closed or socket.closing):
        return False
    body = request.body or b""
    if len(body) > eio.max_http_buffer_size:
        return True  # python-engineio refuses it itself, unread
    try:
        packets = payload.Payload(encoded_payload=body.decode("utf-8")).packets
    except Exception:  # noqa: BLE001 - any undecodable body is the client's error
        return False
    return all(p.packet_type in CLIENT_PACKETS for p in packets)


def guard(eio: EngineIOServer) -> None:
    """Wrap ``eio.handle_request`` (before it is attached to the Sanic app)."""
    handle: Callable[..., Awaitable[Any]] = eio.handle_request

    @functools.wraps(handle)
    async def handle_request(request: Request, *args: Any, **kwargs: Any) -> Any:
        if request.method == "POST" and not acceptable_post(eio, request):
            return _bad_request()
        try:
            return await handle(request, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - a client's request must never be a 500
            logger.warning("engine.io request refused: %s", type(error).__name__)
            return _bad_request()

    eio.handle_request = handle_request  # type: ignore[method-assign]
