"""Request -> claim the template -> invoke Run (or adopt our own build) -> record -> first poll.

Safe under redelivery and races: the claim (a conditional write) decides who builds; a request that
finds the template claimed joins the claim's single follow-up; the outcome record makes a
redelivered request a no-op once it has ended. The claim is a lease: if this invocation dies at any
point, the reconciler finds the lease expired and takes the next step (see reconciler.py).
"""

from __future__ import annotations

import logging

from aibtrigger.domain.records import Claim, FollowUp, Outcome, OutcomeRecord, Request, new_run_id
from aibtrigger.errors import ConcurrencyError
from aibtrigger.service_layer.claims import ATTEMPTS, building_parent, send_poll, update_claim
from aibtrigger.service_layer.crashpoints import crashpoint
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.starts import start_claimed

log = logging.getLogger(__name__)


def request_build(request: Request, deps: Deps) -> str:
    """What became of the request: started, coalesced, skipped, or pending (the claim holds it)."""
    entry = deps.catalog.get(request.template)  # UnknownTemplateError: the caller rejects the message
    recorded = deps.store.get_outcome(request.template, request.request_id)
    if recorded is not None:
        log.info("request %s already ended (%s): duplicate delivery", request.request_id, recorded.outcome)
        return recorded.outcome.value
    if entry.policy.paused:
        return _record(deps, request, Outcome.SKIPPED, detail="template is paused").outcome.value
    for _ in range(ATTEMPTS):
        try:
            return _decide(request, deps)
        except ConcurrencyError:
            # Another instance changed the claim between our read and write: look again. A duplicate
            # delivery may find the claim gone because the run it asked for has already ended.
            recorded = deps.store.get_outcome(request.template, request.request_id)
            if recorded is not None:
                return recorded.outcome.value
    raise ConcurrencyError(f"claim on {request.template!r} kept changing; the message will be retried")


def _decide(request: Request, deps: Deps) -> str:
    claim = deps.store.get_claim(request.template)
    if claim is None and (already := _already_built_from(request, deps)):
        return _record(deps, request, Outcome.SKIPPED, detail=already).outcome.value
    if claim is None and (parent := _a_parent_building(request, deps)) is not None:
        # Recorded beside the request's id, not in its place: the same state asked again after this
        # parent's run (by the reconciler, under the same id) must be weighed again, not found "ended".
        deps.store.add_outcome(
            OutcomeRecord(
                request_id=f"{request.request_id}:after:{parent.run_id}"[:250],
                template=request.template,
                outcome=Outcome.SKIPPED,
                reasons=(request.reason,),
                at=deps.clock(),
                detail=f"waits for {parent.template}, building ({parent.run_id}): "
                f"its end plans {request.template} again",
            )
        )
        return Outcome.SKIPPED.value
    if claim is None:
        claim = deps.store.create_claim(
            new_claim(
                request.template,
                deps,
                request_id=request.request_id,
                reasons=(request.reason,),
                request_ids=(request.request_id,),
                requested_by=(request.requested_by,),
                upstream=request.upstream,
                manual=request.manual,
            )
        )
        crashpoint("after_claim")
        return _started_or_pending(claim, request, deps)
    if claim.request_id == request.request_id:  # redelivery of the request that holds the claim
        if claim.state == "starting":
            return _started_or_pending(claim, request, deps)
        # A crash may have come between 'running' and the first poll: a fresh chain (a new token
        # silences the one that may exist) costs a status read at most.
        token = deps.entropy()[:12]
        chain = update_claim(claim, deps, lambda c: c.evolve(poll_token=token))
        send_poll(chain, deps, delay_seconds=deps.poll_min_seconds, expected_seconds=None)
        return _record(deps, request, Outcome.STARTED, run_id=claim.run_id, detail="Run invoked").outcome.value
    waiting = claim.followup.request_ids if claim.followup else ()
    if request.request_id in claim.request_ids + waiting:
        return _record(deps, request, Outcome.COALESCED, run_id=claim.run_id, detail="already coalesced").outcome.value
    deps.store.replace_claim(claim.evolve(followup=(claim.followup or FollowUp()).add(request)))
    return _record(
        deps,
        request,
        Outcome.COALESCED,
        run_id=claim.run_id,
        detail=f"{claim.template} is building ({claim.run_id}): joined its follow-up build",
    ).outcome.value


def _a_parent_building(request: Request, deps: Deps) -> Claim | None:
    """An automatic request finds a parent of its template building: the child would build from the
    stale parent image, then again after it. Skipped; the parent's end plans the child again."""
    if request.manual or request.force:
        return None
    return building_parent(request.template, deps)


def _already_built_from(request: Request, deps: Deps) -> str | None:
    """A request for inputs the template was last built from: a late or repeated signal, whichever path
    it came by (event, sweep, reconciler, a parent's end), or a person asking for nothing new (`--force`
    builds anyway). An automatic request for inputs that last failed is not retried either. A plain
    schedule's refresh is left alone: rebuilding the same inputs is what it asks for (only-if-changed
    is not plain: its tick asked because the inputs had changed)."""
    from aibtrigger.domain.fingerprint import covers, fingerprint, unchanged
    from aibtrigger.domain.planner_index import index_for
    from aibtrigger.service_layer.planning import current_inputs

    facts = index_for(deps.catalog).facts.get(request.template)
    plain_schedule = request.request_id.startswith("schedule-") and not (facts and facts.only_if_changed)
    if request.force or plain_schedule:
        return None

    now = current_inputs(request.template, deps)  # afresh: the last run may be newer than the request
    # The signal saw a newer version than the service observed (its event came before the observation);
    # unless `latest` no longer resolves to it (rolled back meanwhile): then it is not what would be built.
    if request.source_version and request.fingerprint and _still_eligible(facts, request.source_version, deps):
        seen = current_inputs(request.template, deps, seen=request.source_version)
        now = seen if seen and fingerprint(seen) == request.fingerprint else now  # same definition and source only
    if now is None or not now["version"]:
        return None
    summary, same = deps.store.get_summary(request.template), ", ".join(unchanged(now, now))
    if request.manual:  # only what the service observed: a person asking is not held back by a guess
        observed_now = current_inputs(request.template, deps, own_runs=False)
        return (
            (
                f"nothing changed since the last successful build (unchanged: {same}); `aibtrigger request "
                f"{request.template} --force` builds anyway"
            )
            if summary.last_success_inputs == observed_now
            else None
        )
    if summary.consecutive_failures and covers(summary.last_failed_inputs, now):
        return f"the last build from these inputs ({same}) failed: not retried by itself"
    if covers(summary.last_success_inputs, now):
        return f"already built from these inputs ({same}), fingerprint {fingerprint(now)}"
    return None


def _still_eligible(facts, version: str, deps: Deps) -> bool:
    """A gallery version a signal saw may since have been excluded from `latest` (a rollback)."""
    if facts is None or not facts.gallery_image:
        return True
    found = deps.sources.get_version(f"{facts.gallery_image}/versions/{version}")
    return found is not None and not found.get("excludeFromLatest")


def _started_or_pending(claim: Claim, request: Request, deps: Deps) -> str:
    started = start_claimed(claim, deps)
    if started is None:
        return "pending"  # the claim keeps the request; its outcome is written when its build ends
    return _record(deps, request, Outcome.STARTED, run_id=claim.run_id, detail=started).outcome.value


def new_claim(
    template: str,
    deps: Deps,
    *,
    request_id: str,
    reasons,
    request_ids,
    requested_by,
    upstream=None,
    manual=False,
    etag: str | None = None,
) -> Claim:
    now = deps.clock()
    return Claim(
        template=template,
        run_id=new_run_id(template, now, deps.entropy()),
        request_id=request_id,
        state="starting",
        claimed_at=now,
        reasons=tuple(reasons),
        request_ids=tuple(request_ids),
        requested_by=tuple(dict.fromkeys(requested_by)),
        upstream=upstream,
        manual=manual,
        lease_until=now + deps.lease_margin,
        etag=etag,
    )


def _record(
    deps: Deps, request: Request, outcome: Outcome, *, run_id: str | None = None, detail: str = ""
) -> OutcomeRecord:
    return deps.store.add_outcome(
        OutcomeRecord(
            request_id=request.request_id,
            template=request.template,
            outcome=outcome,
            reasons=(request.reason,),
            at=deps.clock(),
            run_id=run_id,
            detail=detail,
        )
    )
