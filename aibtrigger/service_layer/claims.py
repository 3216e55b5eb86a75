"""Small steps on a claim that every chain shares: conditional updates, leases, poll messages."""

from __future__ import annotations

import logging
from datetime import timedelta

from aibtrigger.domain.model import RunState
from aibtrigger.domain.records import Claim
from aibtrigger.errors import AibTriggerError, ConcurrencyError
from aibtrigger.names import POLLS_QUEUE
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)
ATTEMPTS = 8  # re-reads after a lost conditional write before giving the step back to a retry


class StaleChainError(ConcurrencyError):
    """The claim moved on (another run, or a newer poll chain holds it): this chain stops."""


def update_claim(claim: Claim, deps: Deps, change) -> Claim:
    """Apply `change` to our claim, re-reading when a coalescing request changed it meanwhile. Raises
    StaleChainError when the claim now belongs to another run or another poll chain."""
    for _ in range(ATTEMPTS):
        try:
            return deps.store.replace_claim(change(claim))
        except ConcurrencyError:
            current = deps.store.get_claim(claim.template)
            if current is None or current.run_id != claim.run_id or current.poll_token != claim.poll_token:
                raise StaleChainError(f"claim on {claim.template!r} moved on from this chain") from None
            claim = current
    raise ConcurrencyError(f"claim on {claim.template!r} kept changing")


def lease_for(deps: Deps, delay_seconds: float):
    """Until when a chain that looks again in `delay_seconds` is presumed alive."""
    return deps.clock() + timedelta(seconds=delay_seconds) + deps.lease_margin


def send_poll(claim: Claim, deps: Deps, *, delay_seconds: float, expected_seconds: float | None) -> None:
    """An accelerator, not a duty: when the queue cannot take it, the lease runs out and the
    reconciler polls instead. So a failure here is logged, never raised."""
    try:
        deps.queue.send(
            POLLS_QUEUE,
            {
                "template": claim.template,
                "run_id": claim.run_id,
                "token": claim.poll_token,
                "expected_seconds": expected_seconds,
            },
            delay_seconds=delay_seconds,
        )
    except AibTriggerError as exc:
        log.warning("poll of %s not queued (%s): the reconciler polls when its lease ends", claim.run_id, exc)


def expected_duration(template: str, deps: Deps) -> timedelta | None:
    """Median duration of the template's recent successful builds, or None without history."""
    durations = sorted(
        r.ended_at - r.started_at
        for r in deps.store.list_runs(template, limit=10)
        if r.state is RunState.SUCCEEDED and r.started_at and r.ended_at
    )
    return durations[len(durations) // 2] if durations else None


def building_parent(template: str, deps: Deps) -> Claim | None:
    """The claim of a parent of `template` (in the lineage) that is building or about to, if any."""
    from aibtrigger.domain.planner_index import index_for

    index = index_for(deps.catalog)
    if template not in index.facts:
        return None
    for parent in sorted(index.cascade_parents(template) - {template}):
        claim = deps.store.get_claim(parent)
        if claim is not None:
            return claim
    return None
