"""Rollback: the template's current `latest` is excluded again, so `latest` falls back to the previous
promoted version, and every child that tracks that image's `latest` is rebuilt from it.

Per gallery image the template distributes to, `latest` is what Azure resolves: the highest version
not excluded from it that is Succeeded (or Updating: a tag or end-of-life change in progress leaves
it usable). Refused, changing nothing, when there is no earlier version to fall back to (`latest`
is never left empty), or when `latest` was made by another template (roll that one back).

`version` names the version to roll back: a repeat naming it (a retried HTTP call, a command run
again after a crash) changes nothing more and finishes what was left (observed version, children's
requests, the event; all idempotent). Without it, the current `latest` is rolled back, whichever it is.
Order: the run record first (who and why), then the gallery, then the observed version, the children
and the event. The children's requests are forced: their inputs look older than what they last
built from, which the fingerprint check would otherwise call "nothing new"; a child building from
the rolled-back version right now gets the forced request as its follow-up.
"""

from __future__ import annotations

from dataclasses import dataclass

from aibtrigger.domain.promotion import PROMOTION_TAG, ROLLED_BACK, with_action
from aibtrigger.domain.provenance import provenance_of
from aibtrigger.domain.versions import version_of
from aibtrigger.names import REQUESTS_QUEUE
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.promotions import Done, PromotionError, _change, _gallery, _publish


@dataclass(frozen=True)
class _Plan:
    image: str
    target: dict  # the version rolled back
    fallback: dict  # what `latest` resolves to after it
    repeat: bool  # the target was rolled back already: only the steps after the gallery remain


def fall_back(template: str, deps: Deps, *, by: str, why: str, version: str | None = None) -> Done:
    from aibtrigger.domain.planner_index import index_for

    deps.catalog.get(template)
    images = index_for(deps.catalog).facts[template].outputs
    if not images:
        raise PromotionError(f"template {template!r} distributes to no gallery image: nothing to roll back")
    gallery = _gallery(deps)
    plans = [_plan(image, gallery.list_versions(image), template, version) for image in images]  # all checked first
    for plan in plans:
        run = None if plan.repeat else _record_on_its_run(plan.target, deps, by=by, why=why)
        if not plan.repeat:
            _change(plan.target["id"], deps, exclude_from_latest=True, tags={PROMOTION_TAG: ROLLED_BACK})
        _fall_children_back(plan, template, deps)
        run = run or _run_of(plan.target, deps)
        if run is not None:
            _publish(run, "rolled_back", deps, by=by, why=f"{why} (latest falls back to {plan.fallback['name']})")
    moves = ", ".join(f"{p.target['name']} -> {p.fallback['name']}" for p in plans)
    if all(p.repeat for p in plans):
        return Done(template, ROLLED_BACK, False, f"already rolled back ({moves}): what was left is done")
    return Done(template, ROLLED_BACK, True, "latest falls back: " + moves)


def _plan(image: str, versions: list[dict], template: str, version: str | None) -> _Plan:
    usable = [v for v in versions if v.get("provisioningState") in ("Succeeded", "Updating")]
    candidates = [v for v in usable if not v.get("excludeFromLatest")]
    if version is not None:
        named = [v for v in usable if v["name"] == version_of(version)]
        if not named:
            raise PromotionError(f"{image} has no version {version_of(version)} to roll back")
        target = named[0]
        if target.get("excludeFromLatest"):
            if (target.get("tags") or {}).get(PROMOTION_TAG) != ROLLED_BACK:
                raise PromotionError(f"{image}: {target['name']} is not in `latest`'s reach: nothing to roll back")
            fallback = candidates[-1] if candidates else None
            if fallback is None:
                raise PromotionError(f"{image}: `latest` resolves to nothing; publish or promote a version")
            return _Plan(image, target, fallback, repeat=True)
        if target is not (candidates[-1] if candidates else None):
            raise PromotionError(
                f"{image}: {target['name']} is not what `latest` resolves to ({candidates[-1]['name']}): "
                "only the current latest can be rolled back"
            )
    elif not candidates:
        raise PromotionError(f"{image} has no version `latest` resolves to: nothing to roll back")
    target = candidates[-1]
    made_by = (provenance_of(target) or {}).get("template")
    if made_by and made_by != template:
        raise PromotionError(
            f"{image}: {target['name']}, its `latest`, was made by {made_by}: `aibtrigger rollback {made_by}`"
        )
    if len(candidates) < 2:
        raise PromotionError(
            f"{image}: {target['name']} is the only version `latest` may resolve to; rolling it back would "
            "leave `latest` empty (reject or delete it by hand if that is what you want)"
        )
    return _Plan(image, target, candidates[-2], repeat=False)


def _run_of(version: dict, deps: Deps):
    provenance = provenance_of(version)
    return deps.store.get_run(provenance["run_id"]) if provenance else None


def _record_on_its_run(version: dict, deps: Deps, *, by: str, why: str):
    """The run that made the version (its provenance) records the rollback; a version made outside the
    service has no run to record it on (nor to name in an event)."""
    run = _run_of(version, deps)
    if run is None:
        return None
    record = with_action(
        run.promotion or {"state": "promoted"}, "rollback", ROLLED_BACK, by=by, why=why, now=deps.clock()
    )
    return deps.store.save_run(run.evolve(promotion=record))


def _fall_children_back(plan: _Plan, parent: str, deps: Deps) -> None:
    """`latest` moved back: the observed version follows (or the sweep would call every child owed a
    build from the rolled-back version for ever), and each child tracking it is asked to rebuild,
    unless it never moved past the fallback (and is not building now, maybe from the target)."""
    from aibtrigger.domain.planner_index import index_for
    from aibtrigger.domain.planner_types import gallery_key
    from aibtrigger.service_layer.planning import set_observed, signal_request_id

    key, fallback = gallery_key(plan.image), version_of(plan.fallback["id"])
    set_observed(key, fallback, deps)
    facts = index_for(deps.catalog).facts
    for child in sorted(name for name, f in facts.items() if f.key == key and f.tracks_latest and name != parent):
        if _built_from(child, key, fallback, deps) and deps.store.get_claim(child) is None:
            continue
        deps.queue.send(
            REQUESTS_QUEUE,
            {
                "template": child,
                "reason": f"parent {parent} rolled back {plan.target['name']}: rebuild from {plan.fallback['name']}",
                "requested_by": "aibtrigger:rollback",
                "id": signal_request_id("cascade", f"rollback:{plan.target['id'].lower()}", child),
                "signal": "cascade",
                "upstream": f"rollback:{plan.target['id']}",
                "force": True,
            },
        )


def _built_from(template: str, key, version: str, deps: Deps) -> bool:
    """Whether the template's last successful build used exactly this version of that source."""
    inputs = deps.store.get_summary(template).last_success_inputs or {}
    return inputs.get("source") == "/".join(key) and inputs.get("version") == version
