"""Keep one Procfile process running: restart it when it crashes, so one process that dies
does not stop the whole product.

``make run`` starts every process with honcho, which stops all of them as soon as one exits.
Each Procfile line therefore runs its command through this supervisor::

    python -m bot.cli.keep_running -- .venv/bin/python -m bot.cli.events send --every 60

A crash (any exit but a stop asked for with SIGTERM/SIGINT) restarts the command after a
back-off (1 s, 2 s, 4 s ... at most 30 s), and says so on stderr, which honcho prints with the
process's name. A command that keeps crashing (``--max-restarts`` crashes within ``--window``
seconds) is given up on: the supervisor exits with the command's status, and honcho stops
everything, loudly, instead of hiding a process that cannot start. A command that ends by
itself with status 0 is finished and is not restarted.

Only the standard library is imported: the supervisor costs a few MB per process.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections import deque
from types import FrameType
from typing import Callable, Sequence

MAX_BACKOFF = 30.0


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bot.cli.keep_running", description=__doc__.split("\n\n")[0])
    ap.add_argument("--max-restarts", type=int, default=5, help="give up after this many crashes... (5)")
    ap.add_argument("--window", type=float, default=300.0, help="...within this many seconds (300)")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command and its arguments")
    return ap


def backoff(crashes_in_a_row: int) -> float:
    """Seconds to wait before restart number ``crashes_in_a_row`` (1, 2, 4, ... at most 30)."""
    return min(MAX_BACKOFF, 2.0 ** max(0, crashes_in_a_row - 1))


class Supervisor:
    """Runs ``command`` until it is stopped, finishes, or crashes too often."""

    def __init__(self, command: Sequence[str], max_restarts: int = 5, window: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.command = list(command)
        self.max_restarts = max_restarts
        self.window = window
        self.sleep = sleep
        self.clock = clock
        self.stopping = False
        self.child: subprocess.Popen[bytes] | None = None
        self.crashes: deque[float] = deque()

    def stop(self, signum: int, _frame: FrameType | None = None) -> None:
        """SIGTERM/SIGINT: pass it on to the command and do not restart it."""
        self.stopping = True
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def _say(self, message: str) -> None:
        print(f"keep_running: {message}", file=sys.stderr, flush=True)

    def run(self) -> int:
        in_a_row = 0
        while True:
            started = self.clock()
            self.child = subprocess.Popen(self.command)
            status = self.child.wait()
            if self.stopping:
                return 0
            if status == 0:
                return 0
            now = self.clock()
            if now - started > self.window:
                in_a_row = 0  # it ran well for a while: a fresh start
            in_a_row += 1
            self.crashes.append(now)
            while self.crashes and now - self.crashes[0] > self.window:
                self.crashes.popleft()
            if len(self.crashes) > self.max_restarts:
                self._say(f"{self.command[-1] if self.command else ''}: exited {status} "
                          f"{len(self.crashes)} times in {self.window:.0f} s; giving up")
                return status if status > 0 else 1
            wait = backoff(in_a_row)
            self._say(f"command exited with status {status}; restarting in {wait:.0f} s")
            deadline = self.clock() + wait
            while not self.stopping and self.clock() < deadline:
                self.sleep(min(0.2, wait))  # short naps: a stop during the back-off is not kept waiting
            if self.stopping:
                return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        print("error: give the command to run after --", file=sys.stderr)
        return 2
    supervisor = Supervisor(command, args.max_restarts, args.window)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGINT, supervisor.stop)
    return supervisor.run()


if __name__ == "__main__":
    raise SystemExit(main())
