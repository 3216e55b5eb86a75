"""The end of a run: publish its result, answer every request it served, then release the template
or hand it to the follow-up that waits (in this invocation: no message to lose on the way)."""

from __future__ import annotations

import logging

from aibtrigger.domain.events import build_finished
from aibtrigger.domain.model import RunState
from aibtrigger.domain.records import Claim, FollowUp, Outcome, OutcomeRecord, RunRecord, run_for_claim
from aibtrigger.errors import ConcurrencyError
from aibtrigger.service_layer.claims import ATTEMPTS
from aibtrigger.service_layer.crashpoints import crashpoint
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)


def finish_run(claim: Claim, run: RunRecord, deps: Deps) -> str:
    """Publish (once: the mark is a conditional write) and release. Idempotent: any chain, or the
    reconciler, may repeat it after a crash. A gated template's success is staged first: its versions
    then cascade only once promoted (promotions.py)."""
    from aibtrigger.service_layer.promotions import may_cascade, stage_if_gated

    run = stage_if_gated(run, deps)
    if not run.published:
        deps.publisher.publish(build_finished(run, now=deps.clock()))
        crashpoint("after_publish")
        try:
            run = deps.store.save_run(run.evolve(published=True))
        except ConcurrencyError:  # another chain marked it first; it published the same event id
            run = deps.store.get_run(run.run_id) or run
    crashpoint("before_release")
    if run.artifact_ids and may_cascade(run):
        from aibtrigger.service_layer.planning import note_outputs

        note_outputs(run, deps)
    release(claim, run, deps)
    _settle_children(run, deps)
    return "finished"


def _settle_children(run: RunRecord, deps: Deps) -> None:
    """An accelerator: children waiting for this run are planned again now. A fault here is logged,
    never raised: the reconciler owes them the same build a minute later."""
    from aibtrigger.service_layer.planning import settle_children

    try:
        settle_children(run, deps)
    except Exception as exc:  # noqa: BLE001 - the run is finished and released whatever happens here
        log.warning("children of %s not planned after %s (%s): the reconciler does it", run.template, run.run_id, exc)


def release(claim: Claim, run: RunRecord, deps: Deps) -> None:
    """Every request this run served gets its outcome first (a crash may have come before the request
    handler wrote it): a late redelivery of one of them must not build the template again. A run that
    never started served nobody: give_up_start answered its requests."""
    if run.started_at is not None:
        for request_id in claim.request_ids:
            deps.store.add_outcome(
                OutcomeRecord(
                    request_id=request_id,
                    template=claim.template,
                    outcome=Outcome.STARTED,
                    reasons=(),
                    at=deps.clock(),
                    run_id=run.run_id,
                    detail="served by this run",
                )
            )
    for _ in range(ATTEMPTS):
        try:
            if claim.followup is None:
                deps.store.delete_claim(claim)
            else:
                _hand_off(claim, run, deps)
            return
        except ConcurrencyError:  # a request joined the follow-up meanwhile: look again
            current = deps.store.get_claim(claim.template)
            if current is None or current.run_id != run.run_id:
                return
            claim = current
    raise ConcurrencyError(f"claim on {run.template!r} kept changing while being released")


def _hand_off(claim: Claim, run: RunRecord, deps: Deps) -> None:
    """The follow-up takes the claim over in one conditional write, then starts. Requests that only
    carried an automatic signal or a schedule tick are weighed again first: the run that just ended
    may have served them (a sweep and the reconciler both asked for the same new version; a tick came
    while a build that had just started was running: that build is the fresh image the tick asks for)."""
    from aibtrigger.service_layer.requests import new_claim
    from aibtrigger.service_layer.starts import start_claimed

    waiting = claim.followup
    assert waiting is not None  # finish_run hands off only a claim with a follow-up
    hand_off_id = f"{run.run_id}+followup"
    unwanted = (
        None
        if _asked_by_a_person(waiting) or waiting.force
        else _served(claim.template, deps)
        if any(r.startswith("schedule-") for r in waiting.request_ids)
        else _no_longer_wanted(claim.template, deps)
    )
    if unwanted is not None:
        deps.store.delete_claim(claim)
        deps.store.add_outcome(
            OutcomeRecord(
                request_id=hand_off_id,
                template=claim.template,
                outcome=Outcome.SKIPPED,
                reasons=waiting.reasons,
                at=deps.clock(),
                run_id=run.run_id,
                detail=f"follow-up not needed after {run.run_id}: {unwanted}",
            )
        )
        return
    successor = deps.store.replace_claim(
        new_claim(
            claim.template,
            deps,
            request_id=hand_off_id,
            reasons=waiting.reasons,
            request_ids=waiting.request_ids + (hand_off_id,),  # names the run it follows, in its record
            requested_by=waiting.requested_by,
            upstream=waiting.upstream,
            manual=waiting.manual,
            etag=claim.etag,
        )
    )
    try:
        start_claimed(successor, deps)
    except Exception as exc:  # noqa: BLE001 - the successor's lease brings the reconciler to it
        log.warning(
            "follow-up %s of %s not started yet (%s): the reconciler resumes it", successor.run_id, claim.template, exc
        )


def _asked_by_a_person(followup: FollowUp) -> bool:
    from aibtrigger.service_layer.planning import is_automatic_request

    return followup.manual or not all(
        is_automatic_request(r) or r.startswith("schedule-") for r in followup.request_ids
    )


def _served(template: str, deps: Deps) -> str | None:
    """A tick that came while a build ran: served when that build used the inputs there are now (a
    fresh image), or failed with them (not retried by itself); else the tick still builds."""
    from aibtrigger.domain.fingerprint import covers
    from aibtrigger.service_layer.planning import current_inputs

    now, summary = current_inputs(template, deps), deps.store.get_summary(template)
    if now and summary.consecutive_failures and covers(summary.last_failed_inputs, now):
        return "the build that just ended failed with the same inputs: not retried by itself"
    if now and covers(summary.last_success_inputs, now):  # a failure since, with other inputs, changes nothing
        return "the build that just ended used the same inputs: the image is as fresh as the tick asks"
    return None


def _no_longer_wanted(template: str, deps: Deps) -> str | None:
    """The planner's reasons when it would not build `template` now, else None."""
    from aibtrigger.domain.planner_types import BUILD
    from aibtrigger.service_layer.planning import decision_for

    decision = decision_for(template, deps)
    return None if decision is None or decision.action == BUILD else "; ".join(decision.reasons)


def give_up_start(claim: Claim, deps: Deps, why: str) -> None:
    """A start that could not happen within its bound: a run that never started says why, and the
    template moves on. A person's request is answered 'rejected' with the reason; the service's own
    requests keep their ids free (their rejection is recorded beside), so what the planner still owes
    is asked for again by the reconciler once the backend takes Runs again."""
    now = deps.clock()
    run = deps.store.get_run(claim.run_id) or run_for_claim(claim)
    if not run.is_terminal:
        run = _save_terminal(run.evolve(state=RunState.FAILED, ended_at=now, message=why[:2000]), deps)
    from aibtrigger.service_layer.planning import is_service_request

    for request_id in claim.request_ids:
        deps.store.add_outcome(
            OutcomeRecord(
                request_id=request_id
                if not is_service_request(request_id)
                else f"{request_id}:not-started:{run.run_id}",
                template=claim.template,
                outcome=Outcome.REJECTED,
                reasons=(),
                at=now,
                run_id=run.run_id,
                detail=why,
            )
        )
    log.error("run %s of %s given up: %s", run.run_id, run.template, why)
    finish_run(claim, run, deps)


def abandon(claim: Claim, deps: Deps, why: str) -> None:
    """The template left the catalog: its run ends (as the backend reports it, if it still can; else
    Failed), published; every request the claim holds, its follow-up's too, is answered; the claim goes.
    Never a hand-off: nothing outside the catalog is ever started."""
    for _ in range(ATTEMPTS):
        current = deps.store.get_claim(claim.template)
        if current is None:
            return
        claim = current
        run = deps.store.get_run(claim.run_id)
        if run is not None and not run.is_terminal:
            run = _save_terminal(_ended_outside_catalog(run, deps, why), deps)
        if run is not None and not run.published:
            deps.publisher.publish(build_finished(run, now=deps.clock()))
            try:
                deps.store.save_run(run.evolve(published=True))
            except ConcurrencyError:
                pass  # marked by another chain
        served = claim.request_ids if run is not None and run.started_at else ()
        waiting = (claim.followup.request_ids if claim.followup else ()) + tuple(
            r for r in claim.request_ids if r not in served
        )
        for request_id in served:
            _answer(deps, claim, request_id, Outcome.STARTED, "served by this run", run)
        for request_id in waiting:
            _answer(deps, claim, request_id, Outcome.SKIPPED, f"not built: {why}", run)
        try:
            deps.store.delete_claim(claim)
            return
        except ConcurrencyError:
            continue
    raise ConcurrencyError(f"claim on {claim.template!r} kept changing while being released")


def _ended_outside_catalog(run: RunRecord, deps: Deps, why: str) -> RunRecord:
    """The backend's own verdict when it can still tell (a build that succeeded stays a success)."""
    from aibtrigger.domain.runstate import belongs_to_run

    try:
        status = deps.backend.get_status(run.template)
    except Exception:  # noqa: BLE001 - a backend that no longer knows the template: Failed, with why
        status = None
    if (
        status is not None
        and status.run_state is not None
        and status.run_state.is_terminal
        and run.started_at is not None
        and belongs_to_run(status, run.started_at)
    ):
        return run.evolve(
            state=status.run_state,
            sub_state=None,
            ended_at=status.end_time or deps.clock(),
            message=f"{status.message}; {why}".strip("; "),
        )
    return run.evolve(state=RunState.FAILED, sub_state=None, ended_at=deps.clock(), message=why)


def _answer(deps: Deps, claim: Claim, request_id: str, outcome: Outcome, detail: str, run: RunRecord | None) -> None:
    deps.store.add_outcome(
        OutcomeRecord(
            request_id=request_id,
            template=claim.template,
            outcome=outcome,
            reasons=(),
            at=deps.clock(),
            run_id=run.run_id if run else None,
            detail=detail,
        )
    )


def _save_terminal(run: RunRecord, deps: Deps) -> RunRecord:
    from aibtrigger.service_layer.polls import save_terminal

    return save_terminal(run, deps)
