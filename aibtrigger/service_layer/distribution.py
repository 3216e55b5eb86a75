"""Distribution-only recovery, the service side: a run that failed while distributing waits for the
gallery instead of being recorded Failed at once (domain.distribution decides; this reads and asks).

Called by polls when the backend reports a run ended: the run then stays open (sub-state
Distributing, its `recovery` saying how it stands) and its poll chain, or the reconciler once the
chain's lease has run out, looks again later. Each look reads the run's image versions from the
gallery; the recovery never starts a Run. Without a gallery, or without a version to find, the run
is recorded as the backend reported it.

Where the versions come from, in order: the run's outputs (AIB lists them after a distribution
timeout: the version exists, its replication goes on), the version a SharedImage target names
(`.../versions/1.2.3`), the versions tagged with the run's provenance. Never a guess by date.
"""

from __future__ import annotations

import logging

from aibtrigger.adapters.gallery import GalleryVersions
from aibtrigger.domain import distribution as rules
from aibtrigger.domain.distribution import Recovery
from aibtrigger.domain.model import BuildStatus, RunState, RunSubState
from aibtrigger.domain.records import RunRecord
from aibtrigger.domain.runstate import Verdict
from aibtrigger.errors import first_line
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)
_RUN_TAG = "aibtrigger.run"  # domain.provenance.TAGS["run_id"]


def recover_distribution(
    run: RunRecord, status: BuildStatus, verdict: Verdict, deps: Deps
) -> tuple[Verdict, RunRecord]:
    """A `finished` verdict about a run that failed while distributing becomes `continue` (the run
    waits for the gallery), a late success, or the failure with why it was not recovered. Any other
    verdict, or no gallery to read: returned unchanged."""
    distributing = run.sub_state if run.recovery is None else RunSubState.DISTRIBUTING
    if deps.gallery is None or not rules.failed_in_distribution(verdict.state, verdict.message, distributing):
        return verdict, run
    recovery = run.recovery or Recovery(failed_at=status.end_time or deps.clock())
    recovery, decision = _look(run, recovery, deps)
    if decision.action in (rules.WAIT, rules.RETRY):
        log.warning("run %s failed while distributing; waiting for the gallery: %s", run.run_id, recovery.seen)
        return Verdict("continue"), run.evolve(sub_state=RunSubState.DISTRIBUTING, recovery=recovery)
    if decision.action == rules.SUCCEEDED_LATE:
        log.warning("run %s succeeded late: %s", run.run_id, decision.why)
        said = f"distribution failed, recovered without a rebuild; the backend said: {verdict.message}"
        late = f"Succeeded late: the build failed while distributing, then the gallery finished: {decision.why}"
        ended = run.evolve(recovery=recovery, artifact_ids=recovery.versions, notes=(*run.notes, said[:500]))
        return Verdict("finished", RunState.SUCCEEDED, late), ended
    log.warning("run %s failed while distributing, not recovered: %s", run.run_id, decision.why)
    failed = f"{verdict.message} (distribution not recovered: {decision.why})"
    return Verdict("finished", verdict.state, failed), run.evolve(recovery=recovery)


def _look(run: RunRecord, recovery: Recovery, deps: Deps) -> tuple[Recovery, rules.Decision]:
    """Read the run's versions, decide, and replicate again when that is the decision. Nothing read
    here raises: a fault is waited out like a replication, within the same bound."""
    assert deps.gallery is not None
    try:
        recovery = recovery if recovery.versions else recovery.evolve(versions=_versions_of(run, deps))
        documents, unreadable = {version: deps.gallery.get_version(version) for version in recovery.versions}, None
    except Exception as exc:  # noqa: BLE001 - any fault of a reader
        documents, unreadable = {}, f"{type(exc).__name__}: {first_line(exc)}"[:500]
    decision = rules.decide(
        documents,
        recovery,
        now=deps.clock(),
        patience=deps.distribution_patience,
        max_retries=deps.distribution_retries,
        unreadable=unreadable,
    )
    if decision.action == rules.RETRY:
        return recovery.evolve(retries=recovery.retries + 1, seen=_replicate(decision, deps.gallery)), decision
    return recovery.evolve(seen=decision.why), decision


def _versions_of(run: RunRecord, deps: Deps) -> tuple[str, ...]:
    """The gallery image versions the run made (see the module's docstring for the order)."""
    outputs = deps.backend.run_outputs(run.template)
    found = [o.artifact_id for o in outputs if o.artifact_id and _is_gallery_version(o.artifact_id)]
    if not found:
        targets = _shared_image_targets(run, deps)
        found = [f"{t.gallery_image}/versions/{t.requested_version}" for t in targets if t.requested_version]
        if not found and deps.gallery is not None:
            for target in targets:
                versions = deps.gallery.list_versions(target.gallery_image)
                found += [v["id"] for v in versions if (v.get("tags") or {}).get(_RUN_TAG) == run.run_id]
    return tuple(dict.fromkeys(found))


def _shared_image_targets(run: RunRecord, deps: Deps) -> list:
    from aibtrigger.catalog import SharedImageDistributor

    entry = deps.catalog.by_name.get(run.template)
    definition = entry.definition if entry else None
    return [d for d in (definition.distribute if definition else ()) if isinstance(d, SharedImageDistributor)]


def _is_gallery_version(artifact_id: str) -> bool:
    lowered = artifact_id.lower()
    return "/galleries/" in lowered and "/versions/" in lowered


def _replicate(decision: rules.Decision, gallery: GalleryVersions) -> str:
    """Ask the gallery to replicate each failed version again; returns what was done, for the record.
    A refusal is noted, not raised: the next look sees the replication still failed and counts on."""
    done = []
    for version in decision.retry:
        try:
            gallery.replicate(version)
            done.append(f"replication of {version.rsplit('/', 1)[-1]} asked again")
        except Exception as exc:  # noqa: BLE001 - a refusal is part of what the bound counts
            done.append(f"replication of {version.rsplit('/', 1)[-1]} refused: {type(exc).__name__}: {first_line(exc)}")
    return f"{decision.why}; {'; '.join(done)}"[:1000]
