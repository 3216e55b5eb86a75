"""Before `aibtrigger demo` stops: every build it started has ended and is recorded, and no process
it started is left behind.

The demo's own build ending is not the end of its work: its success can start others (the lineage
cascade, a follow-up). So it waits until no request is queued and every run created since it began
is recorded and published; past its patience it cancels what still runs and waits for the Canceled
record; last, it ends any child process still alive (a builder that outlived its run).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime

from aibtrigger.devhost.processes import children, end_processes

QUIET_FOR = 3.0  # seconds with nothing queued or running: a cascade's next request has had time to land
CANCEL_WAIT = 60.0  # how long canceled builds get to be recorded Canceled


def settle_builds(
    deps, *, since: datetime, patience: float, keep: set[int], say: Callable[[str], None] = print
) -> list:
    """Wait up to `patience` seconds for the builds started since `since` to end, cancel those still
    running, then end child processes not in `keep` (Azurite). Returns those runs, oldest first."""
    if not _wait_quiet(deps, since, patience):
        if patience:
            say(f"== canceling what still runs after {patience:g} s")
        deadline = time.monotonic() + CANCEL_WAIT
        while not _wait_quiet(deps, since, 0) and time.monotonic() < deadline:
            for run in _active(deps, since):
                _cancel(deps, run, say)
            _wait_quiet(deps, since, min(10.0, max(0.0, deadline - time.monotonic())))
    runs = sorted(_since(deps, since), key=lambda r: r.created_at)
    for run in runs:
        state = (
            run.state.value
            if run.is_terminal
            else f"{run.state.value if run.state else 'Starting'} (not recorded as ended)"
        )
        say(f"   {run.template}: run {run.run_id} {state}")
    leftover = [pid for pid in children() if pid not in keep]
    if leftover and not _wait(lambda: not [p for p in children() if p not in keep], 10.0):
        say(f"== ending processes left behind: {', '.join(map(str, leftover))}")
        end_processes([p for p in children() if p not in keep])
    return runs


def _since(deps, since: datetime) -> list:
    return [r for r in deps.store.list_runs(None, limit=200) if r.created_at >= since]


def _active(deps, since: datetime) -> list:
    return [r for r in _since(deps, since) if not (r.is_terminal and r.published)]


def _queued_requests() -> int | None:
    from azure.storage.queue import QueueClient

    from aibtrigger.names import REQUESTS_QUEUE

    client = QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], REQUESTS_QUEUE)
    with client:
        return client.get_queue_properties().approximate_message_count


def _wait_quiet(deps, since: datetime, patience: float) -> bool:
    """True once nothing is queued or running for QUIET_FOR seconds in a row, within `patience`."""

    def quiet() -> bool:
        return not _queued_requests() and not _active(deps, since)

    deadline = time.monotonic() + patience
    while True:
        if quiet():
            quiet_until = time.monotonic() + QUIET_FOR
            while quiet() and time.monotonic() < quiet_until:
                time.sleep(0.5)
            if time.monotonic() >= quiet_until:
                return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.5)


def _cancel(deps, run, say) -> None:
    from aibtrigger.errors import AibTriggerError

    try:
        if deps.backend.get_status(run.template).is_active:
            say(f"   canceling {run.template} (run {run.run_id})")
            deps.backend.cancel_run(run.template)
    except AibTriggerError as exc:  # a storage blip: the next round asks again
        say(f"   canceling {run.template} failed for now: {exc}")


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True
