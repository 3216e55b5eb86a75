"""Timer triggers: NCRONTAB (6 fields, seconds first) or TimeSpan schedules, in UTC."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from azure.functions.timer import TimerRequest
from cronsim import CronSim, CronSimError

from .hostjson import parse_timespan
from .index import BindingError, FunctionSpec
from .invoke import Invoker

log = logging.getLogger("aibtrigger.devhost")
_NEVER = "0001-01-01T00:00:00"  # the host's "Last" before a timer has ever fired
# Woken later than this after the due time (a suspended laptop, say): the run is past due.
PAST_DUE_SLACK = timedelta(seconds=5)


def schedule(expression: str) -> Callable[[datetime], datetime]:
    """next_after(dt) for a timer's schedule. Like the host, NCRONTAB must have exactly six
    fields (cronsim would read five as minutes-first: a schedule that differs from Azure)."""
    text = expression.strip()
    if ":" in text and " " not in text:  # a TimeSpan: a fixed interval
        interval = timedelta(seconds=parse_timespan(text))
        if interval <= timedelta(0):
            raise BindingError(f"timer interval must be positive: {expression!r}")
        return lambda after: after + interval
    if len(text.split()) != 6:
        raise BindingError(f"NCRONTAB needs 6 fields (seconds first), got {expression!r}")
    try:
        CronSim(text, datetime.now(UTC))
    except CronSimError as exc:
        raise BindingError(f"invalid NCRONTAB {expression!r}: {exc}") from None
    return lambda after: next(CronSim(text, after))


def _iso(dt: datetime | None) -> str:
    return dt.isoformat() if dt else _NEVER


class TimerRunner:
    """One thread per timer, which runs the invocation itself: a timer never overlaps with
    itself (the host holds a singleton lock per timer function). Occurrences missed while an
    invocation ran are skipped, and the next one is computed from the time it finished."""

    def __init__(self, spec: FunctionSpec, invoke: Invoker, stopping: threading.Event):
        self.spec, self._invoke, self._stopping = spec, invoke, stopping
        self._next_after = schedule(spec.trigger["schedule"])
        self._last: datetime | None = None
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        now = datetime.now(UTC)
        if self.spec.trigger.get("runOnStartup"):
            self._fire(now, now, reason="Timer fired because runOnStartup is true.")
        due = self._next_after(datetime.now(UTC))
        log.info("Timer %s: next occurrence %s", self.spec.name, due.isoformat())
        while not self._stopping.wait(max(0.0, (due - datetime.now(UTC)).total_seconds())):
            now = datetime.now(UTC)
            if now < due:  # woke early (clock adjustment): wait the rest
                continue
            self._fire(due, now, reason=f"Timer fired at {now.isoformat()}")
            due = self._next_after(max(due, datetime.now(UTC)))

    def _fire(self, due: datetime, now: datetime, *, reason: str) -> None:
        upcoming = self._next_after(max(due, now))
        request = TimerRequest(
            past_due=now - due > PAST_DUE_SLACK,
            schedule_status={"Last": _iso(self._last), "Next": upcoming.isoformat(), "LastUpdated": now.isoformat()},
            schedule={"AdjustForDST": True},
        )
        self._last = now
        self._invoke(self.spec, request, reason=reason)
