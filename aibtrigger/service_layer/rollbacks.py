"""Rollback: the template's current `latest` is excluded again, so `latest` falls back to the previous
promoted version, and every child that tracks that image's `latest` is rebuilt from it.

Per gallery image the template distributes to: `latest` is the highest Succeeded version not excluded
from it (what Azure resolves). Refused, changing nothing, when there is no earlier version to fall
back to: a rollback must never leave `latest` empty for the scale sets and children that use it.
The children's requests are forced: their inputs look older than what they last built from, which
the fingerprint check would otherwise call "nothing new".
"""

from __future__ import annotations

from aibtrigger.domain.promotion import PROMOTION_TAG, ROLLED_BACK, with_action
from aibtrigger.domain.provenance import provenance_of
from aibtrigger.domain.versions import version_of
from aibtrigger.names import REQUESTS_QUEUE
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.promotions import Done, PromotionError, _gallery, _publish


def fall_back(template: str, deps: Deps, *, by: str, why: str) -> Done:
    from aibtrigger.domain.planner_index import index_for

    entry = deps.catalog.get(template)
    images = index_for(deps.catalog).facts[template].outputs
    if not images:
        raise PromotionError(f"template {template!r} distributes to no gallery image: nothing to roll back")
    gallery = _gallery(deps)
    plans = [_plan(image, gallery) for image in images]  # all checked before anything changes
    done = []
    for image, current, previous in plans:
        gallery.update_version(current["id"], exclude_from_latest=True, tags={PROMOTION_TAG: ROLLED_BACK})
        run = _record_on_its_run(current, deps, by=by, why=why)
        if run is not None:
            _publish(run, "rolled_back", deps, by=by, why=f"{why} (latest falls back to {previous['name']})")
        _fall_children_back(image, current, previous, entry.name, deps)
        done.append(f"{current['name']} -> {previous['name']}")
    return Done(template, ROLLED_BACK, True, "latest falls back: " + ", ".join(done))


def _plan(image: str, gallery) -> tuple[str, dict, dict]:
    usable = [
        v
        for v in gallery.list_versions(image)
        if v.get("provisioningState") == "Succeeded" and not v.get("excludeFromLatest")
    ]
    if not usable:
        raise PromotionError(f"{image} has no version `latest` resolves to: nothing to roll back")
    if len(usable) < 2:
        raise PromotionError(
            f"{image}: {usable[-1]['name']} is the only version `latest` may resolve to; rolling it back would "
            "leave `latest` empty (reject or delete it by hand if that is what you want)"
        )
    return image, usable[-1], usable[-2]


def _record_on_its_run(version: dict, deps: Deps, *, by: str, why: str):
    """The run that made the version (its provenance) records the rollback; a version made outside the
    service has no run to record it on (the event is then not published: there is no run to name)."""
    provenance = provenance_of(version)
    run = deps.store.get_run(provenance["run_id"]) if provenance else None
    if run is None:
        return None
    record = with_action(
        run.promotion or {"state": "promoted"}, "rollback", ROLLED_BACK, by=by, why=why, now=deps.clock()
    )
    return deps.store.save_run(run.evolve(promotion=record))


def _fall_children_back(image: str, current: dict, previous: dict, parent: str, deps: Deps) -> None:
    """`latest` moved back: the observed version follows (or the sweep would call every child owed a
    build from the rolled-back version forever), and each child tracking it is asked to rebuild."""
    from aibtrigger.domain.planner_index import index_for
    from aibtrigger.domain.planner_types import gallery_key
    from aibtrigger.service_layer.planning import set_observed, signal_request_id

    key = gallery_key(image)
    set_observed(key, version_of(previous["id"]), deps)
    facts = index_for(deps.catalog).facts
    for child in sorted(name for name, f in facts.items() if f.key == key and f.tracks_latest and name != parent):
        deps.queue.send(
            REQUESTS_QUEUE,
            {
                "template": child,
                "reason": f"parent {parent} rolled back {current['name']}: rebuild from {previous['name']}",
                "requested_by": "aibtrigger:rollback",
                "id": signal_request_id("cascade", f"rollback:{current['id'].lower()}", child),
                "signal": "cascade",
                "upstream": f"rollback:{current['id']}",
                "force": True,
            },
        )
