"""A new image version reaches `latest` only when it has earned it: stage, check, promote, reject, roll back.

A template whose `policy.promotion.mode` is not `immediate` publishes its versions excluded from
`latest` (its distributor says so; the catalog refuses it otherwise). Its successful run is then
*staged* (RunRecord.promotion): the version is tagged, `aibtrigger.version.staged` published, and no
child cascades from it. From there:

- after_checks: the reconciler's pass runs the post-build checks (each result recorded as it comes,
  so a crash repeats only the unfinished ones), then promotes once they passed and the soak is over;
- manual: a person promotes (`aibtrigger promote RUN_ID`, POST /api/runs/{id}/promote);
- a failing check leaves the version staged and publishes `aibtrigger.version.rejected` once;
  a person may still promote it, or reject it for good;
- rollback excludes the current latest again: `latest` falls back to the previous promoted version,
  which the children are rebuilt from.

Promotion changes the gallery first, then the record: a crash in between is repaired by running the
same command again (every step is idempotent), and the gallery's own write event already cascades.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aibtrigger.domain.model import RunState
from aibtrigger.domain.promotion import (
    PROMOTED,
    PROMOTION_TAG,
    REJECTED,
    ROLLED_BACK,
    STAGED,
    Step,
    next_step,
    staged,
    with_action,
    with_check,
)
from aibtrigger.domain.records import RunRecord
from aibtrigger.errors import AibTriggerError, ConcurrencyError
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)
RECENT_RUNS = 20  # a staged run older than a template's last 20 runs is left to a person
_STAGEABLE = (RunState.SUCCEEDED, RunState.PARTIALLY_SUCCEEDED)  # a partial success distributed versions too


class PromotionError(AibTriggerError):
    """A promotion command that cannot be carried out; the message says why and what would."""


@dataclass(frozen=True)
class Done:
    """What a command did (`subject`: the run, or the template rolled back); `changed` False when it
    found the work already done (a repeat)."""

    subject: str
    state: str
    changed: bool
    detail: str


# --- the end of a run ------------------------------------------------------------------------------
def stage_if_gated(run: RunRecord, deps: Deps) -> RunRecord:
    """A successful run of a gated template is staged (once: repeats find it staged already)."""
    entry = deps.catalog.by_name.get(run.template)
    if run.state not in _STAGEABLE or run.promotion is not None or entry is None:
        return run
    if not entry.policy.promotion.stages or not versions_of(run):
        return run
    now = deps.clock()
    try:
        run = deps.store.save_run(run.evolve(promotion=staged(now)))
    except ConcurrencyError:  # another chain staged it first
        return deps.store.get_run(run.run_id) or run
    _tag(run, STAGED, deps, must=False)
    _publish(run, "staged", deps, by="aibtrigger", why=f"promotion mode {entry.policy.promotion.mode}")
    return run


def may_cascade(run: RunRecord) -> bool:
    """Children build from a run's versions only once they are `latest`: at once, or when promoted."""
    return run.promotion is None or run.promotion.get("state") == PROMOTED


# --- commands ----------------------------------------------------------------------------------------
def promote(run_id: str, deps: Deps, *, by: str, why: str) -> Done:
    run = _staged_run(run_id, deps, action="promote", allowed=(STAGED, ROLLED_BACK, PROMOTED))
    if _record_of(run).get("state") == PROMOTED:
        return Done(run.run_id, PROMOTED, False, "already promoted")
    for version_id in versions_of(run):  # the gallery first: a crash after it is repaired by a repeat
        _change(version_id, deps, exclude_from_latest=False, tags={PROMOTION_TAG: PROMOTED})
    run = _record(run, "promote", PROMOTED, deps, by=by, why=why)
    _publish(run, "promoted", deps, by=by, why=why)
    _cascade(run, deps)
    return Done(run.run_id, PROMOTED, True, f"{', '.join(versions_of(run))} may now be `latest`")


def reject(run_id: str, deps: Deps, *, by: str, why: str) -> Done:
    run = _staged_run(run_id, deps, action="reject", allowed=(STAGED, REJECTED))
    if _record_of(run).get("state") == REJECTED:
        return Done(run.run_id, REJECTED, False, "already rejected")
    _tag(run, REJECTED, deps, must=True)
    run = _record(run, "reject", REJECTED, deps, by=by, why=why)
    _publish(run, "rejected", deps, by=by, why=why)
    return Done(run.run_id, REJECTED, True, "stays excluded from `latest`, never promoted")


def rollback(template: str, deps: Deps, *, by: str, why: str) -> Done:
    """The template's current `latest` is excluded again; `latest` falls back to the previous promoted
    version and the children are rebuilt from it (forced: their inputs look older, not newer)."""
    from aibtrigger.service_layer.rollbacks import fall_back

    return fall_back(template, deps, by=by, why=why)


# --- the reconciler's step: checks and automatic promotion -------------------------------------------
def advance_staged(deps: Deps) -> list[str]:
    """Per gated template, its recent staged runs: run pending checks, announce a failed one, promote
    when due. One template's fault never stops the others (the reconciler guards each call)."""
    done, checked = [], False
    for entry in deps.catalog.templates:
        promotion = entry.policy.promotion
        if not promotion.stages or (promotion.mode == "manual" and not promotion.checks):
            continue
        for run in deps.store.list_runs(entry.name, limit=RECENT_RUNS):
            step = next_step(promotion, run.promotion, deps.clock())
            if step.kind == "check" and checked:
                continue  # one run's checks per pass: the pass stays well within the function timeout
            checked = checked or step.kind == "check"
            line = _take(step, run, entry, deps)
            if line:
                done.append(f"{entry.name}: {run.run_id}: {line}")
    return done


def _take(step: Step, run: RunRecord, entry, deps: Deps) -> str | None:
    from aibtrigger.domain.promotion import check_label

    if step.kind == "check":
        from aibtrigger.adapters.checks import run_check

        checks = {check_label(i, c): c for i, c in enumerate(entry.policy.promotion.checks)}
        for label in step.labels:
            passed, detail = run_check(checks[label], run, deps)
            run = _save(run, with_check(_record_of(run), label, passed=passed, detail=detail, now=deps.clock()), deps)
        return f"checks run: {', '.join(step.labels)}"
    if step.kind == "hold" and step.why.startswith("a check failed") and not _announced(run):
        run = _record(run, "checks-failed", STAGED, deps, by="aibtrigger", why=step.why)
        _publish(run, "rejected", deps, by="aibtrigger", why=step.why)
        return f"stays staged: {step.why}"
    if step.kind == "promote":
        promote(run.run_id, deps, by="aibtrigger (after_checks)", why=step.why)
        return f"promoted: {step.why}"
    return None


def _announced(run: RunRecord) -> bool:
    return any(a.get("action") == "checks-failed" for a in _record_of(run).get("actions", []))


def _record_of(run: RunRecord) -> dict:
    return run.promotion or {}


# --- helpers -----------------------------------------------------------------------------------------
def versions_of(run: RunRecord) -> list[str]:
    return [a for a in run.artifact_ids if "/versions/" in a.lower()]


def _staged_run(run_id: str, deps: Deps, *, action: str, allowed: tuple[str, ...]) -> RunRecord:
    run = deps.store.get_run(run_id)
    if run is None:
        raise PromotionError(f"no run {run_id!r}: `aibtrigger runs TEMPLATE` lists them")
    if run.promotion is None:
        raise PromotionError(
            f"run {run_id} was not staged (its template promotes immediately, or the run did not succeed "
            f"with gallery versions): nothing to {action}"
        )
    state = run.promotion.get("state")
    if state not in allowed:
        raise PromotionError(f"run {run_id} is {state}: it cannot be {action}d (allowed from: {', '.join(allowed)})")
    return run


def _gallery(deps: Deps):
    if deps.gallery is None:
        raise PromotionError("this deployment has no gallery access configured: versions cannot be changed")
    return deps.gallery


def _change(version_id: str, deps: Deps, **change) -> None:
    try:
        _gallery(deps).update_version(version_id, **change)
    except LookupError:
        raise PromotionError(f"{version_id} is no longer in the gallery: nothing to change") from None


def _tag(run: RunRecord, state: str, deps: Deps, *, must: bool) -> None:
    """Write the promotion state on the versions, so the gallery alone tells it (domain.promotion)."""
    for version_id in versions_of(run):
        try:
            _change(version_id, deps, tags={PROMOTION_TAG: state})
        except Exception as exc:  # noqa: BLE001 - staging's tag is a courtesy; the record is the truth
            if must:
                raise
            log.warning("could not tag %s %s (%s): the run record keeps its state", version_id, state, exc)


def _record(run: RunRecord, action: str, state: str, deps: Deps, *, by: str, why: str) -> RunRecord:
    return _save(run, with_action(_record_of(run), action, state, by=by, why=why, now=deps.clock()), deps)


def _save(run: RunRecord, promotion: dict, deps: Deps) -> RunRecord:
    """Conditional: a concurrent change (another command, the reconciler) makes this one fail loudly."""
    return deps.store.save_run(run.evolve(promotion=promotion))


def _publish(run: RunRecord, what: str, deps: Deps, *, by: str, why: str) -> None:
    from aibtrigger.domain.events import version_changed

    deps.publisher.publish(version_changed(run, what, by=by, why=why, now=deps.clock()))


def _cascade(run: RunRecord, deps: Deps) -> None:
    """The promoted versions are what `latest` resolves to now: observed, and their children planned,
    under the same request ids their gallery write events use (whichever comes first builds once)."""
    from aibtrigger.service_layer.planning import VersionNotReady, gallery_version_written, note_outputs

    actions = _record_of(run).get("actions", [])
    again = any(a.get("action") == "rollback" for a in actions)
    note_outputs(run, deps)
    for version_id in versions_of(run):
        # Promoted again after a rollback: a new signal, or the first promotion's outcomes answer it.
        signal_id = f"promoted:{run.run_id}:{len(actions)}:{version_id}" if again else None
        try:
            gallery_version_written(version_id, deps, signal_id=signal_id)
        except VersionNotReady:
            log.warning("%s is not provisioned: its write event plans the children", version_id)
