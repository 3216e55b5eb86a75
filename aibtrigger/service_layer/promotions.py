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
    """A successful run of a gated template is staged: recorded first, then its versions are excluded
    from `latest` (already so when the distributor said it; a template in Azure that drifted from the
    catalog is corrected here) and tagged, then `aibtrigger.version.staged` is published. A repeat
    (finish_run after a crash) finishes what the last attempt did not: the record marks it done."""
    entry = deps.catalog.by_name.get(run.template)
    if run.state not in _STAGEABLE or entry is None or not entry.policy.promotion.stages or not versions_of(run):
        return run
    if run.promotion is None:
        try:
            run = deps.store.save_run(run.evolve(promotion=staged(deps.clock())))
        except ConcurrencyError:  # another chain staged it first: finish what it may not have
            run = deps.store.get_run(run.run_id) or run
    if _record_of(run).get("state") != STAGED or _record_of(run).get("announced"):
        return run
    for version_id in versions_of(run):
        try:
            _change(version_id, deps, exclude_from_latest=True, tags={PROMOTION_TAG: STAGED})
        except Exception as exc:  # noqa: BLE001 - the record is the truth; the reconciler's pass retries
            log.warning("staged %s not excluded or tagged yet (%s): retried at the next pass", version_id, exc)
            return run
    _publish(run, "staged", deps, by="aibtrigger", why=f"promotion mode {entry.policy.promotion.mode}")
    return _save(run, {**_record_of(run), "announced": True}, deps)


def may_cascade(run: RunRecord) -> bool:
    """Children build from a run's versions only once they are `latest`: at once, or when promoted."""
    return run.promotion is None or run.promotion.get("state") == PROMOTED


# --- commands ----------------------------------------------------------------------------------------
def promote(run_id: str, deps: Deps, *, by: str, why: str) -> Done:
    """The gallery first, then the record: a crash in between is repaired by a repeat, which (like any
    repeat) also publishes and cascades again, both idempotent (same event id, same request ids)."""
    run = _staged_run(run_id, deps, action="promote", allowed=(STAGED, ROLLED_BACK, PROMOTED))
    repeat = _record_of(run).get("state") == PROMOTED
    for version_id in versions_of(run):
        _change(version_id, deps, exclude_from_latest=False, tags={PROMOTION_TAG: PROMOTED})
    if not repeat:
        run = _record(run, "promote", PROMOTED, deps, by=by, why=why)
    _publish(run, "promoted", deps, by=by, why=why)
    _cascade(run, deps)
    if repeat:
        return Done(run.run_id, PROMOTED, False, "already promoted (its event and children's requests sent again)")
    return Done(run.run_id, PROMOTED, True, f"{', '.join(versions_of(run))} may now be `latest`")


def reject(run_id: str, deps: Deps, *, by: str, why: str) -> Done:
    """The record first (so no automatic promotion can follow, whatever happens next), then the gallery:
    excluded from `latest` (it may have been promoted by an interrupted command) and tagged."""
    run = _staged_run(run_id, deps, action="reject", allowed=(STAGED, REJECTED))
    repeat = _record_of(run).get("state") == REJECTED
    if not repeat:
        run = _record(run, "reject", REJECTED, deps, by=by, why=why)
    for version_id in versions_of(run):
        _change(version_id, deps, exclude_from_latest=True, tags={PROMOTION_TAG: REJECTED})
    _publish(run, "rejected", deps, by=by, why=why)
    return Done(run.run_id, REJECTED, not repeat, "excluded from `latest`, never promoted")


def rollback(template: str, deps: Deps, *, by: str, why: str, version: str | None = None) -> Done:
    """The template's current `latest` (or `version`, which makes a repeat safe) is excluded again;
    `latest` falls back to the previous version and the children are rebuilt from it (rollbacks.py)."""
    from aibtrigger.service_layer.rollbacks import fall_back

    return fall_back(template, deps, by=by, why=why, version=version)


# --- the reconciler's step: checks and automatic promotion -------------------------------------------
def advance_staged(deps: Deps) -> list[str]:
    """Per gated template, its recent staged runs: complete an interrupted staging, run pending checks,
    announce a failed one, promote when due. Each run's step is guarded: one fault stops no other."""
    done, checked = [], False
    for entry in deps.catalog.templates:
        if not entry.policy.promotion.stages:
            continue
        for run in deps.store.list_runs(entry.name, limit=RECENT_RUNS):
            if _record_of(run).get("state") != STAGED:
                continue
            step = next_step(entry.policy.promotion, run.promotion, deps.clock())
            if step.kind == "check" and checked:
                continue  # one run's checks per pass: the pass stays well within the function timeout
            checked = checked or step.kind == "check"
            try:
                line = _take(step, run, entry, deps)
            except Exception as exc:  # noqa: BLE001 - one run's fault never stops the others' promotion
                log.warning("promotion step of %s failed: %s", run.run_id, exc)
                line = f"error: {type(exc).__name__}: {exc}"[:500]
            if line:
                done.append(f"{entry.name}: {run.run_id}: {line}")
    return done


def _take(step: Step, run: RunRecord, entry, deps: Deps) -> str | None:
    from aibtrigger.domain.promotion import check_label

    if not _record_of(run).get("announced"):  # staging was interrupted (a crash, a gallery fault)
        stage_if_gated(run, deps)
        return "staging completed"
    if step.kind == "check":
        from aibtrigger.adapters.checks import run_check

        checks = {check_label(i, c): c for i, c in enumerate(entry.policy.promotion.checks)}
        for label in step.labels:
            passed, detail = run_check(checks[label], run, deps)
            run = _save(run, with_check(_record_of(run), label, passed=passed, detail=detail, now=deps.clock()), deps)
        return f"checks run: {', '.join(step.labels)}"
    if step.kind == "hold" and step.why.startswith("a check failed") and not _failure_announced(run):
        run = _record(run, "checks-failed", STAGED, deps, by="aibtrigger", why=step.why)
        _publish(run, "rejected", deps, by="aibtrigger", why=step.why)
        return f"stays staged: {step.why}"
    if step.kind == "promote":
        if (person := _decided_in_the_gallery(run, deps)) is not None:
            return f"not promoted: {person}"
        promote(run.run_id, deps, by="aibtrigger (after_checks)", why=step.why)
        return f"promoted: {step.why}"
    return None


def _decided_in_the_gallery(run: RunRecord, deps: Deps) -> str | None:
    """A version tagged rejected or rolled back while the record still says staged: a person's command
    was interrupted before its record. Never promoted automatically over it."""
    for version_id in versions_of(run):
        found = deps.sources.get_version(version_id) or {}
        tagged = (found.get("tags") or {}).get(PROMOTION_TAG)
        if tagged in (REJECTED, ROLLED_BACK):
            return f"{version_id} is tagged {tagged}: a person decided; `aibtrigger promote` overrides"
    return None


def _failure_announced(run: RunRecord) -> bool:
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
