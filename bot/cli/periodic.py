"""Run a CLI job once, or again and again for a process of `make run` (``--every SECONDS``)."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from datetime import datetime, timezone

log = logging.getLogger(__name__)

MIN_EVERY = 60


def utc_moment(text: str) -> datetime:
    """``--now`` of the CLIs: an ISO date-time as naive UTC (the database's convention)."""
    try:
        moment = datetime.fromisoformat(text)
        return moment.astimezone(timezone.utc).replace(tzinfo=None) if moment.tzinfo else moment
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a UTC time like 2026-11-24T10:00, got {text!r}") from None


def every_error(every: int) -> str | None:
    """The error message for a bad ``--every`` value, or None."""
    if every and every < MIN_EVERY:
        return f"error: --every must be at least {MIN_EVERY} seconds"
    return None


def repeat(job: Callable[[], int], every: int, what: str) -> int:
    """Run ``job`` once and return its exit code (``every`` 0), or run it every ``every`` seconds.

    In the repeating mode a failed run (an exception) is logged and the loop goes on: under
    `make run` (honcho) one process that exits stops all the others.
    """
    while True:
        code = 1
        try:
            code = job()
        except Exception:  # noqa: BLE001 - kept running, see above
            if not every:
                raise
            log.exception("%s failed; trying again in %s s", what, every)
        if not every:
            return code
        time.sleep(every)
