"""The reconciler: the one place where state converges. Every minute (and on `aibtrigger reconcile`),
for each template on its own, compare what should be with what is and take the one idempotent step
that closes the gap. Messages and events only make this faster; correctness never waits for them.

What is, per claim (its lease still running means its own chain is alive: leave it):
- its template left the catalog: the run ends Failed (published), the claim is released;
- 'starting' and the lease has run out: start it now (or wait again, or give up after the bound);
- 'running' and the lease has run out: take the chain over (a new token silences the old one) and
  advance the run one step now: poll it, or finish it (collect, record, publish, release or hand off).
Staged versions (promotions.py): checks run, a failure announced, promotion when due.
What should be: every template the planner would build now (a sweep) for a newer source version
than its last successful build used, or for a due schedule tick, that nobody is building. A template
never built by the service is not built by the reconciler alone: a first build is asked for by a
person, a schedule or a source change, so deploying the service does not rebuild every image at once.

Bounded: at most `max_actions` steps per pass, whatever the catalog's size; the rest wait a minute.
Reads per pass: claims and summaries once each, observed sources twice (versions, then when they
were seen), a page per 1,000 rows; then, per step taken, the records that step needs.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime

from aibtrigger.domain.planner_types import BUILD
from aibtrigger.domain.records import Claim, Request
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)
MAX_ACTIONS = 50


def reconcile(deps: Deps, *, max_actions: int = MAX_ACTIONS) -> list[str]:
    """One pass. Returns a line per step taken; one template's error never stops the others."""
    now = deps.clock()
    done: list[str] = []
    claims = _guarded("listing claims", lambda: deps.store.list_claims(), done)
    if claims is None:
        return done  # without the claims, what is owed cannot be told from what is being built
    # The longest overdue first: a claim that keeps failing is pushed back by its own backoff.
    claims.sort(key=lambda c: c.lease_until or datetime.min.replace(tzinfo=UTC))
    for claim in claims:
        if len(done) >= max_actions:
            break
        line = _guarded(claim.template, lambda: _repair(claim, deps, now), done)  # noqa: B023 (_guarded calls it at once)
        if line:
            done.append(line)
    claimed = {claim.template for claim in claims}
    decisions = _guarded("planning", lambda: _wanted(deps, claims), done) or []
    for decision in decisions:
        if len(done) >= max_actions:
            break
        if decision.template not in claimed:
            line = _guarded(decision.template, lambda: _request(decision, deps), done)  # noqa: B023 (_guarded calls it at once)
            if line:
                done.append(line)
    if len(done) < max_actions:  # staged versions: their checks, their announcement, their promotion when due
        from aibtrigger.service_layer.promotions import advance_staged

        done += _guarded("promotions", lambda: advance_staged(deps), done) or []
    for line in done:
        log.warning("reconciler: %s", line)
    return done


def _repair(claim: Claim, deps: Deps, now: datetime) -> str | None:
    from aibtrigger.service_layer.finish import abandon
    from aibtrigger.service_layer.starts import defer_after_fault, start_claimed

    if claim.template not in deps.catalog:
        abandon(claim, deps, "its template was removed from the catalog while it was building")
        return f"{claim.template}: released (template no longer in the catalog)"
    if not claim.lease_expired(now):
        return None
    if claim.state == "starting":
        try:
            started = start_claimed(claim, deps)
        except Exception as exc:
            defer_after_fault(claim, deps, exc)
            raise
        return f"{claim.template}: start of {claim.run_id} resumed: {started or 'waiting, or given up'}"
    return f"{claim.template}: {claim.run_id} taken over from its chain: {_take_over(claim, deps)}"


def _take_over(claim: Claim, deps: Deps) -> str:
    from aibtrigger.service_layer.claims import StaleChainError, lease_for, update_claim
    from aibtrigger.service_layer.polls import advance_run, give_up_unreadable

    run = deps.store.get_run(claim.run_id)
    if run is None:  # cannot happen by the order of writes; if it does, starting again is safe (adopts)
        return _restart(claim, deps)
    token, now = deps.entropy()[:12], deps.clock()

    def take(current: Claim) -> Claim:
        if not current.lease_expired(now):  # its chain stepped in meanwhile: it is alive after all
            raise StaleChainError(f"the chain of {current.run_id} renewed its lease")
        return current.evolve(poll_token=token, lease_until=lease_for(deps, 0))

    try:
        ours = update_claim(claim, deps, take)
    except StaleChainError:
        return "left to its chain (the lease was renewed)"
    try:
        return advance_run(ours, run, deps)
    except Exception as exc:
        give_up_unreadable(ours, run, deps, exc)  # past the build's timeout: recorded, not retried for ever
        raise


def _restart(claim: Claim, deps: Deps) -> str:
    from aibtrigger.service_layer.claims import update_claim
    from aibtrigger.service_layer.starts import start_claimed

    starting = update_claim(claim, deps, lambda c: c.evolve(state="starting"))
    return start_claimed(starting, deps) or "waiting"


def _wanted(deps: Deps, claims: list[Claim]):
    """Builds owed for longer than the events get to ask for them (`lease_margin`): the reconciler
    catches what an edge missed, it does not race the edges (their requests carry the cascade)."""
    from aibtrigger.domain.planner_index import index_for
    from aibtrigger.service_layer.planning import dry_run, observed_since

    now, seen_at, facts = deps.clock(), observed_since(deps), index_for(deps.catalog).facts
    wanted = []
    for decision in dry_run(deps, claims=claims):
        if decision.action != BUILD:
            continue
        key = facts[decision.template].key
        since = _owed_since(decision.evidence, None if key is None else seen_at.get(key))
        if since is not None and now - since >= deps.lease_margin:
            wanted.append(decision)
    return wanted


def _owed_since(evidence: dict, seen_at: datetime | None) -> datetime | None:
    """Since when a build is owed: a due tick since the tick; inputs that changed since the last success
    (a newer source version, a source switched or a definition changed in the catalog, a parent's new
    version for a child never built) since that version was seen (long ago if it does not say).
    None: not owed (a first build of a root template, say)."""
    if evidence.get("tick") is not None:
        return datetime.fromisoformat(str(evidence["tick"]))
    if evidence.get("owed"):
        return seen_at or datetime.min.replace(tzinfo=UTC)
    return None


def _request(decision, deps: Deps) -> str | None:
    """Ask for the build through the same door as every request. A due tick's request has the id the
    schedule check gives it (whichever acts first, the tick builds once); any other names the desired
    state, so a repeated pass (or a crash mid-way) finds the same request instead of building twice."""
    from aibtrigger.service_layer.planning import signal_request_id
    from aibtrigger.service_layer.requests import request_build

    tick = decision.evidence.get("tick")
    if tick is not None:
        request_id = signal_request_id("schedule", f"schedule:{tick}", decision.template)
    else:
        # With the run it follows: the same state again after other runs (a source switched back) is new.
        after = deps.store.get_summary(decision.template).last_counted_run
        signature = repr((decision.reasons, sorted(decision.evidence.items()), after))
        request_id = f"reconcile-{hashlib.sha1(signature.encode()).hexdigest()[:16]}-{decision.template}"
    if deps.store.get_outcome(decision.template, request_id) is not None:
        return None  # asked for this very state before: its outcome stands
    request = Request(
        request_id=request_id,
        template=decision.template,
        reason="; ".join(decision.reasons)[:1000],
        requested_by="aibtrigger:reconciler",
        upstream=decision.evidence.get("upstream"),
        manual=False,
        fingerprint=decision.evidence.get("fingerprint"),
        source_version=(decision.evidence.get("inputs") or {}).get("version"),
    )
    result = request_build(request, deps)
    if tick is not None:
        deps.store.set_schedule_tick(decision.template, datetime.fromisoformat(str(tick)))
    return f"{decision.template}: build requested ({result}): {request.reason}" if result != "skipped" else None


def _guarded(what: str, step, done: list[str]):
    try:
        return step()
    except Exception as exc:  # noqa: BLE001 - one template's fault must not skip the others
        log.exception("reconciler: %s failed", what)
        done.append(f"{what}: error: {type(exc).__name__}: {exc}"[:500])
        return None
