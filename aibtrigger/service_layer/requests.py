"""Request -> claim the template -> invoke Run (or adopt) -> record -> schedule the first poll.

Safe under redelivery and races: the claim (a conditional write) decides who builds; a request that
finds the template claimed joins the claim's single follow-up; the outcome record makes a
redelivered request a no-op once it has ended.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from aibtrigger.names import POLLS_QUEUE
from aibtrigger.domain.model import RunState
from aibtrigger.domain.records import Claim, FollowUp, Outcome, OutcomeRecord, Request, RunRecord, new_run_id
from aibtrigger.domain.runstate import belongs_to_run, poll_delay
from aibtrigger.errors import BuildAlreadyActiveError, ConcurrencyError
from aibtrigger.service_layer.crashpoints import crashpoint
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)
_ATTEMPTS = 8


def request_build(request: Request, deps: Deps) -> OutcomeRecord:
    entry = deps.catalog.get(request.template)  # UnknownTemplateError: the caller rejects the message
    recorded = deps.store.get_outcome(request.template, request.request_id)
    if recorded is not None:
        log.info("request %s already ended (%s): duplicate delivery", request.request_id, recorded.outcome)
        return recorded
    if entry.policy.paused and not _is_hand_off(request, deps):
        return _record(deps, request, Outcome.SKIPPED, detail="template is paused")
    for _ in range(_ATTEMPTS):
        try:
            return _decide(request, deps)
        except ConcurrencyError:
            # Another instance changed the claim between our read and write: look again. A duplicate
            # delivery that read the claim while it was 'starting' may find it gone because the run it
            # asked for has already ended: the request is served (its outcome is recorded), not new.
            recorded = deps.store.get_outcome(request.template, request.request_id)
            if recorded is not None:
                return recorded
    raise ConcurrencyError(f"claim on {request.template!r} kept changing; the message will be retried")


def _decide(request: Request, deps: Deps) -> OutcomeRecord:
    now = deps.clock()
    claim = deps.store.get_claim(request.template)
    if claim is None:
        claim = deps.store.create_claim(_new_claim(request, deps, reasons=(request.reason,),
                                                   request_ids=(request.request_id,),
                                                   requested_by=(request.requested_by,),
                                                   upstream=request.upstream, manual=request.manual))
        crashpoint("after_claim")
        return _start(claim, request, deps)
    if claim.request_id == request.request_id:  # redelivery of the request that holds the claim
        return _start(claim, request, deps) if claim.state == "starting" else _resume_polling(claim, request, deps)
    if request.follows_run is not None and claim.run_id == request.follows_run:
        return _hand_off(claim, request, deps)
    if request.request_id in claim.request_ids + (claim.followup.request_ids if claim.followup else ()):
        return _record(deps, request, Outcome.COALESCED, run_id=claim.run_id, detail="already coalesced")
    if claim.state == "starting" and now - claim.claimed_at > deps.stale_start:
        log.warning("claim on %s stuck in 'starting' since %s: taken over", claim.template, claim.claimed_at)
        taken = deps.store.replace_claim(_new_claim(request, deps, reasons=claim.reasons + (request.reason,),
                                                    request_ids=claim.request_ids + (request.request_id,),
                                                    requested_by=claim.requested_by + (request.requested_by,),
                                                    followup=claim.followup, upstream=request.upstream or claim.upstream,
                                                    manual=claim.manual or request.manual).evolve(etag=claim.etag))
        return _start(taken, request, deps)
    deps.store.replace_claim(claim.evolve(followup=(claim.followup or FollowUp()).add(request)))
    return _record(deps, request, Outcome.COALESCED, run_id=claim.run_id,
                   detail=f"{claim.template} is building ({claim.run_id}): joined its follow-up build")


def _is_hand_off(request: Request, deps: Deps) -> bool:
    """A follow-up's hand-off names the run whose claim it takes over; anything else is a request."""
    if request.follows_run is None:
        return False
    claim = deps.store.get_claim(request.template)
    return claim is not None and claim.run_id == request.follows_run


def _hand_off(claim: Claim, request: Request, deps: Deps) -> OutcomeRecord:
    """The finished run's claim passes to its follow-up, in one conditional write."""
    finished = deps.store.get_run(claim.run_id)
    if finished is None or not (finished.is_terminal and finished.published):
        raise ConcurrencyError(f"run {claim.run_id} has not finished yet; hand-off retried later")
    waiting = claim.followup or FollowUp()
    successor = _new_claim(request, deps, reasons=waiting.reasons or (request.reason,),
                           request_ids=waiting.request_ids + (request.request_id,),
                           requested_by=waiting.requested_by or (request.requested_by,),
                           upstream=waiting.upstream, manual=waiting.manual).evolve(etag=claim.etag)
    return _start(deps.store.replace_claim(successor), request, deps)


def _start(claim: Claim, request: Request, deps: Deps) -> OutcomeRecord:
    """Invoke Run for a claim in 'starting' — unless the backend already runs (or ran) our build."""
    status = deps.backend.get_status(claim.template)
    adopted = status.is_active or belongs_to_run(status, claim.claimed_at)
    if not adopted:
        try:
            deps.backend.start_run(claim.template)
            crashpoint("after_run_accepted")
        except BuildAlreadyActiveError:
            adopted = True
            status = deps.backend.get_status(claim.template)
    now = deps.clock()
    started_at = status.start_time if adopted and status.start_time else now
    run = deps.store.get_run(claim.run_id) or RunRecord(
        run_id=claim.run_id, template=claim.template, request_ids=claim.request_ids, reasons=claim.reasons,
        requested_by=claim.requested_by, created_at=claim.claimed_at, upstream=claim.upstream, manual=claim.manual)
    if run.state is None:
        run = run.evolve(state=RunState.RUNNING, started_at=started_at,
                         message="adopted a build that was already running" if adopted else "")
        deps.store.put_run(run)
        crashpoint("after_run_recorded")
    running = _update_claim(claim, deps, lambda c: c.evolve(state="running", poll_token=deps.entropy()[:12]))
    crashpoint("after_claim_running")
    _schedule_poll(running, run, deps)
    log.info("run %s of %s %s", run.run_id, run.template, "adopted" if adopted else "started")
    return _record(deps, request, Outcome.STARTED, run_id=run.run_id,
                   detail="adopted the build already running" if adopted else "Run invoked")


def _resume_polling(claim: Claim, request: Request, deps: Deps) -> OutcomeRecord:
    """A crash may have come between 'running' and the first poll: start a fresh poll chain."""
    resume_polling(claim, deps)
    return _record(deps, request, Outcome.STARTED, run_id=claim.run_id, detail="Run invoked")


def resume_polling(claim: Claim, deps: Deps) -> None:
    """A new poll chain for the claim's run; the new token silences any older chain still in flight."""
    run = deps.store.get_run(claim.run_id)
    if run is not None:
        _schedule_poll(_update_claim(claim, deps, lambda c: c.evolve(poll_token=deps.entropy()[:12])), run, deps)


def _schedule_poll(claim: Claim, run: RunRecord, deps: Deps) -> None:
    expected = expected_duration(run.template, deps)
    delay = poll_delay(elapsed=deps.clock() - (run.started_at or deps.clock()), expected=expected,
                       minimum=deps.poll_min_seconds, maximum=deps.poll_max_seconds)
    # For the watchdog. Written onto the record as it is now, not the caller's copy: another poll chain
    # (a duplicate delivery adopts a run another chain is finishing) may have ended it since; an ended
    # run's record must never go back to Running.
    current = deps.store.get_run(run.run_id) or run
    if not current.is_terminal:
        deps.store.put_run(current.evolve(next_poll_at=deps.clock() + timedelta(seconds=delay)))
    deps.queue.send(POLLS_QUEUE, {"template": claim.template, "run_id": claim.run_id, "token": claim.poll_token,
                                  "expected_seconds": expected.total_seconds() if expected else None},
                    delay_seconds=delay)


def expected_duration(template: str, deps: Deps):
    """Median duration of the template's recent successful builds, or None without history."""
    durations = sorted(r.ended_at - r.started_at for r in deps.store.list_runs(template, limit=10)
                       if r.state is RunState.SUCCEEDED and r.started_at and r.ended_at)
    return durations[len(durations) // 2] if durations else None


def _update_claim(claim: Claim, deps: Deps, change) -> Claim:
    """Apply `change` to our claim, re-reading when a coalescing request changed it meanwhile."""
    for _ in range(_ATTEMPTS):
        try:
            return deps.store.replace_claim(change(claim))
        except ConcurrencyError:
            current = deps.store.get_claim(claim.template)
            if current is None or current.run_id != claim.run_id:
                raise
            claim = current
    raise ConcurrencyError(f"claim on {claim.template!r} kept changing")


def _new_claim(request: Request, deps: Deps, *, reasons, request_ids, requested_by, followup=None,
               upstream=None, manual=False) -> Claim:
    now = deps.clock()
    return Claim(template=request.template, run_id=new_run_id(request.template, now, deps.entropy()),
                 request_id=request.request_id, state="starting", claimed_at=now, reasons=tuple(reasons),
                 request_ids=tuple(request_ids), requested_by=tuple(dict.fromkeys(requested_by)), followup=followup,
                 upstream=upstream, manual=manual)


def _record(deps: Deps, request: Request, outcome: Outcome, *, run_id: str | None = None, detail: str = ""):
    return deps.store.add_outcome(OutcomeRecord(request_id=request.request_id, template=request.template,
                                                outcome=outcome, reasons=(request.reason,), at=deps.clock(),
                                                run_id=run_id, detail=detail))
