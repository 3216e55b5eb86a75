"""The backend's own status of the builds in progress, for the page.

A run record is only as fresh as its last poll, and with a history the first poll comes near the
expected end: the page asks the backend itself. Reads are kept LIVE_SECONDS per backend, so any
number of open pages polling cost one read per building template per LIVE_SECONDS (in Azure an ARM
read: a subscription's budget refills at 25 per second, shared with the sweeps and polls).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from weakref import WeakKeyDictionary

from aibtrigger.domain.model import BuildStatus
from aibtrigger.domain.records import RunRecord
from aibtrigger.domain.runstate import belongs_to_run
from aibtrigger.errors import AibTriggerError

log = logging.getLogger(__name__)
LIVE_SECONDS = 5.0
_read_at: WeakKeyDictionary = WeakKeyDictionary()  # backend -> {template: (monotonic time, status or None)}
_lock = threading.Lock()


def live_statuses(backend, runs: list[RunRecord]) -> dict[str, BuildStatus]:
    """Template -> the backend's status now, for each run the backend confirmed that has not ended,
    when that status is the run's own (not the previous build's, still reported before it starts)."""
    wanted = [run for run in runs if run.state is not None and not run.is_terminal]
    now = time.monotonic()
    with _lock:
        known = _read_at.setdefault(backend, {})
        stale = [
            run.template for run in wanted if now - known.get(run.template, (float("-inf"), None))[0] > LIVE_SECONDS
        ]
    if stale:
        with ThreadPoolExecutor(max_workers=min(8, len(stale))) as pool:
            read = list(zip(stale, pool.map(lambda template: _read(backend, template), stale), strict=True))
        with _lock:
            known.update((template, (now, status)) for template, status in read)
    with _lock:
        found = {run.template: (known.get(run.template) or (0, None))[1] for run in wanted}
    return {
        run.template: status
        for run in wanted
        if (status := found[run.template]) is not None and belongs_to_run(status, run.created_at)
    }


def _read(backend, template: str) -> BuildStatus | None:
    try:
        return backend.get_status(template)
    except AibTriggerError as exc:  # the recorded state is shown instead
        log.warning("cannot read the live status of %s: %s", template, exc)
        return None
