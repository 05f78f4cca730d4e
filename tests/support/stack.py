"""Start the whole assistant as subprocesses on free ports, for integration and e2e tests.

    with Stack(model="models") as stack:
        replies = stack.rest("tester-1", "hola")
        page = stack.web_url + "/?customer=C00001"

What runs, all on 127.0.0.1 with fresh free ports and a fresh temporary directory:

1. ``python -m bot.storage.seed`` on a new SQLite database (``DATABASE_URL``);
2. the action server, ``python -m bot.cli.run_actions --port P`` (``GET /health``);
3. Rasa, ``python -m bot.cli.run_rasa --model MODEL`` with generated credentials (the project's
   REST channel + the signed socket.io channel) and endpoints (action server with its
   ``X-Action-Token``; SQL tracker store in the temporary directory) (``GET /`` says "Hello
   from Rasa");
4. the website, ``python -m bot.website.app`` with ``RASA_PUBLIC_URL`` pointing at that Rasa
   (``GET /healthz``).

The launchers are those of the Procfile, with the same secrets (random ones here, passed in
the environment, never on a command line) and the same umask 077, so the tests run the product
the way ``make run`` does: the action server runs nothing without its token and Rasa's HTTP
API needs ``rasa_api_token``.

If something does not become healthy in time, the subprocesses' logs are printed and
:class:`StackError` is raised. Everything is stopped (and the temporary directory removed
unless ``STACK_KEEP_TMP=1``) on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, final

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_MODEL_DIR = PROJECT_ROOT / "models"
# the REST channel of credentials.yml (Rasa's RestInput with input hygiene, same webhook path)
REST_CHANNEL = "bot.channels.rest.PublicRestInput"
PRIVATE_UMASK = 0o077  # the Procfile's and the Makefile's "umask 077"


def venv_bin() -> Path:
    """The project's virtualenv ``bin``, else the running interpreter's."""
    candidate = PROJECT_ROOT / ".venv" / "bin"
    return candidate if (candidate / "python").exists() else Path(sys.executable).parent


def find_model(model: str | Path | None = None) -> Path | None:
    """The model file or directory to run, or None when there is no trained model.

    ``model`` (or ``TEST_RASA_MODEL``) may name a ``.tar.gz`` file or a directory holding them;
    the default is ``models/``.
    """
    chosen = Path(model or os.environ.get("TEST_RASA_MODEL") or DEFAULT_MODEL_DIR)
    if not chosen.is_absolute():
        chosen = PROJECT_ROOT / chosen
    if chosen.is_file() and chosen.name.endswith(".tar.gz"):
        return chosen
    if chosen.is_dir() and any(chosen.glob("*.tar.gz")):
        return chosen
    return None


def free_ports(count: int) -> list[int]:
    """``count`` distinct free local ports (sockets held open together, so no repeats)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


class StackError(RuntimeError):
    """A part of the stack did not start or did not become healthy."""


@dataclass
class Service:
    name: str
    args: list[str]
    health_url: str
    healthy: Callable[[int, str], bool]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None


def _http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def _tail(path: Path, lines: int = 80) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@final
class Stack:
    """The seeded database, action server, Rasa server and website, on free local ports."""

    def __init__(self, model: str | Path | None = None, *, timeout: float | None = None,
                 extra_env: dict[str, str] | None = None,
                 session_persistence: bool = True, extra_credentials: str = "",
                 rasa_api_token: str | None = None) -> None:
        found = find_model(model)
        if found is None:
            raise StackError(f"no trained model in {model or DEFAULT_MODEL_DIR}: "
                             "run make train first")
        self.model = found
        self.timeout = timeout or float(os.environ.get("STACK_TIMEOUT", "420"))
        self.session_persistence = session_persistence
        # more channels for Rasa's credentials file (YAML appended as is), e.g. the Twilio ones
        self.extra_credentials = extra_credentials
        # Rasa's HTTP API is always enabled with a token, as ``make run`` does (random unless given)
        self.rasa_api_token = rasa_api_token or secrets.token_urlsafe(32)
        self.action_server_token = secrets.token_urlsafe(32)  # Rasa -> action server (X-Action-Token)
        self.tmp_dir = Path(tempfile.mkdtemp(prefix="nubia-stack-"))
        self.database_url = f"sqlite:///{self.tmp_dir / 'retention.db'}"
        self.action_port, self.rasa_port, self.web_port = free_ports(3)
        self.action_url = f"http://127.0.0.1:{self.action_port}"
        self.rasa_url = f"http://127.0.0.1:{self.rasa_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.jwt_secret = secrets.token_urlsafe(32)
        self.env: dict[str, str] = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "WEB_JWT_SECRET": self.jwt_secret,
            "RASA_PUBLIC_URL": self.rasa_url,
            "WEB_HOST": "127.0.0.1",
            "WEB_PORT": str(self.web_port),
            "WEB_DEMO": "1",  # as the Procfile: the demo personas may log in (?customer=C00001)
            "PUBLIC_WEB_URL": self.web_url,  # links the assistant sends (action plans) point here
            "OUTBOX_PATH": str(self.tmp_dir / "outbox.db"),  # never the product's var/outbox.db
            # as ``make run``: without Twilio, the identity check's codes go to the demo phone
            "SMS_DEMO_PHONE": "1",
            "DEMO_PHONE_PATH": str(self.tmp_dir / "demo_phone.db"),
            "RASA_API_TOKEN": self.rasa_api_token,
            "ACTION_SERVER_TOKEN": self.action_server_token,
            "ACTION_SERVER_HOST": "127.0.0.1",
            "RASA_TELEMETRY_ENABLED": "false",
            "PYTHONUNBUFFERED": "1",
            "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
            **(extra_env or {}),
        }
        self.tracker_db = self.tmp_dir / "tracker.db"  # Rasa's SQL tracker store (SQLite)
        self.credentials_path = self.tmp_dir / "credentials.yml"
        self.endpoints_path = self.tmp_dir / "endpoints.yml"
        self.services: list[Service] = []
        self._started = False

    # --- lifecycle ---

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        try:
            self._write_config()
            self._seed()
            bin_dir = venv_bin()
            python = str(bin_dir / "python")
            self.services = [
                Service(
                    "rasa",
                    [python, "-m", "bot.cli.run_rasa", "--model", str(self.model),
                     "--port", str(self.rasa_port), "--interface", "127.0.0.1",
                     "--credentials", str(self.credentials_path),
                     "--endpoints", str(self.endpoints_path)],
                    self.rasa_url + "/",
                    lambda status, body: status == 200 and "Hello from Rasa" in body,
                    self.tmp_dir / "rasa.log"),
                Service(
                    "actions",
                    [python, "-m", "bot.cli.run_actions", "--port", str(self.action_port)],
                    self.action_url + "/health",
                    lambda status, _body: status == 200,
                    self.tmp_dir / "actions.log"),
                Service(
                    "web",
                    [python, "-m", "bot.website.app", "--host", "127.0.0.1",
                     "--port", str(self.web_port)],
                    self.web_url + "/healthz",
                    lambda status, body: status == 200 and body.strip() == "ok",
                    self.tmp_dir / "web.log"),
            ]
            for service in self.services:
                self._spawn(service)
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for service in reversed(self.services):
            self._terminate(service)
        self.services = []
        if self.tmp_dir.exists() and os.environ.get("STACK_KEEP_TMP") != "1":
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    # --- helpers for tests ---

    def rest(self, sender: str, text: str, metadata: dict[str, Any] | None = None,
             timeout: float = 60.0) -> list[dict[str, Any]]:
        """Send one message through Rasa's REST channel and return the bot's replies.

        Note: Rasa's stock REST channel does not pass ``metadata`` on to the tracker.
        """
        body: dict[str, Any] = {"sender": sender, "message": text}
        if metadata is not None:
            body["metadata"] = metadata
        request = urllib.request.Request(
            self.rasa_url + "/webhooks/rest/webhook", data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            replies = json.loads(resp.read().decode("utf-8"))
        if not isinstance(replies, list):
            raise StackError(f"unexpected REST reply: {replies!r}")
        return replies

    def texted_code(self, ref: str) -> str | None:
        """The latest 6-digit code the demo phone of customer ``ref`` received, or None."""
        import re
        import sqlite3

        try:
            with contextlib.closing(sqlite3.connect(self.database_url.removeprefix("sqlite:///"))) as db:
                row = db.execute("SELECT phone FROM customers WHERE ref = ?", (ref,)).fetchone()
            with contextlib.closing(sqlite3.connect(self.tmp_dir / "demo_phone.db")) as phone:
                texts = phone.execute("SELECT body FROM texts WHERE to_number = ? ORDER BY rowid DESC",
                                      (row[0] if row else "",)).fetchall()
        except sqlite3.OperationalError:  # nothing texted yet
            return None
        for (body,) in texts:
            found = re.search(r"\b(\d{6})\b", body)
            if found:
                return found.group(1)
        return None

    def verify_rest(self, sender: str, ref: str, postcode: str) -> list[dict[str, Any]]:
        """An anonymous REST visitor's identity check: the customer number, the postcode, then the
        code the customer's (demo) phone received; the replies to the last answer."""
        self.rest(sender, ref)
        replies = self.rest(sender, postcode)
        if any("6 cifras" in (r.get("text") or "") or "6-digit" in (r.get("text") or "")
               for r in replies):
            code = self.texted_code(ref)
            if code is None:
                raise StackError(f"the assistant asked for a code but no text reached {ref}'s phone")
            replies = self.rest(sender, code)
        return replies

    def logs(self, name: str, lines: int = 80) -> str:
        """The last lines of one service's log (``rasa``, ``actions``, ``web``, ``seed``)."""
        return _tail(self.tmp_dir / f"{name}.log", lines)

    # --- internals ---

    def _write_config(self) -> None:
        self.credentials_path.write_text(
            f"{REST_CHANNEL}:\n"
            "bot.channels.web.SignedSocketIOInput:\n"
            "  user_message_evt: user_uttered\n"
            "  bot_message_evt: bot_uttered\n"
            f"  session_persistence: {'true' if self.session_persistence else 'false'}\n"
            "  metadata_key: customData\n"
            + (self.extra_credentials.rstrip("\n") + "\n" if self.extra_credentials else ""),
            encoding="utf-8")
        self.endpoints_path.write_text(
            "action_endpoint:\n"
            f"  url: {json.dumps(self.action_url + '/webhook')}\n"
            "  headers:\n"
            "    X-Action-Token: ${ACTION_SERVER_TOKEN}\n"  # as endpoints.yml: unquoted, so expanded
            "tracker_store:\n"
            "  type: SQL\n"
            "  dialect: sqlite\n"
            f"  db: {json.dumps(str(self.tracker_db))}\n",
            encoding="utf-8")

    def _seed(self) -> None:
        log_path = self.tmp_dir / "seed.log"
        with log_path.open("wb") as log:
            result = subprocess.run(
                [str(venv_bin() / "python"), "-m", "bot.storage.seed"], cwd=PROJECT_ROOT, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, timeout=300, check=False, umask=PRIVATE_UMASK)
        if result.returncode != 0:
            raise StackError(f"python -m bot.storage.seed failed (exit {result.returncode}):\n"
                             f"{_tail(log_path)}")

    def _spawn(self, service: Service) -> None:
        service.log_file = service.log_path.open("wb")
        service.process = subprocess.Popen(
            service.args, cwd=PROJECT_ROOT, env=self.env, stdin=subprocess.DEVNULL,
            stdout=service.log_file, stderr=subprocess.STDOUT, start_new_session=True,
            umask=PRIVATE_UMASK)  # as the Procfile's "umask 077"

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.timeout
        pending = list(self.services)
        while pending:
            for service in list(pending):
                assert service.process is not None
                code = service.process.poll()
                if code is not None:
                    self._fail(f"{service.name} exited with code {code} before becoming healthy")
                try:
                    status, body = _http_get(service.health_url, timeout=2.0)
                except (OSError, urllib.error.URLError):
                    continue
                if service.healthy(status, body):
                    pending.remove(service)
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                self._fail(f"not healthy after {self.timeout:.0f} s: {names}")
            time.sleep(0.5)

    def _fail(self, reason: str) -> None:
        report = [f"Stack failed: {reason}", f"(temporary directory {self.tmp_dir})"]
        for name in ("seed", *(s.name for s in self.services)):
            if (self.tmp_dir / f"{name}.log").exists():
                report.append(f"----- {name}.log (last lines) -----\n{self.logs(name)}")
        message = "\n".join(report)
        print(message, file=sys.stderr)
        raise StackError(message)

    @staticmethod
    def _terminate(service: Service) -> None:
        proc = service.process
        if proc is not None and proc.poll() is None:
            # the service runs in its own session, so its process group has its pid
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if service.log_file is not None:
            service.log_file.close()
            service.log_file = None
