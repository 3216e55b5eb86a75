"""Signals -> planner -> build requests. Every decision is recorded with its reasons and signal.

- sweep_sources: one marketplace read per distinct platform source, however many templates share
  it, with bounded concurrency; a newer version than last seen goes to the planner.
- gallery_version_written: a new gallery image version (Event Grid). Made by a catalog template:
  its children's cascade (ParentSucceeded); otherwise a source change.
- tick_schedules: due schedule ticks, each handled once however many were missed.
- dry_run: `aibtrigger plan`, the same planner, read-only.

Request ids derive from the signal, so a duplicated event or a re-run sweep adds nothing.
"""

from __future__ import annotations

import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from aibtrigger.domain.lineage import gallery_outputs
from aibtrigger.domain.logexcerpt import redact
from aibtrigger.domain.planner import plan
from aibtrigger.domain.planner_index import index_for
from aibtrigger.domain.planner_types import (
    BUILD,
    WAIT,
    Decision,
    ParentSucceeded,
    ScheduleTick,
    SourceChanged,
    SourceKey,
    Sweep,
    TemplateHistory,
    gallery_key,
    upstream_id,
)
from aibtrigger.domain.provenance import provenance_of
from aibtrigger.domain.records import Outcome, OutcomeRecord
from aibtrigger.domain.schedule import due_tick
from aibtrigger.domain.versions import is_newer, version_key, version_of
from aibtrigger.errors import AibTriggerError
from aibtrigger.names import REQUESTS_QUEUE
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)
_MAX_DELAY = timedelta(days=7) - timedelta(minutes=1)  # a queue message's longest invisibility


def sweep_sources(deps: Deps, *, max_workers: int = 8) -> list[Decision]:
    index = index_for(deps.catalog)
    platform = sorted({f.key for f in index.facts.values() if f.key and f.key[0] == "platform"})
    latest = _latest(deps, platform, max_workers)
    seen = observed(deps)
    decided: list[Decision] = []
    for key, version in latest.items():
        previous = seen.get(key)
        if version is None or (previous is not None and not is_newer(version, previous)):
            continue
        seen[key] = version
        signal = SourceChanged(key, previous, version)
        decisions = plan(deps.catalog, observed=seen, history=history(deps), now=deps.clock(), signal=signal)
        decided += act(
            decisions,
            deps,
            signal_id=f"source:{_text(key)}@{version}",
            kind="source",
            upstream=upstream_id(key, version),
            detail=signal.describe(),
        )
        deps.store.put_observed(
            _text(key), version, at=deps.clock()
        )  # after acting: a crash before it repeats, harmlessly
    return decided + sweep_galleries(deps)


def sweep_galleries(deps: Deps) -> list[Decision]:
    """The gallery images templates build from, read like the marketplace: a version whose Event Grid
    event was lost (one published by hand, say) is acted on as its event would have been, under the
    same request ids. One listing per image; an image that cannot be read is skipped (logged)."""
    if deps.gallery is None:
        return []
    index, seen, decided = index_for(deps.catalog), observed(deps), []
    for image in sorted({f.gallery_image for f in index.facts.values() if f.gallery_image and f.tracks_latest}):
        try:
            usable = [
                v
                for v in deps.gallery.list_versions(image)
                if v.get("provisioningState") == "Succeeded" and not v.get("excludeFromLatest")
            ]
        except Exception as exc:  # noqa: BLE001 - one unreadable gallery must not stop the others
            log.warning("sweep: versions of %s not read (%s): its events still count", image, exc)
            continue
        if not usable:
            continue
        newest, known = usable[-1], seen.get(gallery_key(image))
        if known is None or is_newer(version_of(newest["id"]), known):
            try:
                decided += gallery_version_written(newest["id"], deps)
            except VersionNotReady:
                continue
    return decided


def gallery_version_written(version_id: str, deps: Deps, *, signal_id: str | None = None) -> list[Decision]:
    """Raises VersionNotReady while the version is not provisioned (the event is then redelivered).

    Who made the version is read from its provenance (tags the making run wrote), else from the run
    records; never from whoever holds a claim now. Made outside the service: a fresh root change.
    A version excluded from `latest` is not what `latest` builds from: it is not observed, and
    triggers nothing."""
    version = deps.sources.get_version(version_id)
    if version is None:
        return []
    if version.get("provisioningState") != "Succeeded":
        raise VersionNotReady(f"{version_id} is {version.get('provisioningState')}, not Succeeded yet")
    if version.get("excludeFromLatest"):
        log.info("%s is excluded from latest: not what `latest` resolves to, it triggers nothing", version_id)
        return []
    image = version_id[: version_id.lower().rfind("/versions/")]
    key, number = gallery_key(image), version_of(version_id)
    known = observed(deps)
    producer, upstream = _made_by(image, version_id, version, deps)
    if producer is None and _a_producer_is_building(image, deps):
        # No tags (yet: AIB tags after its run) and no record names it: it may well be that build's.
        # Observed now; the build's end plans the children (settle_children), whoever made it.
        if known.get(key) is None or is_newer(number, known[key]):
            deps.store.put_observed(_text(key), number, at=deps.clock())
        log.info("%s: no provenance while a producer of its image builds: its end plans the children", version_id)
        return []
    signal: ParentSucceeded | SourceChanged
    if producer is not None:
        upstream = upstream or upstream_id(key, number)
        signal = ParentSucceeded(producer, version_id, upstream, root=_root_of(upstream))
    else:
        signal = SourceChanged(key, known.get(key), number)
        upstream = upstream_id(key, number)
    newer = known.get(key) is None or is_newer(number, known[key])
    seen = {**known, key: number} if newer else known  # a late event of an older version moves nothing back
    decisions = plan(deps.catalog, observed=seen, history=history(deps), now=deps.clock(), signal=signal)
    decided = act(
        decisions,
        deps,
        signal_id=signal_id or f"gallery:{version_id.lower()}",
        kind="cascade" if producer else "source",
        upstream=upstream,
        detail=signal.describe(),
    )
    if newer:  # a redelivery must not make the version look newly seen
        deps.store.put_observed(_text(key), number, at=deps.clock())
    return decided


def tick_schedules(deps: Deps, *, max_workers: int = 8) -> list[Decision]:
    """Due ticks only. Their templates' marketplace sources are read afresh (only-if-changed must see
    today's versions) but not stored as observed: that is the sweep's, which acts for every user."""
    now, index, past = deps.clock(), index_for(deps.catalog), history(deps)
    due = [
        n
        for n in index.scheduled
        if due_tick(index.facts[n].schedule, past.get(n, TemplateHistory()).last_schedule_tick, now)
    ]
    if not due:
        return []
    keys = sorted(
        {
            key
            for name in due
            for n in (name, *index.cascade_ancestors(name))
            if (key := index.facts[n].key) and key[0] == "platform"
        }
    )
    seen = {**observed(deps), **{k: v for k, v in _latest(deps, keys, max_workers).items() if v}}
    decisions = plan(deps.catalog, observed=seen, history=past, now=now, signal=ScheduleTick(now))
    decided = []
    for decision in decisions:
        tick = decision.evidence.get("tick")
        decided += act(
            [decision],
            deps,
            signal_id=f"schedule:{tick}",
            kind="schedule",
            upstream=None,
            detail=f"schedule tick {tick}",
        )
        if tick is not None:
            deps.store.set_schedule_tick(decision.template, datetime.fromisoformat(str(tick)))
    return decided


def dry_run(deps: Deps, *, claims=None) -> list[Decision]:
    """What a sweep would decide now: `aibtrigger plan`, and what the reconciler acts on."""
    return plan(
        deps.catalog,
        observed=observed(deps),
        history=history(deps, claims=claims),
        now=deps.clock(),
        signal=Sweep(deps.clock()),
    )


def decision_for(template: str, deps: Deps) -> Decision | None:
    return next((d for d in dry_run(deps) if d.template == template), None)


def current_inputs(
    template: str, deps: Deps, *, seen: str | None = None, own_runs: bool = True
) -> dict[str, str] | None:
    """What a build of `template` starting now uses: its definition and its source's latest version the
    service knows of (observed, `seen` by a signal, or used by its own last builds: `own_runs`), or its
    pin; None without a versioned source."""
    from aibtrigger.domain.planner_rules import inputs_for

    f = index_for(deps.catalog).facts.get(template)
    if f is None or f.key is None:
        return None
    if not f.tracks_latest:
        return inputs_for(f, None)
    summary = deps.store.get_summary(template) if own_runs else None  # at least what its last builds used
    used = (
        [
            i["version"]
            for i in (summary.last_success_inputs, summary.last_failed_inputs)
            if i and i.get("source") == "/".join(f.key) and i.get("version")
        ]
        if summary
        else []
    )
    known = [version_of(v) for v in (observed(deps).get(f.key), seen, *used) if v]
    return inputs_for(f, max(known, key=version_key) if known else None)


def settle_children(run, deps: Deps) -> list[Decision]:
    """A run ended (any outcome): its children that waited for it are planned again now, and those the
    lineage now owes a build are requested. Without this, a child whose parents' events came while
    they were still building waits for the reconciler; with it, it builds once, after the last."""
    index = index_for(deps.catalog)
    children = set(index.cascade_children(run.template)) - {run.template}
    if not children:
        return []
    versions = [a for a in run.artifact_ids if "/versions/" in a.lower()]
    if versions:  # what its versions' events will decide, now, under the same request ids
        decided = []
        for version_id in versions:
            try:
                # Its own request ids: the event may have been weighed already, while this run held its claim.
                decided += gallery_version_written(version_id, deps, signal_id=f"settled:{run.run_id}:{version_id}")
            except VersionNotReady:
                continue
        return decided
    owed = [d for d in dry_run(deps) if d.template in children and d.action == BUILD and d.evidence.get("owed")]
    decided = []
    for decision in owed:
        decided += act(
            [decision],
            deps,
            signal_id=f"settled:{run.run_id}",
            kind="cascade",
            upstream=run.upstream or decision.evidence.get("upstream"),
            detail=f"{run.template}'s run {run.run_id} ended {run.state}",
        )
    return decided


AUTOMATIC_KINDS = ("source", "cascade", "reconcile")  # request id prefixes of signals the planner re-weighs


def is_automatic_request(request_id: str) -> bool:
    """A request the planner made from a source change or a cascade (not a person, not a schedule)."""
    return request_id.partition("-")[0] in AUTOMATIC_KINDS


def is_service_request(request_id: str) -> bool:
    """A request the service itself made (planner, schedule check, reconciler), by its id."""
    return request_id.partition("-")[0] in (*AUTOMATIC_KINDS, "schedule")


def note_outputs(run, deps: Deps) -> None:
    """A gallery version a run distributed is observed at once: the reconciler's sweep then sees the
    children's new source even if the Event Grid event about it never arrives. Only what `latest` may
    resolve to: a version excluded from it (staged, or its distributor says so) is not the children's
    source, and observing it would make them owed a build they can never make."""
    seen = observed(deps)
    for artifact in run.artifact_ids:
        cut = artifact.lower().rfind("/versions/")
        if cut < 0:
            continue
        key, number = gallery_key(artifact[:cut]), version_of(artifact)
        if seen.get(key) is None or is_newer(number, seen[key]):
            try:
                found = deps.sources.get_version(artifact)
            except AibTriggerError as exc:  # a fault must not keep the run from finishing
                log.warning("%s not read (%s): its event or the sweep observes it", artifact, exc)
                continue
            if found is None or found.get("excludeFromLatest"):
                continue
            deps.store.put_observed(_text(key), number, at=deps.clock())


def act(
    decisions: list[Decision], deps: Deps, *, signal_id: str, kind: str, upstream: str | None, detail: str
) -> list[Decision]:
    """Queue a request per build, re-queue window waits for the opening, record every other verdict."""
    now = deps.clock()
    for decision in decisions:
        request_id = signal_request_id(kind, signal_id, decision.template)
        reason = "; ".join(decision.reasons)[:1000]
        message = {
            "template": decision.template,
            "reason": reason,
            "requested_by": f"aibtrigger:{kind}",
            "id": request_id,
            "signal": kind,
            **({"upstream": upstream} if upstream else {}),
            **_inputs_seen(decision),
        }
        if decision.action == BUILD:
            if decision.evidence.get("rearmed"):
                from aibtrigger.domain.events import template_rearmed

                deps.publisher.publish(
                    template_rearmed(decision.template, decision.evidence["fingerprint"], decision.reasons, now=now)
                )
            deps.queue.send(REQUESTS_QUEUE, message)
            continue
        not_before = decision.not_before if decision.action == WAIT else None
        deferred = not_before is not None
        if not_before is not None:
            delay = min(not_before - now, _MAX_DELAY).total_seconds()
            deps.queue.send(REQUESTS_QUEUE, message, delay_seconds=delay)
        deps.store.add_outcome(
            OutcomeRecord(
                request_id=request_id + (":deferred" if deferred else ""),
                template=decision.template,
                outcome=Outcome.DEFERRED if deferred else Outcome.SKIPPED,
                reasons=decision.reasons,
                at=now,
                detail=f"{decision.action} (wave {decision.wave}) on {detail}",
            )
        )
    log.info("%s: %s", detail, ", ".join(f"{d.template}={d.action}" for d in decisions) or "nothing to do")
    return decisions


def _inputs_seen(decision: Decision) -> dict:
    """The fingerprint and source version the planner saw, for the claim-time check (requests.py)."""
    version = (decision.evidence.get("inputs") or {}).get("version")
    return {
        **({"fingerprint": decision.evidence["fingerprint"]} if decision.evidence.get("fingerprint") else {}),
        **({"source_version": version} if version else {}),
    }


def signal_request_id(kind: str, signal_id: str, template: str) -> str:
    """The id of the request a signal makes for a template: the same signal always makes the same id,
    whoever acts on it (a duplicated event, a re-run sweep, the reconciler), so it is built once."""
    return f"{kind}-{hashlib.sha1(signal_id.encode()).hexdigest()[:16]}-{template}"


class VersionNotReady(Exception):
    """A gallery version exists but is not provisioned yet: act on a later delivery."""


def set_observed(key: SourceKey, version: str, deps: Deps) -> None:
    """What `latest` of a source resolves to now, even when older than before (a rollback)."""
    deps.store.put_observed(_text(key), version, at=deps.clock())


def observed_since(deps: Deps) -> dict[SourceKey, datetime]:
    return {_key(text): at for text, at in deps.store.observed_at().items()}


def observed(deps: Deps) -> dict[SourceKey, str]:
    return {_key(text): version for text, version in deps.store.get_observed().items()}


def history(deps: Deps, *, claims=None) -> dict[str, TemplateHistory]:
    active = {claim.template for claim in (deps.store.list_claims() if claims is None else claims)}
    found = {}
    for s in deps.store.list_summaries():
        found[s.template] = TemplateHistory(
            last_success_at=s.last_success_at,
            last_success_source_version=s.last_success_source_version,
            last_success_upstream=s.last_success_upstream,
            last_upstream=s.last_upstream,
            consecutive_failures=s.consecutive_failures,
            disabled=s.disabled,
            last_schedule_tick=s.last_schedule_tick,
            active=s.template in active,
            last_success_inputs=s.last_success_inputs,
            last_failed_inputs=s.last_failed_inputs,
            last_success_outputs=s.last_success_outputs,
        )
    for name in active - set(found):
        found[name] = TemplateHistory(active=True)
    return found


def _latest(deps: Deps, keys: list[SourceKey], max_workers: int) -> dict[SourceKey, str | None]:
    """One marketplace read per distinct source, a bounded number at a time."""
    if not keys:
        return {}

    def latest(key: SourceKey) -> str | None:
        try:
            return deps.sources.latest_version(*key[1:])
        except AibTriggerError as exc:  # one unreadable source must not stop the others' checks
            log.error("cannot read the versions of %s: %s", "/".join(key), redact(str(exc)))
            return None

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(keys)))) as pool:
        return dict(zip(keys, pool.map(latest, keys), strict=True))


def _made_by(image: str, version_id: str, version: dict, deps: Deps) -> tuple[str | None, str | None]:
    """(template, upstream) of the run that made the version: its provenance tags, else the run
    records of the templates distributing to that image; (None, None) when no run of ours made it."""
    producers = [
        e.name
        for e in deps.catalog.templates
        if e.definition is not None and image.lower() in gallery_outputs(e.definition)
    ]
    tagged = provenance_of(version)
    if tagged is not None:
        return (tagged["template"], tagged["upstream"] or None) if tagged["template"] in producers else (None, None)
    for producer in producers:
        for run in deps.store.list_runs(producer, limit=10):
            if version_id.lower() in (a.lower() for a in run.artifact_ids):
                return producer, run.upstream
    return None, None


def _a_producer_is_building(image: str, deps: Deps) -> bool:
    return any(
        deps.store.get_claim(e.name) is not None
        for e in deps.catalog.templates
        if e.definition is not None and image.lower() in gallery_outputs(e.definition)
    )


def _root_of(upstream: str) -> SourceKey | None:
    key = upstream.rpartition("@")[0]
    if key.startswith("platform/"):
        return tuple(key.split("/"))
    if key.startswith("gallery/"):
        return ("gallery", key[len("gallery/") :])
    return None


def _text(key: SourceKey) -> str:
    return "|".join(key)


def _key(text: str) -> SourceKey:
    return tuple(text.split("|"))
