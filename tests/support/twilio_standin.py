"""Stand-ins for Twilio on loopback, so tests exercise the real ``twilio`` library.

* :class:`TwilioApiStandIn`: Twilio's REST API for outbound SMS
  (``POST /2010-04-01/Accounts/{sid}/Messages.json``) on 127.0.0.1 and a free port. It checks
  HTTP basic auth (account SID + auth token), records every request, answers like Twilio
  (201 with a message resource, or Twilio's JSON error body), and can be told to fail: the
  next N calls with a status (500, 429...) or by dropping the connection, or a given ``To``
  number with a 4xx and a Twilio error code.
* :class:`TwilioWebhookCaller`: plays Twilio calling our webhooks: form-encoded POSTs signed
  with ``RequestValidator.compute_signature`` for the public URL (``PUBLIC_BASE_URL`` + path),
  or deliberately unsigned/forged.
* :class:`ChannelHarness`: one Twilio input channel served by a real Sanic server in the
  test's event loop, with a scripted bot instead of Rasa (fast channel tests).

Fixture bodies (each test module declares its fixtures with them):

* :func:`shared_twilio_stack` (session): one seeded stack for all the Twilio tests, with both
  Twilio channels in Rasa's credentials, a test auth token, ``PUBLIC_BASE_URL`` (as behind
  ngrok), an agent number and office hours. It is separate from the shared ``stack`` fixture
  because these tests change customers' contracts and SMS consent;
* :func:`module_database` (module): a migrated, seeded database as ``DATABASE_URL``.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from rasa.core.channels.channel import InputChannel, UserMessage
from twilio.request_validator import RequestValidator

MESSAGES_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"
PUBLIC_BASE_URL = "https://nubia-test.example.org"  # what Twilio would call (through a proxy)
AGENT_NUMBER = "+15005550006"
TWILIO_NUMBER = "+15005550001"
SMS_WEBHOOK = "/webhooks/twilio/webhook"
VOICE_WEBHOOK = "/webhooks/twilio_voice/webhook"
TWILIO_CREDENTIALS = (
    "bot.channels.twilio_sms.TwilioSMSInput:\n"
    "bot.channels.twilio_voice.TwilioVoiceInput:\n"
    "  voice_es: Polly.Lucia\n"
    "  voice_en: Polly.Joanna\n"
)


# --- the REST API --------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    auth_ok: bool
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class Failure:
    status: int  # 0: drop the connection without an answer
    code: int | None = None
    message: str = "stand-in failure"


@dataclass
class _State:
    account_sid: str
    auth_token: str
    requests: list[RecordedRequest] = field(default_factory=list)
    next_failures: list[Failure] = field(default_factory=list)
    failing_numbers: dict[str, Failure] = field(default_factory=dict)
    delay_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _error_body(failure: Failure) -> bytes:
    return json.dumps({"code": failure.code, "message": failure.message,
                       "more_info": f"https://www.twilio.com/docs/errors/{failure.code}",
                       "status": failure.status}).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        state = self.server.state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        form = {k: v[0] for k, v in urllib.parse.parse_qs(raw, keep_blank_values=True).items()}
        expected = "Basic " + base64.b64encode(
            f"{state.account_sid}:{state.auth_token}".encode()).decode()
        auth_ok = secrets.compare_digest(self.headers.get("Authorization") or "", expected)
        with state.lock:
            state.requests.append(RecordedRequest("POST", self.path, auth_ok, form,
                                                  dict(self.headers.items())))
            failure = state.next_failures.pop(0) if state.next_failures else None
            delay = state.delay_seconds
        if delay:
            time.sleep(delay)  # a slow API (this server is threaded)
        if self.path != MESSAGES_PATH.format(sid=state.account_sid):
            self._reply(404, _error_body(Failure(404, 20404, "The requested resource was not "
                                                              "found")))
            return
        if not auth_ok:
            self._reply(401, _error_body(Failure(401, 20003, "Authenticate")))
            return
        if failure is None:
            failure = state.failing_numbers.get(form.get("To", ""))
        if failure is not None:
            if failure.status == 0:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # the client sees it drop
                return
            self._reply(failure.status, _error_body(failure))
            return
        sid = "SM" + uuid.uuid4().hex
        body = {
            "sid": sid, "account_sid": state.account_sid, "to": form.get("To"),
            "from": form.get("From"), "body": form.get("Body"), "status": "queued",
            "num_segments": "1", "direction": "outbound-api", "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{state.account_sid}/Messages/{sid}.json",
        }
        self._reply(201, json.dumps(body).encode("utf-8"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class TwilioApiStandIn:
    """Twilio's Messages API on 127.0.0.1 (use as a context manager)."""

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None) -> None:
        self.account_sid = account_sid or "AC" + uuid.uuid4().hex
        self.auth_token = auth_token or secrets.token_hex(16)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State(self.account_sid, self.auth_token)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def delay_seconds(self) -> float:
        return self._server.state.delay_seconds

    @delay_seconds.setter
    def delay_seconds(self, value: float) -> None:
        """Every answer comes ``value`` seconds late."""
        self._server.state.delay_seconds = value

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._server.state.lock:
            return list(self._server.state.requests)

    @property
    def messages(self) -> list[dict[str, str]]:
        """The forms of the accepted-looking message requests, in order."""
        return [r.form for r in self.requests]

    def fail_next(self, count: int, status: int, code: int | None = None,
                  message: str = "stand-in failure") -> None:
        """The next ``count`` calls answer ``status`` (0 = drop the connection)."""
        with self._server.state.lock:
            self._server.state.next_failures.extend(
                Failure(status, code, message) for _ in range(count))

    def fail_number(self, to: str, status: int, code: int, message: str) -> None:
        """Every message to ``to`` gets this error (e.g. 400 / 21211 invalid number)."""
        with self._server.state.lock:
            self._server.state.failing_numbers[to] = Failure(status, code, message)

    def reset(self) -> None:
        with self._server.state.lock:
            self._server.state.requests.clear()
            self._server.state.next_failures.clear()
            self._server.state.failing_numbers.clear()
            self._server.state.delay_seconds = 0.0

    def __enter__(self) -> TwilioApiStandIn:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# --- Twilio calling our webhooks ------------------------------------------------------------


@dataclass
class WebhookReply:
    status: int
    body: str


def send_sms_through(standin: TwilioApiStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's outbound SMS (``bot.messaging.sms.SmsSender.from_env``) go to ``standin``."""
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", standin.account_sid)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", standin.auth_token)
    monkeypatch.setenv("TWILIO_NUMBER", TWILIO_NUMBER)
    monkeypatch.setenv("TWILIO_API_BASE_URL", standin.base_url)


class TwilioWebhookCaller:
    """Posts form-encoded webhook requests to ``server_url`` signed for ``public_base_url``."""

    def __init__(self, server_url: str, auth_token: str, public_base_url: str) -> None:
        self.server_url = server_url.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.public_base_url = public_base_url.rstrip("/")

    def public_url(self, path_and_query: str) -> str:
        return self.public_base_url + path_and_query

    def signature(self, path_and_query: str, params: dict[str, str]) -> str:
        return self.validator.compute_signature(self.public_url(path_and_query), params)

    def post(self, path_and_query: str, params: dict[str, str], *, signed: bool = True,
             signature: str | None = None, timeout: float = 120.0) -> WebhookReply:
        """POST like Twilio; ``signed=False`` sends no signature, ``signature`` a given one."""
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
                   "User-Agent": "TwilioProxy/1.1"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        elif signed:
            headers["X-Twilio-Signature"] = self.signature(path_and_query, params)
        request = urllib.request.Request(
            self.server_url + path_and_query, data=urllib.parse.urlencode(params).encode(),
            headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return WebhookReply(resp.status, resp.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            return WebhookReply(exc.code, exc.read().decode("utf-8", "replace"))


def sms_params(phone: str, body: str | None, message_sid: str | None = None,
               **extra: str) -> dict[str, str]:
    """The form Twilio posts for an inbound SMS (blank fields included, as Twilio does)."""
    params = {
        "ToCountry": "US", "ToState": "", "SmsMessageSid": "", "NumMedia": "0",
        "ToCity": "", "FromZip": "", "SmsSid": "", "FromState": "", "SmsStatus": "received",
        "FromCity": "", "FromCountry": "GB", "To": TWILIO_NUMBER, "ToZip": "",
        "NumSegments": "1", "MessageSid": "", "AccountSid": "AC" + "0" * 32, "From": phone,
        "ApiVersion": "2010-04-01",
    }
    sid = message_sid or "SM" + uuid.uuid4().hex
    params.update(SmsMessageSid=sid, SmsSid=sid, MessageSid=sid)
    if body is not None:
        params["Body"] = body
    params.update(extra)
    return params


def call_params(call_sid: str, phone: str, **extra: str) -> dict[str, str]:
    """The form Twilio posts for a call request (``CallStatus`` etc.)."""
    params = {
        "AccountSid": "AC" + "0" * 32, "ApiVersion": "2010-04-01", "CallSid": call_sid,
        "CallStatus": "ringing", "Called": TWILIO_NUMBER, "Caller": phone, "Direction": "inbound",
        "From": phone, "FromCountry": "GB", "To": TWILIO_NUMBER, "ToCountry": "US",
    }
    params.update(extra)
    return params


# --- a stack with the Twilio channels -------------------------------------------------------


@dataclass
class TwilioStack:
    stack: Any  # tests.support.stack.Stack
    auth_token: str
    caller: TwilioWebhookCaller

    def logs(self, name: str = "rasa", lines: int = 200) -> str:
        return str(self.stack.logs(name, lines))


_SHARED: dict[str, TwilioStack] = {}


def start_twilio_stack(extra_env: dict[str, str] | None = None) -> TwilioStack:
    """Start the Twilio test stack (see :func:`twilio_stack`); ``extra_env`` for every process."""
    from tests.support.stack import Stack, find_model

    model = find_model()
    if model is None:
        pytest.fail("no trained model under models/: run make train first", pytrace=False)
    token = secrets.token_hex(16)
    env = {
        "TWILIO_AUTH_TOKEN": token,
        "TWILIO_ACCOUNT_SID": "AC" + uuid.uuid4().hex,
        "TWILIO_NUMBER": TWILIO_NUMBER,
        "TWILIO_AGENT_NUMBER": AGENT_NUMBER,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        # a Tuesday morning in Madrid: office hours, so a handoff goes to a person (<Dial>)
        "RETENTION_NOW": "2026-11-24T11:00:00+01:00",
        **(extra_env or {}),
    }
    running = Stack(model=model, extra_env=env, extra_credentials=TWILIO_CREDENTIALS)
    running.start()
    return TwilioStack(running, token, TwilioWebhookCaller(running.rasa_url, token,
                                                           PUBLIC_BASE_URL))


def shared_twilio_stack() -> Iterator[TwilioStack]:
    """Body of the test modules' session fixture ``twilio_stack``: the first module to use
    it starts the stack, every other module gets the same one, and it stops at the end of
    the session (when the first fixture is torn down)."""
    shared = _SHARED.get("stack")
    owner = shared is None
    if shared is None:
        shared = _SHARED["stack"] = start_twilio_stack()
    try:
        yield shared
    finally:
        if owner:
            _SHARED.pop("stack", None)
            shared.stack.stop()


# --- a channel alone, in this process (fast tests without Rasa) ----------------------------

BotScript = Callable[[UserMessage], list[dict[str, Any]]]


class _FakeTracker:
    def __init__(self, language: str | None, paused: bool) -> None:
        self.language = language
        self.paused = paused

    def get_slot(self, name: str) -> Any:
        return self.language if name == "language" else None

    def is_paused(self) -> bool:
        return self.paused


class _FakeTrackerStore:
    def __init__(self, trackers: dict[str, tuple[str | None, bool]]) -> None:
        self.trackers = trackers

    async def retrieve(self, sender_id: str) -> _FakeTracker | None:
        found = self.trackers.get(sender_id)
        return _FakeTracker(*found) if found else None


class _FakeAgent:
    """Just enough of ``rasa.core.agent.Agent`` for the channels (``tracker_store``)."""

    def __init__(self, trackers: dict[str, tuple[str | None, bool]]) -> None:
        self.tracker_store = _FakeTrackerStore(trackers)


class ChannelHarness:
    """One Twilio input channel served by Sanic on loopback, with a scripted bot.

    ``bot(message)`` returns the bot messages of the turn as Rasa would hand them to the
    output channel (``{"text": ..., "buttons": [...], "custom": {...}}``); every message the
    channel passed on is kept in ``received``. Requests are signed with ``auth_token`` for
    ``public_base_url`` + path, or for the server's own URL when no public URL is set.
    """

    def __init__(self, channel: InputChannel, bot: BotScript, auth_token: str,
                 public_base_url: str | None = None) -> None:
        self.channel = channel
        self.bot = bot
        self.validator = RequestValidator(auth_token)
        self.public_base_url = public_base_url
        self.received: list[UserMessage] = []
        # what Rasa's tracker store would say after a turn: sender id -> (language, paused)
        self.trackers: dict[str, tuple[str | None, bool]] = {}
        self.port = 0
        self._server: Any = None

    @property
    def server_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook(self) -> str:
        return f"/webhooks/{self.channel.name()}/webhook"

    async def _on_new_message(self, message: UserMessage) -> None:
        self.received.append(message)
        for reply in self.bot(message):
            await message.output_channel.send_response(message.sender_id, dict(reply))

    async def __aenter__(self) -> ChannelHarness:
        from sanic import Sanic

        from tests.support.stack import free_ports

        Sanic.test_mode = True
        app = Sanic(f"twilio_harness_{uuid.uuid4().hex[:12]}")
        app.config.ACCESS_LOG = False
        app.ctx.agent = _FakeAgent(self.trackers)
        app.blueprint(self.channel.blueprint(self._on_new_message),
                      url_prefix=f"/webhooks/{self.channel.name()}")
        self.port = free_ports(1)[0]
        self._server = await app.create_server(host="127.0.0.1", port=self.port,
                                               return_asyncio_server=True, access_log=False)
        await self._server.startup()
        await self._server.start_serving()
        return self

    async def __aexit__(self, *_: Any) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def signature(self, path_and_query: str, params: dict[str, str]) -> str:
        base = self.public_base_url or self.server_url
        return self.validator.compute_signature(base + path_and_query, params)

    async def post(self, params: dict[str, str], query: str = "", *, signed: bool = True,
                   signature: str | None = None) -> WebhookReply:
        import aiohttp

        path = self.webhook + (f"?{query}" if query else "")
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
        if signature is not None:
            headers["X-Twilio-Signature"] = signature
        elif signed:
            headers["X-Twilio-Signature"] = self.signature(path, params)
        async with aiohttp.ClientSession() as session:
            async with session.post(self.server_url + path, data=urllib.parse.urlencode(params),
                                    headers=headers) as resp:
                return WebhookReply(resp.status, await resp.text())


def module_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Body of a module fixture: a migrated, seeded database as the process's
    ``DATABASE_URL`` while the module runs."""
    from tests.support.db_fixtures import make_database

    url = make_database(tmp_path_factory.mktemp("twilio-db"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATABASE_URL", url)
        yield url
