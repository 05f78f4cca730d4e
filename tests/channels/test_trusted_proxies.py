"""Issue 19.3: per-source limits behind a reverse proxy (``TRUSTED_PROXIES``).

Only a trusted proxy's ``X-Forwarded-For`` names the client; a client's own header never changes
its source, and a malformed one is no 500. Replayed over real HTTP: the project's REST channel on
a real Sanic server (with a recording bot instead of Rasa), the dashboard's login (Flask's client).
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels.rest import PublicRestInput
from bot.config.network import parse_address, source_address
from bot.config.settings import trusted_proxies

PROXY = ("127.0.0.1",)


def nets(*items: str) -> tuple[Any, ...]:
    import ipaddress

    return tuple(ipaddress.ip_network(i) for i in items)


def test_the_rule() -> None:
    spoof = "203.0.113.66"
    assert source_address("198.51.100.7", spoof, ()) == "198.51.100.7"  # no trusted proxy: ignored
    assert source_address("198.51.100.7", spoof, nets("10.0.0.0/8")) == "198.51.100.7"  # peer not one
    proxy = nets("10.0.0.0/8")
    assert source_address("10.0.0.2", "203.0.113.5", proxy) == "203.0.113.5"
    # the client wrote "1.2.3.4" itself; the proxy appended the address it saw: the rightmost wins
    assert source_address("10.0.0.2", ["1.2.3.4, 203.0.113.5"], proxy) == "203.0.113.5"
    assert source_address("10.0.0.2", ["1.2.3.4", "203.0.113.5, 10.0.0.3"], proxy) == "203.0.113.5"
    assert source_address("10.0.0.2", "10.0.0.9, 10.0.0.3", proxy) == "10.0.0.9"  # all proxies
    assert source_address("10.0.0.2", None, proxy) == "10.0.0.2"
    for garbage in ("not-an-ip", "", ",,,", "[::1", "1.2.3.4, nonsense", "\x00" * 5000, "9" * 10_000,
                    ", ".join(["10.0.0.1"] * 5000)):
        assert source_address("10.0.0.2", garbage, proxy) in ("10.0.0.2", "10.0.0.1")
    assert source_address("10.0.0.2", "1.2.3.4, nonsense", proxy) == "10.0.0.2"
    assert source_address("::ffff:10.0.0.2", "[2001:db8::1]:443", proxy) == "2001:db8::1"
    assert source_address("10.0.0.2", "203.0.113.5:5123", proxy) == "203.0.113.5"
    assert source_address(None, spoof, proxy) is None
    assert parse_address("fe80::1%eth0") is not None and parse_address(12) is None


def test_trusted_proxies_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    assert trusted_proxies() == ()
    monkeypatch.setenv("TRUSTED_PROXIES", " 127.0.0.1, 10.0.0.0/8 ,,::1 ")
    assert [str(n) for n in trusted_proxies()] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1, proxy.internal")
    with pytest.raises(ValueError, match="TRUSTED_PROXIES: 'proxy.internal'"):
        trusted_proxies()


# --- the REST channel over HTTP ---------------------------------------------------------------


def rest_sources(requests: list[tuple[dict[str, str], str]]) -> list[tuple[int, str | None]]:
    """Serve the project's REST channel on a real Sanic server and post ``requests``
    (headers, text); the status of each and the ``source`` the channel gave the message."""
    from sanic import Sanic

    from tests.support.stack import free_ports

    received: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        received.append(message)
        await message.output_channel.send_response(message.sender_id, {"text": "ok"})

    async def run() -> list[tuple[int, str | None]]:
        Sanic.test_mode = True
        app = Sanic(f"rest_proxy_{uuid.uuid4().hex[:12]}")
        app.config.ACCESS_LOG = False
        app.blueprint(PublicRestInput().blueprint(on_new_message))
        port = free_ports(1)[0]
        server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True,
                                         access_log=False)
        await server.startup()
        await server.start_serving()
        out: list[tuple[int, str | None]] = []
        try:
            for headers, text in requests:
                before = len(received)
                status = await asyncio.to_thread(post, port, headers, text)
                source = received[-1].metadata.get("source") if len(received) > before else None
                out.append((status, source))
        finally:
            server.close()
            await server.wait_closed()
        return out

    return asyncio.run(run())


def post(port: int, headers: dict[str, str], text: str) -> int:
    body = json.dumps({"sender": "proxy-test", "message": text}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_rest_a_clients_own_forwarded_for_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    assert rest_sources([({"X-Forwarded-For": "203.0.113.66"}, "hola"),
                         ({"X-Forwarded-For": "198.51.100.1, 203.0.113.67"}, "hola")]) \
        == [(200, "rest:127.0.0.1"), (200, "rest:127.0.0.1")]


def test_rest_behind_a_trusted_proxy_each_client_is_its_own_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    assert rest_sources([({"X-Forwarded-For": "203.0.113.10"}, "hola"),
                         ({"X-Forwarded-For": "1.2.3.4, 203.0.113.11"}, "hola"),
                         ({}, "hola")]) \
        == [(200, "rest:203.0.113.10"), (200, "rest:203.0.113.11"), (200, "rest:127.0.0.1")]


def test_rest_a_malformed_forwarded_for_is_no_500(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    results = rest_sources([({"X-Forwarded-For": value}, "hola")
                            for value in ("not-an-ip", ",,,", "[::1", "1.2.3.4, \xe9t\xe9", "999.1.1.1")])
    assert all(status == 200 for status, _ in results), results
    assert {source for _, source in results} == {"rest:127.0.0.1"}


def test_web_channel_handshake_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.channels.web import client_address

    class Request:
        ip = "127.0.0.1"
        headers = {"x-forwarded-for": "203.0.113.20"}

    class Headers(dict):
        def getall(self, key: str, default: Any) -> list[str]:
            return [self[key]] if key in self else default

    Request.headers = Headers(Request.headers)
    monkeypatch.delenv("TRUSTED_PROXIES", raising=False)
    assert client_address({"sanic.request": Request()}) == "127.0.0.1"
    assert client_address({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "203.0.113.20"}) == "127.0.0.1"
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.0/8")
    assert client_address({"sanic.request": Request()}) == "203.0.113.20"
    assert client_address({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "[bad"}) == "127.0.0.1"
