"""One process that dies does not stop the product: each Procfile process runs under
``bot.cli.keep_running``, which restarts a crashed command, passes a stop on, and gives up
loudly on a command that cannot start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.cli.keep_running import Supervisor, backoff
from bot.config.settings import PROJECT_ROOT

PY = sys.executable


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def crashing(counter: Path, crashes: int) -> list[str]:
    """A command that exits 3 on its first ``crashes`` runs, then 0; each run adds a line."""
    code = (f"import pathlib,sys; p=pathlib.Path({str(counter)!r}); n=len(p.read_text().splitlines()) "
            f"if p.exists() else 0; p.write_text('run\\n'*(n+1)); sys.exit(3 if n < {crashes} else 0)")
    return [PY, "-c", code]


def runs(counter: Path) -> int:
    return len(counter.read_text().splitlines())


def test_a_crashed_command_is_restarted_with_a_growing_back_off(tmp_path: Path) -> None:
    t = FakeTime()
    status = Supervisor(crashing(tmp_path / "n", 3), sleep=t.sleep, clock=t.clock).run()
    assert status == 0 and runs(tmp_path / "n") == 4
    assert round(sum(t.slept)) == 1 + 2 + 4
    assert [backoff(n) for n in (1, 2, 3, 6, 20)] == [1, 2, 4, 30, 30]


def test_a_command_that_keeps_crashing_is_given_up_on_with_its_status(tmp_path: Path,
                                                                      capfd: pytest.CaptureFixture[str]) -> None:
    t = FakeTime()
    status = Supervisor(crashing(tmp_path / "n", 99), max_restarts=2, window=300, sleep=t.sleep, clock=t.clock).run()
    assert status == 3 and runs(tmp_path / "n") == 3  # the first run and two restarts
    assert "giving up" in capfd.readouterr().err


def start_supervised(tmp_path: Path, code: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.Popen([PY, "-m", "bot.cli.keep_running", "--", PY, "-c", code], cwd=tmp_path, env=env,
                            start_new_session=True, stderr=subprocess.PIPE)


def child_pids(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_for(predicate, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_a_killed_process_comes_back_and_a_stop_stops_both(tmp_path: Path) -> None:
    supervisor = start_supervised(tmp_path, "import time; time.sleep(600)")
    try:
        first = wait_for(lambda: child_pids(supervisor.pid))[0]
        os.kill(first, signal.SIGKILL)  # as the OOM killer would
        second = wait_for(lambda: [p for p in child_pids(supervisor.pid) if p != first])[0]
        assert supervisor.poll() is None and second != first
        os.killpg(supervisor.pid, signal.SIGTERM)  # what honcho does on Ctrl-C
        assert supervisor.wait(timeout=10) == 0
        assert not Path(f"/proc/{second}").exists() or "Z" in Path(f"/proc/{second}/stat").read_text().split()[2]
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)


def test_a_stop_during_the_back_off_is_not_kept_waiting(tmp_path: Path) -> None:
    supervisor = start_supervised(tmp_path, "import sys; sys.exit(1)")
    try:
        assert b"restarting in" in wait_for(lambda: supervisor.stderr.read1(200) if supervisor.stderr else b"")
        begun = time.monotonic()
        os.killpg(supervisor.pid, signal.SIGTERM)
        assert supervisor.wait(timeout=10) == 0 and time.monotonic() - begun < 5
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)


def test_honcho_keeps_the_other_processes_when_one_dies(tmp_path: Path) -> None:
    """The Procfile's way: under honcho, a process whose command dies is restarted, and the
    others go on (without the supervisor honcho would have stopped them all)."""
    procfile = tmp_path / "Procfile"
    sleeper = f"{PY} -c 'import time; time.sleep(600)'"
    procfile.write_text(f"one: exec {PY} -m bot.cli.keep_running -- {sleeper}\n"
                        f"two: exec {PY} -m bot.cli.keep_running -- {sleeper}\n")
    honcho = Path(PY).parent / "honcho"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    manager = subprocess.Popen([str(honcho), "start", "-f", str(procfile)], cwd=tmp_path, env=env,
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def sleepers() -> list[int]:
            return [p for p in _descendants(manager.pid) if "time.sleep(600)" in _cmdline(p)
                    and "keep_running" not in _cmdline(p)]
        before = wait_for(lambda: (lambda s: s if len(s) == 2 else None)(sleepers()))
        os.kill(before[0], signal.SIGKILL)
        after = wait_for(lambda: (lambda s: s if len(s) == 2 and before[0] not in s else None)(sleepers()))
        assert before[1] in after and manager.poll() is None  # the other one never stopped
    finally:
        os.killpg(manager.pid, signal.SIGTERM)
        manager.wait(timeout=20)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        kids = child_pids(todo.pop())
        out += kids
        todo += kids
    return out


def test_every_procfile_process_runs_under_the_supervisor() -> None:
    lines = [line for line in (PROJECT_ROOT / "Procfile").read_text().splitlines() if line.strip()]
    assert lines and all("-m bot.cli.keep_running -- " in line for line in lines), lines
