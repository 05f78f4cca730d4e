"""Fast tests (no browser, no Rasa server) of the signed web channel and the demo website."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.channels import InvalidWebToken, issue_web_token, verify_web_token
from bot.channels.web import (
    ANONYMOUS,
    SignedSocketIOInput,
    WebIdentity,
    build_metadata,
    clean_text,
    token_from_handshake,
)
from bot.config import settings
from bot.website.app import make_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-" + "x" * 56
FORGED_KEYS = {"customer_ref": "C00002", "authenticated": True, "channel": "sms",
               "customer_phone": "+447700900001", "phone_verified": True}


def token_for(ref: str = "C00001", secret: str = SECRET, ttl: int = 600) -> str:
    return issue_web_token(ref, secret, ttl)


def environ_with(query: str = "") -> dict[str, Any]:
    return {"QUERY_STRING": query, "REQUEST_METHOD": "GET"}


# --- tokens ---------------------------------------------------------------------------------


def test_token_round_trip() -> None:
    assert verify_web_token(token_for("C00001"), SECRET) == "C00001"


@pytest.mark.parametrize("token", [
    "",
    "not-a-jwt",
    token_for(secret="another-secret-" + "y" * 32),
    token_for(ttl=-30),
    jwt.encode({"sub": "C00001"}, SECRET, algorithm="HS256"),  # no exp
    jwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),  # no sub
    jwt.encode({"sub": "<script>", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"),
    jwt.encode({"sub": "C00001", "exp": int(time.time()) + 60}, SECRET, algorithm="HS512"),
    jwt.encode({"sub": "C00001", "exp": int(time.time()) + 60}, None, algorithm="none"),
    "x" * 5000,
])
def test_bad_tokens_are_rejected(token: str) -> None:
    with pytest.raises(InvalidWebToken):
        verify_web_token(token, SECRET)


def test_token_from_handshake() -> None:
    assert token_from_handshake(environ_with("EIO=4&transport=polling&token=abc"), None) == "abc"
    assert token_from_handshake(environ_with("EIO=4"), {"token": "def"}) == "def"
    assert token_from_handshake(environ_with("token=abc"), {"token": "def"}) == "def"
    assert token_from_handshake(environ_with("EIO=4&token="), None) is None
    assert token_from_handshake(environ_with(""), "not a dict") is None
    assert token_from_handshake({}, None) is None
    assert token_from_handshake(None, None) is None
    with pytest.raises(InvalidWebToken):
        token_from_handshake(environ_with("token=a&token=b"), None)


# --- connection ---------------------------------------------------------------------------


def make_channel(session_persistence: bool = False) -> tuple[SignedSocketIOInput, list[Any]]:
    received: list[Any] = []

    async def on_new_message(message: Any) -> None:
        received.append(message)

    channel = SignedSocketIOInput(session_persistence=session_persistence, jwt_secret=SECRET)
    channel.blueprint(on_new_message)
    assert channel.sio is not None
    channel.sio.emit = AsyncMock()  # type: ignore[method-assign]
    channel.sio.enter_room = AsyncMock()  # type: ignore[method-assign]
    channel.sio.leave_room = AsyncMock()  # type: ignore[method-assign]
    return channel, received


def connect(channel: SignedSocketIOInput, sid: str, query: str = "", auth: Any = None) -> bool:
    return asyncio.run(channel.on_connect(sid, environ_with(query), auth))


def test_valid_token_binds_the_connection_to_the_customer() -> None:
    channel, _ = make_channel()
    assert connect(channel, "sid-1", f"EIO=4&transport=polling&token={token_for('C00001')}")
    assert channel.identity_of("sid-1") == WebIdentity("C00001")
    assert connect(channel, "sid-2", "EIO=4", auth={"token": token_for("C00003")})
    assert channel.identity_of("sid-2").customer_ref == "C00003"


@pytest.mark.parametrize("query", [
    "token=garbage",
    f"token={token_for(ttl=-5)}",  # expired
    f"token={token_for(secret='wrong-secret-' + 'z' * 32)}",  # forged
])
def test_invalid_or_expired_token_refuses_the_connection(query: str) -> None:
    from socketio.exceptions import ConnectionRefusedError as SocketIOConnectionRefused

    channel, _ = make_channel()
    with pytest.raises(SocketIOConnectionRefused):
        connect(channel, "sid-bad", query)
    assert "sid-bad" not in channel.identities


def test_no_token_is_an_anonymous_visitor() -> None:
    channel, _ = make_channel()
    assert connect(channel, "sid-anon", "EIO=4&transport=websocket")
    assert channel.identity_of("sid-anon") == ANONYMOUS
    assert not channel.identity_of("sid-anon").authenticated


def test_disconnect_forgets_the_connection() -> None:
    channel, _ = make_channel()
    connect(channel, "sid-1", f"token={token_for()}")
    asyncio.run(channel.on_disconnect("sid-1"))
    assert channel.identity_of("sid-1") == ANONYMOUS


# --- messages and metadata ----------------------------------------------------------------


def test_metadata_is_built_on_the_server() -> None:
    meta = build_metadata({"language": "en", **FORGED_KEYS}, WebIdentity(None))
    assert meta == {"language": "en", "channel": "web", "customer_ref": None,
                    "authenticated": False, "source": "web:unknown"}
    meta = build_metadata({"language": "es", **FORGED_KEYS, "Customer_Ref": "C9"},
                          WebIdentity("C00001"))
    assert meta == {"language": "es", "channel": "web", "customer_ref": "C00001",
                    "authenticated": True, "source": "web:unknown"}


@pytest.mark.parametrize("custom_data", [
    None, "not json", '["a", "b"]', 42, ["customer_ref", "C00002"], {1: "numeric key"},
    {"blob": "x" * 20000},
])
def test_odd_custom_data_gives_only_server_keys(custom_data: Any) -> None:
    assert build_metadata(custom_data, ANONYMOUS) == {
        "channel": "web", "customer_ref": None, "authenticated": False,
        "source": "web:unknown"}


def test_custom_data_as_json_string() -> None:
    meta = build_metadata(json.dumps({"language": "en", "customer_ref": "C00002"}), ANONYMOUS)
    assert meta["language"] == "en"
    assert meta["customer_ref"] is None


def test_clean_text() -> None:
    assert clean_text("  hola  ") == "hola"
    assert clean_text("") is None
    assert clean_text("   \n ") is None
    assert clean_text(None) is None
    assert clean_text(123) is None
    assert clean_text("a" * 20000, 4000) == "a" * 4000


def test_forged_identity_in_custom_data_is_ignored() -> None:
    channel, received = make_channel()
    connect(channel, "anon", "EIO=4")
    connect(channel, "lucia", f"token={token_for('C00001')}")
    forged = {"message": "quiero darme de baja",
              "customData": {"language": "es", **FORGED_KEYS}}
    asyncio.run(channel.on_user_message("anon", forged))
    asyncio.run(channel.on_user_message("lucia", forged))
    assert [m.metadata for m in received] == [
        {"language": "es", "channel": "web", "customer_ref": None, "authenticated": False,
         "source": "web:unknown"},
        {"language": "es", "channel": "web", "customer_ref": "C00001", "authenticated": True,
         "source": "web:unknown"},
    ]
    assert [m.sender_id for m in received] == ["anon", "lucia"]
    assert all(m.text == "quiero darme de baja" for m in received)
    assert all(m.input_channel == "socketio" for m in received)


@pytest.mark.parametrize("data", [
    None, "hola", ["hola"], 42, {}, {"message": ""}, {"message": "   "}, {"message": None},
    {"message": 3.14}, {"message": {"text": "hola"}}, {"customData": {"language": "es"}},
])
def test_bad_messages_are_ignored_without_raising(data: Any) -> None:
    channel, received = make_channel()
    connect(channel, "sid", "EIO=4")
    asyncio.run(channel.on_user_message("sid", data))
    assert received == []


def test_huge_message_is_truncated_not_raised() -> None:
    channel, received = make_channel()
    connect(channel, "sid", "EIO=4")
    asyncio.run(channel.on_user_message("sid", {"message": "á" * 20000, "customData": "x"}))
    assert len(received) == 1
    assert received[0].text == "á" * channel.max_message_length


def test_message_from_unknown_sid_is_anonymous() -> None:
    channel, received = make_channel()
    asyncio.run(channel.on_user_message("never-connected", {"message": "hola"}))
    assert received[0].metadata["authenticated"] is False


def test_session_persistence_namespaces_the_conversation_by_owner() -> None:
    channel, received = make_channel(session_persistence=True)
    connect(channel, "lucia", f"token={token_for('C00001')}")
    connect(channel, "anon", "EIO=4")
    asyncio.run(channel.on_session_request("lucia", {"session_id": "abc123"}))
    channel.sio.emit.assert_awaited_with(  # type: ignore[union-attr]
        "session_confirm", "abc123", room="lucia", namespace=None)
    # an anonymous visitor who somehow learnt Lucía's session id gets a different tracker
    asyncio.run(channel.on_session_request("anon", {"session_id": "abc123"}))
    asyncio.run(channel.on_user_message("lucia", {"message": "hola", "session_id": "abc123"}))
    asyncio.run(channel.on_user_message("anon", {"message": "hola", "session_id": "abc123"}))
    assert [m.sender_id for m in received] == ["web-C00001-abc123", "web-anon-abc123"]
    channel.sio.enter_room.assert_any_await(  # type: ignore[union-attr]
        "lucia", "web-C00001-abc123", namespace=None)


def test_a_new_session_request_leaves_the_previous_room() -> None:
    channel, _ = make_channel(session_persistence=True)
    connect(channel, "sid", "EIO=4")
    asyncio.run(channel.on_session_request("sid", {"session_id": "first"}))
    asyncio.run(channel.on_session_request("sid", {"session_id": "second"}))
    channel.sio.leave_room.assert_awaited_once_with(  # type: ignore[union-attr]
        "sid", "web-anon-first", namespace=None)
    assert channel.senders["sid"] == "web-anon-second"


def test_session_request_with_bad_session_id_gets_a_new_one() -> None:
    channel, _ = make_channel(session_persistence=True)
    connect(channel, "sid", "EIO=4")
    for bad in (None, "not a dict", {"session_id": "../../etc"}, {"session_id": "x" * 200}):
        asyncio.run(channel.on_session_request("sid", bad))
        args = channel.sio.emit.await_args  # type: ignore[union-attr]
        assert args.args[0] == "session_confirm"
        assert re.fullmatch(r"[0-9a-f]{32}", args.args[1])


def test_message_without_session_is_ignored_when_persistent() -> None:
    channel, received = make_channel(session_persistence=True)
    connect(channel, "sid", "EIO=4")
    asyncio.run(channel.on_user_message("sid", {"message": "hola"}))
    assert received == []


def test_from_credentials_defaults() -> None:
    channel = SignedSocketIOInput.from_credentials({"session_persistence": True})
    assert isinstance(channel, SignedSocketIOInput)
    assert channel.name() == "socketio"
    assert channel.metadata_key == "customData"
    assert channel.socketio_path == "/socket.io"
    assert channel.session_persistence is True
    assert SignedSocketIOInput.from_credentials(None).session_persistence is False


# --- settings -----------------------------------------------------------------------------


def test_web_jwt_secret_is_created_once_with_mode_600(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEB_JWT_SECRET", raising=False)
    path = tmp_path / "var" / "web_jwt_secret"
    first = settings.web_jwt_secret(path)
    assert len(first) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.web_jwt_secret(path) == first
    monkeypatch.setenv("WEB_JWT_SECRET", "from-env")
    assert settings.web_jwt_secret(path) == "from-env"


def test_url_and_port_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RASA_PUBLIC_URL", raising=False)
    monkeypatch.delenv("WEB_PORT", raising=False)
    assert settings.rasa_public_url() == "http://localhost:5005"
    assert settings.web_port() == 8080
    monkeypatch.setenv("RASA_PUBLIC_URL", "https://chat.example.com/")
    monkeypatch.setenv("WEB_PORT", "9090")
    assert settings.rasa_public_url() == "https://chat.example.com"
    assert settings.web_port() == 9090


# --- website ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('webdb') / 'retention.db'}"
    env = {**os.environ, "DATABASE_URL": url}
    result = subprocess.run([sys.executable, "-m", "bot.storage.seed"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        mp.setenv("RASA_PUBLIC_URL", "http://rasa.test:5005")
        mp.setenv("WEB_DEMO", "1")  # the demo personas' log-in (tests/website/test_web_demo_token.py)
        yield url


async def _get(app: web.Application, path: str) -> tuple[int, str, dict[str, str]]:
    async with TestClient(TestServer(app)) as client:
        resp = await client.get(path)
        return resp.status, await resp.text(), dict(resp.headers)


def get(path: str, app: web.Application | None = None) -> tuple[int, str, dict[str, str]]:
    return asyncio.run(_get(app or make_app(jwt_secret=SECRET), path))


def widget_config(body: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="webchat-config">(.*?)</script>',
                      body, re.DOTALL)
    assert found, "no widget configuration in the page"
    return json.loads(found.group(1))


def test_healthz() -> None:
    assert get("/healthz")[:2] == (200, "ok")


def test_page_lists_demo_customers_and_anonymous(seeded_db: str) -> None:
    status, body, headers = get("/")
    assert status == 200
    assert "Nubia Telecom" in body
    assert 'value="anonymous"' in body
    for ref, name in [("C00001", "Lucía García Ortega"), ("C00002", "John Smith"),
                      ("C00007", "Emma Wilson")]:
        assert f'value="{ref}"' in body
        assert name in body
    assert '<html lang="es">' in body
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    config = widget_config(body)["widget"]
    assert config["socketUrl"] == "http://rasa.test:5005"  # anonymous: no token
    assert config["customData"] == {"language": "es"}
    assert config["params"] == {"storage": "session"}
    assert config["title"] == "Nubia Telecom"
    assert config["docViewer"] is False
    assert "initPayload" not in config
    assert '<script src="/static/webchat.js"></script>' in body


def test_logged_in_customer_gets_a_signed_socket_url(seeded_db: str) -> None:
    status, body, headers = get("/?customer=c00002&lang=en")
    assert status == 200
    assert '<html lang="en">' in body
    assert "You are logged in as <strong>John Smith</strong>" in body
    assert headers["Cache-Control"] == "no-store"
    config = widget_config(body)
    socket_url = config["widget"]["socketUrl"]
    assert socket_url.startswith("http://rasa.test:5005?token=")
    assert verify_web_token(socket_url.split("token=", 1)[1], SECRET) == "C00002"
    assert config["widget"]["customData"] == {"language": "en"}
    assert config["owner"] == "C00002:en"


def test_customer_language_is_the_default(seeded_db: str) -> None:
    body = get("/?customer=C00002")[1]
    assert widget_config(body)["widget"]["customData"] == {"language": "en"}
    body = get("/?customer=C00002&lang=es")[1]
    assert widget_config(body)["widget"]["customData"] == {"language": "es"}


def test_unknown_customer_is_a_403_page(seeded_db: str) -> None:
    status, body, _ = get("/?customer=C99999")
    assert status == 403
    assert "C99999" in body
    assert "webchat-config" not in body
    status, body, _ = get("/?customer=C99999&lang=en")
    assert status == 403
    assert "is not one of them" in body


def test_query_parameters_are_escaped(seeded_db: str) -> None:
    payload = "<script>alert(1)</script>"
    status, body, _ = get(f"/?lang={payload}")
    assert status == 200
    assert "<script>alert" not in body
    assert '<html lang="es">' in body
    status, body, _ = get(f"/?customer={payload}&lang={payload}")
    assert status == 403
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    status, body, _ = get('/?customer="><img src=x onerror=alert(1)>')
    assert status == 403
    assert "<img" not in body


def test_webchat_bundle_is_served_or_503(tmp_path: Path) -> None:
    bundle = tmp_path / "index.js"
    status, body, _ = get("/static/webchat.js", make_app(bundle, jwt_secret=SECRET))
    assert status == 503
    assert "make setup" in body
    bundle.write_text("window.WebChat = {default: function () {}};", encoding="utf-8")
    status, body, headers = get("/static/webchat.js", make_app(bundle, jwt_secret=SECRET))
    assert status == 200
    assert "window.WebChat" in body
    assert headers["Content-Type"].startswith("application/javascript")
    status, body, _ = get("/static/page.js")
    assert status == 200
    assert "WebChat.default" in body


def test_make_app_accepts_more_routes() -> None:
    app = make_app(jwt_secret=SECRET)

    async def extra(_: web.Request) -> web.Response:
        return web.Response(text="extra")

    app.router.add_get("/extra", extra)
    assert get("/extra", app)[:2] == (200, "extra")


def test_the_source_is_the_peer_not_engineios_placeholder() -> None:
    """python-engineio's Sanic driver writes REMOTE_ADDR 127.0.0.1 for everyone: the identity
    check's per-source limit must see each visitor's own address."""
    from bot.channels.web import client_address

    class Peer:
        remote_addr = ""
        ip = "203.0.113.7"

    assert client_address({"REMOTE_ADDR": "127.0.0.1", "sanic.request": Peer()}) == "203.0.113.7"
    assert client_address({"REMOTE_ADDR": "198.51.100.2"}) == "198.51.100.2"
    assert client_address(None) is None
