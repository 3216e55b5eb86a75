"""The watchdog: no claim stays stuck. Runs with the schedule check (every minute by default).

A poll chain can die (its message poisoned after repeated storage or ARM faults), a hand-off can be
lost the same way, a template can leave the catalog mid-build. The rule, for each claim:
- its template left the catalog: the run is recorded Failed (and published), the claim released;
- still 'starting' past `stale_start`: its request is sent again (the handler resumes the start);
- 'running', but the run's next poll is overdue by `stall_after`: a new poll chain (new token);
  this also finishes a run that ended but whose publish or release did not complete.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from aibtrigger.domain.events import build_finished
from aibtrigger.domain.model import RunState
from aibtrigger.errors import ConcurrencyError
from aibtrigger.names import REQUESTS_QUEUE
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.requests import resume_polling

log = logging.getLogger(__name__)


def recover_stalled(deps: Deps, *, stall_after: timedelta = timedelta(minutes=10)) -> list[str]:
    """Returns what it did, one line per claim it acted on."""
    now, done = deps.clock(), []
    for claim in deps.store.list_claims():
        if claim.template not in deps.catalog:
            _abandon(claim, deps, "its template was removed from the catalog while it was building")
            done.append(f"{claim.template}: released (template no longer in the catalog)")
        elif claim.state == "starting":
            if now - claim.claimed_at > deps.stale_start:
                deps.queue.send(REQUESTS_QUEUE, {"template": claim.template, "id": claim.request_id,
                                                 "reason": (claim.reasons or ("resumed",))[0][:1000]})
                done.append(f"{claim.template}: start of {claim.run_id} resumed")
        else:
            run = deps.store.get_run(claim.run_id)
            due = run and (run.next_poll_at or run.started_at or run.created_at)
            if run is not None and now - due > stall_after:
                resume_polling(claim, deps)
                done.append(f"{claim.template}: polling of {claim.run_id} resumed")
    for line in done:
        log.warning("watchdog: %s", line)
    return done


def _abandon(claim, deps: Deps, why: str) -> None:
    run = deps.store.get_run(claim.run_id)
    if run is not None and not run.is_terminal:
        run = run.evolve(state=RunState.FAILED, sub_state=None, ended_at=deps.clock(), message=why)
        deps.store.put_run(run)
    if run is not None and not run.published:
        deps.publisher.publish(build_finished(run, now=deps.clock()))
        deps.store.put_run(run.evolve(published=True))
    try:
        deps.store.delete_claim(claim)
    except ConcurrencyError:
        pass  # it changed meanwhile: the next round looks again
