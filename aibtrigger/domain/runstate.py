"""The run state machine: what a status reading means for a recorded run, and when to look again.

Pure: every function takes `now` explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aibtrigger.domain.model import BuildStatus, RunState

# A build this young that reads "not running" may not be visible yet (AIB accepted Run but the
# template's lastRunStatus has not moved): keep polling instead of concluding.
_SETTLE = timedelta(minutes=2)
_TIMEOUT_MARKERS = ("context deadline exceeded", "timed out", "timeout")


@dataclass(frozen=True)
class Verdict:
    """`continue` (look again later), `finished` (record `state`), or `overdue` (cancel it)."""

    action: str
    state: RunState | None = None
    message: str = ""


def belongs_to_run(
    status: BuildStatus,
    claimed_at: datetime,
    *,
    skew: timedelta = timedelta(minutes=5),
    previous_end: datetime | None = None,
) -> bool:
    """Whether the backend's current/last run is the one this claim asked for (so it is ours to adopt).

    It must have started after the claim (less a clock-skew allowance) and, if it ended, ended after
    it, and after the end recorded for the template's previous run (`previous_end`, read from the
    backend too): within the skew, the build that ended just before a follow-up's claim is not the
    follow-up's.
    """
    if status.start_time is None or status.start_time < claimed_at - skew:
        return False
    if status.end_time is None:
        return True
    return status.end_time >= claimed_at and (previous_end is None or status.end_time > previous_end)


def read_status(
    status: BuildStatus,
    *,
    started_at: datetime,
    now: datetime,
    timeout: timedelta,
    grace: timedelta,
    canceling_since: datetime | None = None,
) -> Verdict:
    """Interpret one status reading of a run that the backend confirmed at `started_at`.

    `canceling_since`: when this run was first seen Canceling. AIB builds are reported stuck there
    for hours; after `grace` the run is given up as StuckCanceling so its template is released.
    """
    if status.run_state is None or not belongs_to_run(status, started_at):
        if now - started_at < _SETTLE:
            return Verdict("continue")
        return Verdict("finished", RunState.FAILED, "the backend shows no trace of this run")
    if status.is_active:
        if status.run_state is RunState.CANCELING and canceling_since and now - canceling_since > grace:
            return Verdict(
                "finished",
                RunState.STUCK_CANCELING,
                f"still canceling {_minutes(now - canceling_since)} after the cancel began; "
                "released: the backend may still be canceling",
            )
        if now - started_at > timeout + grace and status.run_state is RunState.RUNNING:
            return Verdict(
                "overdue",
                message=f"still running {_minutes(now - started_at)} after start; "
                f"timeout is {_minutes(timeout)} plus {_minutes(grace)} grace",
            )
        return Verdict("continue")
    state = status.run_state
    if state is RunState.FAILED and any(m in status.message.lower() for m in _TIMEOUT_MARKERS):
        state = RunState.TIMED_OUT
    return Verdict("finished", state, status.message)


def poll_delay(*, elapsed: timedelta, expected: timedelta | None, minimum: float, maximum: float) -> float:
    """Seconds until the next status read.

    With a history (`expected` duration), sleep through most of the expected build in one step,
    then look often enough to notice the end within ~5% of the duration. Without one, back off
    geometrically so a long build costs a few dozen reads at most.
    """
    seconds = elapsed.total_seconds()
    if expected is not None:
        target = expected.total_seconds()
        if seconds < 0.9 * target:  # the history vouches for the wait: `maximum` does not cut it
            return max(minimum, 0.9 * target - seconds)
        return _clamp(0.05 * max(seconds, target), minimum, maximum)
    return _clamp(seconds / 3, minimum, maximum)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def _minutes(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 60:.0f} min"
