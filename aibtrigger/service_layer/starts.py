"""Start the build a claim stands for: invoke Run, or adopt the build this claim itself started.

Only a build that belongs to this claim is adopted: one that started after the claim wrote, just
before invoking Run, that it was about to (`run_requested_at`), and after the template's previous
run ended. A build that is active but not ours (someone else's, or one still canceling) cannot
include what the claim asks for: the claim waits, its lease set to when to look again; so does an
automatic claim whose parent (in the lineage) is building: it would build from the image being
replaced, then again after it. Run refused
for any other reason (AIB's OperationNotAllowed also covers a template still provisioning), or any
fault on the way, is retried with backoff and, after a bound, recorded as a run that never started,
with the reason, never adopted.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from aibtrigger.domain.model import BuildStatus, RunState
from aibtrigger.domain.records import Claim, run_for_claim
from aibtrigger.domain.runstate import belongs_to_run, poll_delay
from aibtrigger.errors import BuildAlreadyActiveError, ConcurrencyError, first_line
from aibtrigger.service_layer.claims import (
    StaleChainError,
    building_parent,
    expected_duration,
    lease_for,
    send_poll,
    update_claim,
)
from aibtrigger.service_layer.crashpoints import crashpoint
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)
ADOPTED = "adopted a build that was already running"


def start_claimed(claim: Claim, deps: Deps) -> str | None:
    """How the build started ('Run invoked' or ADOPTED), or None when it must wait (lease set)."""
    deps.catalog.get(claim.template)  # UnknownTemplateError: a template that left the catalog never starts
    current = deps.store.get_claim(claim.template)  # a duplicate delivery may hold a copy from before
    if current is None or current.run_id != claim.run_id:
        raise StaleChainError(f"the claim on {claim.template!r} moved on from {claim.run_id}")
    if current.state != "starting":
        return "Run invoked"  # another delivery of the same request started it meanwhile
    claim = current
    from aibtrigger.service_layer.planning import current_inputs

    inputs = current_inputs(claim.template, deps)
    status = deps.backend.get_status(claim.template)
    if _ours(status, claim, deps):
        return _running(claim, status, deps, inputs)
    if status.is_active:
        _wait(
            claim,
            deps,
            f"a build this claim did not start is {status.run_state} "
            f"(since {status.start_time:%Y-%m-%d %H:%M} UTC): Run waits for its end",
            refused=False,
        )
        return None
    parent = None if claim.manual else building_parent(claim.template, deps)
    if parent is not None:  # started now, it would build from the image its parent is replacing
        _wait(claim, deps, f"its parent {parent.template} is building ({parent.run_id})", refused=False)
        return None
    now = deps.clock()
    claim = update_claim(claim, deps, lambda c: c.evolve(run_requested_at=c.run_requested_at or now))
    try:
        deps.backend.start_run(claim.template, provenance=_provenance(claim, inputs))
        crashpoint("after_run_accepted")
    except BuildAlreadyActiveError as exc:
        status = deps.backend.get_status(claim.template)
        if _ours(status, claim, deps):  # ours from an attempt before this one (that attempt then died)
            return _running(claim, status, deps, inputs)
        _wait(claim, deps, f"Run refused: {exc}", refused=not status.is_active)
        return None
    return _running(claim, None, deps, inputs)


def _provenance(claim: Claim, inputs: dict | None) -> dict:
    """What the build tags the versions it distributes with (domain.provenance)."""
    from aibtrigger.domain.fingerprint import fingerprint

    return {
        "run_id": claim.run_id,
        "template": claim.template,
        "upstream": claim.upstream or "",
        "source_version": (inputs or {}).get("version", ""),
        "fingerprint": fingerprint(inputs) if inputs else "",
        "inputs": dict(inputs or {}),
    }  # a backend that learns the exact source version recomputes the fingerprint


def defer_after_fault(claim: Claim, deps: Deps, exc: Exception) -> None:
    """A start that failed on its way (backend or storage unreachable, a 403): counted like a refusal,
    so it is retried with backoff and given up after the bound instead of tried every minute for ever."""
    current = deps.store.get_claim(claim.template)
    if current is not None and current.run_id == claim.run_id and current.state == "starting":
        _wait(current, deps, f"start failed: {type(exc).__name__}: {first_line(exc)}", refused=True)


def _ours(status: BuildStatus, claim: Claim, deps: Deps) -> bool:
    if claim.run_requested_at is None:  # this claim never asked for a build: none can be its own
        return False
    return belongs_to_run(status, claim.run_requested_at, previous_end=_previous_end(claim, deps))


def _previous_end(claim: Claim, deps: Deps):
    """When the template's last other run ended, as the backend reported it."""
    ends = [
        r.ended_at for r in deps.store.list_runs(claim.template, limit=3) if r.run_id != claim.run_id and r.ended_at
    ]
    return max(ends, default=None)


def _running(claim: Claim, adopted: BuildStatus | None, deps: Deps, inputs: dict | None) -> str:
    now = deps.clock()
    run = deps.store.get_run(claim.run_id)
    if run is None:
        started_at = adopted.start_time if adopted and adopted.start_time else now
        run = run_for_claim(
            claim,
            state=RunState.RUNNING,
            started_at=started_at,
            message=ADOPTED if adopted else "",
            inputs=inputs,
        )
        try:
            run = deps.store.save_run(run)
        except ConcurrencyError:  # a duplicate delivery recorded it a moment ago
            run = deps.store.get_run(claim.run_id) or run
        crashpoint("after_run_recorded")
    expected = expected_duration(claim.template, deps)
    delay = poll_delay(
        elapsed=now - (run.started_at or now),
        expected=expected,
        minimum=deps.poll_min_seconds,
        maximum=deps.poll_max_seconds,
    )
    token = deps.entropy()[:12]
    running = update_claim(
        claim,
        deps,
        lambda c: c.evolve(
            state="running", poll_token=token, attempts=0, waiting_for="", lease_until=lease_for(deps, delay)
        ),
    )
    crashpoint("after_claim_running")
    send_poll(running, deps, delay_seconds=delay, expected_seconds=expected.total_seconds() if expected else None)
    log.info("run %s of %s %s", run.run_id, run.template, "adopted" if adopted else "started")
    return ADOPTED if adopted else "Run invoked"


def _wait(claim: Claim, deps: Deps, why: str, *, refused: bool) -> None:
    now, attempts = deps.clock(), claim.attempts + 1
    if (refused and attempts > deps.start_refusals) or now - claim.claimed_at > deps.start_give_up:
        from aibtrigger.service_layer.finish import give_up_start

        give_up_start(claim, deps, f"not started after {attempts} attempts: {why}")
        return None
    delay = min(deps.poll_min_seconds * 2 ** (attempts - 1), deps.poll_max_seconds)
    log.warning("start of %s deferred (%s); looking again in %.0f s", claim.run_id, why, delay)
    look_again = now + timedelta(seconds=delay)  # no margin: nobody else will look before the reconciler
    update_claim(claim, deps, lambda c: c.evolve(attempts=attempts, waiting_for=why[:1000], lease_until=look_again))
    return None
