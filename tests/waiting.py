"""Waiting for a condition in tests: poll with a deadline, never a fixed sleep, never a timing assertion."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(
    predicate, what: str, *, timeout: float = 60.0, interval: float = 0.2, context: Callable[[], str] = lambda: ""
):
    """The predicate's first truthy value; on timeout an AssertionError naming `what` (and `context()`)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}{context()}")
