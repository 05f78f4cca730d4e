"""Attacks on the processes ``make run`` starts, and the protections that stop them.

Every process is started from its own line in the ``Procfile`` (through ``sh -c``, as honcho
does), only with a free port and a temporary database, so that these tests check the commands
the product really runs:

- the action server must listen on the loopback only and run nothing, nor list its actions,
  without the shared secret Rasa sends (``X-Action-Token``): otherwise anyone who reaches
  port 5055 posts a crafted tracker and cancels any customer's subscription, or reads another
  customer's profile from ``action_session_start``; its errors must not echo the request;
- no secret (Rasa's API token, the action server's token) may appear on a command line, which
  every local user can read in ``ps`` (``/proc/<pid>/cmdline``);
- every file the product creates under ``var/`` is readable by its owner only (umask 077).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import stat
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.support.db_fixtures import make_database
from tests.support.stack import PROJECT_ROOT, find_model, free_ports, venv_bin

PROCFILE = PROJECT_ROOT / "Procfile"
TOKEN_HEADER = "X-Action-Token"
START_TIMEOUT = float(os.environ.get("STACK_TIMEOUT", "420"))


# ---------------------------------------------------------------------------- processes


def procfile() -> dict[str, str]:
    """The Procfile's processes: name -> command line."""
    entries: dict[str, str] = {}
    for line in PROCFILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def procfile_command(name: str, port: int) -> str:
    """The Procfile's command for ``name``, on ``port`` and runnable from any directory."""
    command = procfile()[name]
    command = re.sub(r"--port \d+", f"--port {port}", command)
    return command.replace(".venv/bin/", f"{venv_bin()}/")


@dataclass
class Running:
    """A Procfile process started by a test; its log is in ``log_path``."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:]


def start(name: str, port: int, env: dict[str, str], cwd: Path) -> Running:
    log_path = cwd / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["/bin/sh", "-c", procfile_command(name, port)], cwd=cwd, env=env,
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return Running(name, process, log_path)


def stop(running: Running) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(running.process.pid, signal.SIGTERM)
    try:
        running.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(running.process.pid, signal.SIGKILL)
        running.process.wait(timeout=10)


def process_env(tmp: Path, db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a test process: temporary database and secrets, nothing in var/."""
    return {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONUNBUFFERED": "1",
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "DATABASE_URL": db_url,
        "TRACKER_DB_URL": f"sqlite:///{tmp / 'var' / 'tracker.db'}",
        "WEB_JWT_SECRET": secrets.token_urlsafe(32),
        "ANALYTICS_SECRET_KEY": secrets.token_urlsafe(32),
        "RASA_API_TOKEN": "rasa-api-" + secrets.token_hex(16),
        "ACTION_SERVER_TOKEN": "action-" + secrets.token_hex(16),
        **extra,
    }


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its living descendants."""
    children: dict[int, list[int]] = {}
    for stat_path in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat_path.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat_path.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    return ""


def umask_of(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return None


def python_process(running: Running, module: str, timeout: float = 30.0) -> int:
    """The pid of the Python process that runs ``module`` (the shell and the Procfile's
    supervisor, ``bot.cli.keep_running``, are its parents)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in process_tree(running.process.pid):
            line = cmdline(pid)
            if f"-m {module}" in line and "-m bot.cli.keep_running" not in line:
                return pid
        if running.process.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"no process runs {module}:\n{running.log()}")


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a socket listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for row in Path(table).read_text().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                address, _, hex_port = local.partition(":")
                if state == "0A" and int(hex_port, 16) == port:
                    found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:  # IPv4, little-endian
        return ".".join(str(b) for b in reversed(bytes.fromhex(hex_address)))
    return "::" if set(hex_address) == {"0"} else hex_address


def wait_until(url: str, ready: Any, running: Running, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"{running.name} exited ({running.process.returncode}):\n{running.log()}")
        with contextlib.suppress(OSError):
            status, body = http("GET", url, timeout=2.0)
            if ready(status, body):
                return
        time.sleep(0.3)
    raise AssertionError(f"{running.name} not ready after {timeout:.0f} s:\n{running.log()}")


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 30.0) -> tuple[int, str]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode("utf-8"))
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def private_tree_problems(root: Path) -> list[str]:
    """Every file under ``root`` that is not 0600 and every directory that is not 0700."""
    problems = []
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if not path.is_symlink() and mode != wanted:
            problems.append(f"{path.relative_to(root.parent)}: {oct(mode)}, wanted {oct(wanted)}")
    return problems


# ---------------------------------------------------------------------------- the action server


@dataclass
class ActionServer:
    url: str
    port: int
    token: str
    db_url: str
    running: Running


@pytest.fixture(scope="module")
def action_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ActionServer]:
    """The Procfile's ``actions`` process on a free port, over a seeded temporary database."""
    tmp = tmp_path_factory.mktemp("actions")
    db_url = make_database(tmp)
    (port,) = free_ports(1)
    env = process_env(tmp, db_url)
    running = start("actions", port, env, tmp)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(url + "/health", lambda status, _body: status == 200, running, 120)
        yield ActionServer(url, port, env["ACTION_SERVER_TOKEN"], db_url, running)
    finally:
        stop(running)


def customer(db_url: str, ref: str) -> tuple[int, str]:
    """The customer's id and the status of their current subscription."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            customer_id = conn.execute(text("SELECT id FROM customers WHERE ref = :ref"), {"ref": ref}).scalar_one()
            status = conn.execute(text(
                "SELECT status FROM subscriptions WHERE customer_id = :id ORDER BY id DESC LIMIT 1"),
                {"id": customer_id}).scalar_one()
    finally:
        engine.dispose()
    return int(customer_id), str(status)


def action_call(action: str, sender: str, slots: dict[str, Any], text_: str = "/cancel_firm") -> dict[str, Any]:
    """What Rasa posts to /webhook, as an attacker would craft it."""
    return {
        "next_action": action, "sender_id": sender, "version": "3.6.21", "domain": {},
        "tracker": {
            "sender_id": sender, "slots": slots, "events": [], "paused": False,
            "latest_message": {"text": text_, "intent": {"name": "cancel_firm", "confidence": 1.0}},
            "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen",
        },
    }


def cancel_call(customer_id: int) -> dict[str, Any]:
    """A pressed "cancel now" button of a customer who seems verified: cancels at once."""
    return action_call("action_cancel_subscription", f"attacker-{customer_id}", {
        "customer_id": float(customer_id), "verified": True, "language": "en", "retention_stage": None})


def session_start_call(ref: str) -> dict[str, Any]:
    """A session start that claims the website vouched for customer ``ref``."""
    return action_call("action_session_start", f"attacker-{ref}", {
        "session_started_metadata": {"customer_ref": ref, "authenticated": True}}, text_="hola")


def test_crafted_tracker_without_the_token_cancels_nothing(action_server: ActionServer) -> None:
    customer_id, before = customer(action_server.db_url, "C00003")
    assert before == "active"
    status, body = http("POST", action_server.url + "/webhook", cancel_call(customer_id))
    assert status in (401, 403), body
    assert "error" in json.loads(body) and "utter_" not in body
    assert customer(action_server.db_url, "C00003")[1] == "active"


def test_crafted_tracker_with_a_wrong_token_cancels_nothing(action_server: ActionServer) -> None:
    customer_id, _ = customer(action_server.db_url, "C00004")
    for wrong in ("", "x", action_server.token[:-1], action_server.token + "x"):
        status, body = http("POST", action_server.url + "/webhook", cancel_call(customer_id),
                            headers={TOKEN_HEADER: wrong})
        assert status in (401, 403), (wrong, body)
    assert customer(action_server.db_url, "C00004")[1] == "active"


def test_session_start_without_the_token_reveals_no_customer(action_server: ActionServer) -> None:
    status, body = http("POST", action_server.url + "/webhook", session_start_call("C00001"))
    assert status in (401, 403), body
    assert "Luc" not in body and "C00001" not in body


def test_action_list_needs_the_token(action_server: ActionServer) -> None:
    status, body = http("GET", action_server.url + "/actions")
    assert status in (401, 403) and "action_cancel_subscription" not in body


def test_health_needs_no_token(action_server: ActionServer) -> None:
    assert http("GET", action_server.url + "/health")[0] == 200


def test_with_the_token_the_actions_run(action_server: ActionServer) -> None:
    status, body = http("POST", action_server.url + "/webhook", session_start_call("C00001"),
                        headers={TOKEN_HEADER: action_server.token})
    assert status == 200, body
    slots = {e["name"]: e["value"] for e in json.loads(body)["events"] if e.get("event") == "slot"}
    assert slots["customer_ref"] == "C00001" and slots["verified"] is True


def test_an_error_does_not_echo_the_request(action_server: ActionServer) -> None:
    marker = "private-" + secrets.token_hex(8)
    call = {"next_action": "action_session_start", "sender_id": marker, "tracker": {"note": marker},
            "domain": {"note": marker}, "version": "3.6.21"}  # no tracker sender_id: the SDK raises
    status, body = http("POST", action_server.url + "/webhook", call, headers={TOKEN_HEADER: action_server.token})
    assert status == 500
    assert marker not in body and "sender_id" not in body
    assert set(json.loads(body)) == {"error"}


def test_action_server_listens_on_the_loopback_only(action_server: ActionServer) -> None:
    assert listening_addresses(action_server.port) == {"127.0.0.1"}


def test_action_server_has_no_secret_on_its_command_line(action_server: ActionServer) -> None:
    pids = process_tree(action_server.running.process.pid)
    assert pids and all(action_server.token not in cmdline(pid) for pid in pids)


def test_endpoints_send_the_action_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rasa reads ``endpoints.yml`` with ``${ACTION_SERVER_TOKEN}`` expanded (unquoted: Rasa
    expands only plain YAML scalars)."""
    from rasa.utils.endpoints import read_endpoint_config

    monkeypatch.setenv("ACTION_SERVER_TOKEN", "-a:token#with'odd\"characters")
    endpoint = read_endpoint_config(str(PROJECT_ROOT / "endpoints.yml"), "action_endpoint")
    assert endpoint is not None
    assert endpoint.headers == {TOKEN_HEADER: "-a:token#with'odd\"characters"}
    from bot.cli.run_actions import TOKEN_HEADER as SERVER_HEADER

    assert SERVER_HEADER == TOKEN_HEADER


def test_action_server_token_is_kept_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.config.settings import action_server_token

    monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)
    path = tmp_path / "var" / "action_server_token"
    first = action_server_token(path)
    assert len(first) >= 32 and action_server_token(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "from-the-environment")
    assert action_server_token(path) == "from-the-environment"


# ---------------------------------------------------------------------------- Rasa


@dataclass
class RasaServer:
    url: str
    env: dict[str, str]
    tmp: Path
    running: Running


@pytest.fixture(scope="module")
def rasa_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RasaServer]:
    """The Procfile's ``rasa`` process on a free port, run from a temporary directory (so its
    tracker store, ``var/tracker.db`` of endpoints.yml, is created there)."""
    if find_model() is None:
        pytest.fail("no trained model under models/: run make train first", pytrace=False)
    tmp = tmp_path_factory.mktemp("rasa")
    (tmp / "var").mkdir(mode=0o700)
    (tmp / "db").mkdir()
    env = process_env(tmp, make_database(tmp / "db"))  # made here, not by Rasa: kept out of var/
    (port,) = free_ports(1)
    running = start("rasa", port, env, tmp)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(url + "/", lambda status, body: status == 200 and "Hello from Rasa" in body,
                   running, START_TIMEOUT)
        yield RasaServer(url, env, tmp, running)
    finally:
        stop(running)


def test_no_secret_on_rasas_command_lines(rasa_server: RasaServer) -> None:
    secrets_ = [rasa_server.env["RASA_API_TOKEN"], rasa_server.env["ACTION_SERVER_TOKEN"]]
    pids = process_tree(rasa_server.running.process.pid)
    lines = [cmdline(pid) for pid in pids]
    assert any("bot.cli.run_rasa" in line for line in lines)
    for line in lines:
        assert not any(secret in line for secret in secrets_), line


def test_rasa_http_api_still_needs_its_token(rasa_server: RasaServer) -> None:
    assert http("GET", rasa_server.url + "/status")[0] == 401
    token = urllib.request.quote(rasa_server.env["RASA_API_TOKEN"])
    status, body = http("GET", f"{rasa_server.url}/status?token={token}")
    assert status == 200, body


def test_rasa_tracker_store_is_private(rasa_server: RasaServer) -> None:
    http("POST", rasa_server.url + "/webhooks/rest/webhook", {"sender": "modes-1", "message": "hola"})
    assert (rasa_server.tmp / "var" / "tracker.db").exists()
    assert private_tree_problems(rasa_server.tmp / "var") == []


# ---------------------------------------------------------------------------- files under var/


def test_make_db_creates_only_private_files(tmp_path: Path) -> None:
    """``make db`` (migrate + seed + demo history) on a fresh var directory."""
    var = tmp_path / "var"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{var / 'retention.db'}",
           "TRACKER_DB_URL": f"sqlite:///{var / 'tracker.db'}"}
    result = subprocess.run(["make", "-s", "-o", ".venv/.installed", "db"], cwd=PROJECT_ROOT, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (var / "retention.db").exists() and (var / "tracker.db").exists()
    assert private_tree_problems(var) == []


@pytest.mark.parametrize("name, module", [
    ("web", "bot.website.app"), ("dashboard", "analytics.app"), ("housekeeping", "bot.cli.housekeeping"),
    ("campaigns", "bot.cli.campaigns"), ("actions", "bot.cli.run_actions"), ("rasa", "bot.cli.run_rasa"),
    ("alerts", "bot.cli.events"), ("proactive", "bot.cli.proactive"), ("outbox", "bot.cli.outbox"),
])
def test_every_procfile_process_creates_private_files(tmp_path: Path, name: str, module: str) -> None:
    """Each process runs with umask 077, so whatever it creates is its owner's only."""
    env = process_env(tmp_path, make_database(tmp_path))
    (port,) = free_ports(1)
    running = start(name, port, env, tmp_path)
    try:
        pid = python_process(running, module)
        assert umask_of(pid) == 0o077, f"{name}: umask {oct(umask_of(pid) or 0)}"
    finally:
        stop(running)


def test_a_process_start_makes_existing_files_private(tmp_path: Path) -> None:
    from bot.config.settings import protect_data_files

    var = tmp_path / "var"
    (var / "sub").mkdir(parents=True)
    var.chmod(0o755)
    (var / "retention.db").write_text("x")
    (var / "retention.db").chmod(0o644)
    (var / "sub" / "log").write_text("x")
    (var / "sub" / "log").chmod(0o666)
    previous = os.umask(0o022)
    try:
        protect_data_files(var)
        assert os.umask(0o022) == 0o077
    finally:
        os.umask(previous)
    assert private_tree_problems(var) == []
