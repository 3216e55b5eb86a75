"""Prune: apply each template's retention policy (domain.retention) to the gallery images it
distributes to. Daily by the prune timer, or `aibtrigger prune [TEMPLATE] [--dry-run]`.

Only templates with `policy.retention` are looked at. Per image: list its versions, plan, then
(unless a dry run) give superseded versions their endOfLifeDate and delete what goes, publishing
`aibtrigger.version.retired` / `aibtrigger.version.deleted` for each. The gallery moves meanwhile (a
rollback, a promotion, a build): just before each change the image is listed and planned again, and
a version whose verdict changed is skipped ("changed since listed: left for the next prune"), so a
deletion never takes what `latest` resolves to now. Each plan also knows which versions the catalog
pins (a source naming an exact version) and which active builds read (`versions_in_use`): those stay.
Idempotent: a second pass finds nothing more to
do. One gallery's refusal (a 403, a version in use) is recorded in the report and the rest go on:
per image, and per version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from aibtrigger.domain.events import version_pruned
from aibtrigger.domain.retention import RetentionPlan, Verdict, plan_retention
from aibtrigger.errors import AibTriggerError, NoGalleryImagesError
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)


@dataclass
class ImagePrune:
    gallery_image: str
    plan: RetentionPlan | None = None  # None: its versions could not be listed
    failed: set[str] = field(default_factory=set)  # ids of the versions whose deletion or retirement failed
    skipped: dict[str, str] = field(default_factory=dict)  # id -> why: its verdict changed since the listing
    errors: list[str] = field(default_factory=list)

    def done(self, verdict: Verdict) -> bool:
        return verdict.version_id not in self.failed and verdict.version_id not in self.skipped


@dataclass
class TemplatePrune:
    template: str
    keep: int
    min_age_days: int
    dry_run: bool
    images: list[ImagePrune] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the template's own (no gallery image, ...)

    @property
    def errors(self) -> list[str]:
        """Everything that failed: the template's own failures, then each image's."""
        return self.failures + [error for image in self.images for error in image.errors]

    @property
    def kept(self) -> list[Verdict]:
        return [v for image in self.images if image.plan for v in image.plan.kept]

    @property
    def deleted(self) -> list[Verdict]:
        """Deleted (in a dry run: to be deleted); a deletion that failed is in `errors` instead, one
        skipped in `skipped`."""
        return [v for image in self.images if image.plan for v in image.plan.deleted if image.done(v)]

    @property
    def retired(self) -> list[Verdict]:
        return [v for image in self.images if image.plan for v in image.plan.retired if image.done(v)]

    @property
    def skipped(self) -> list[tuple[Verdict, str]]:
        """Planned, then left alone: the gallery changed since the listing (each with why)."""
        return [
            (v, image.skipped[v.version_id])
            for image in self.images
            if image.plan
            for v in image.plan.verdicts
            if v.version_id in image.skipped
        ]

    @property
    def freed_bytes(self) -> int:
        return sum(v.size_bytes or 0 for v in self.deleted)

    def to_dict(self) -> dict:
        def entry(v: Verdict) -> dict:
            return {
                "version_id": v.version_id,
                "version": v.version,
                "state": v.state,
                "rule": v.rule,
                "reason": v.reason,
                "size_bytes": v.size_bytes,
                "end_of_life": v.end_of_life.isoformat() if v.end_of_life else None,
            }

        return {
            "template": self.template,
            "policy": {"keep": self.keep, "min_age_days": self.min_age_days},
            "gallery_images": [image.gallery_image for image in self.images],
            "dry_run": self.dry_run,
            "kept": [entry(v) for v in self.kept],
            "deleted": [entry(v) for v in self.deleted],
            "retired": [entry(v) for v in self.retired],
            "skipped": [{"version_id": v.version_id, "version": v.version, "reason": why} for v, why in self.skipped],
            "freed_bytes": self.freed_bytes,
            "unknown_sizes": sum(1 for v in self.deleted if v.size_bytes is None),
            "errors": self.errors,
        }


def prune(deps: Deps, names: Iterable[str] | None = None, *, dry_run: bool = False) -> list[TemplatePrune]:
    """Apply (or with `dry_run` only plan) retention for the named templates, or all; only those
    with a retention policy are looked at."""
    wanted = None if names is None else set(names)
    reports = []
    for entry in deps.catalog.templates:
        retention = entry.policy.retention
        if retention is None or (wanted is not None and entry.name not in wanted):
            continue
        report = TemplatePrune(entry.name, retention.keep, retention.min_age_days, dry_run)
        reports.append(report)
        try:
            _prune_template(entry, report, deps, dry_run=dry_run)
        except Exception as exc:  # noqa: BLE001 - one template's fault must not skip the others
            (log.warning if isinstance(exc, AibTriggerError) else log.exception)("prune: %s: %s", entry.name, exc)
            report.failures.append(_why(exc))
    return reports


def _prune_template(entry, report: TemplatePrune, deps: Deps, *, dry_run: bool) -> None:
    from aibtrigger.service_layer.versions import gallery_images

    gallery = deps.gallery
    if gallery is None:
        raise NoGalleryImagesError("the service has no gallery configured (Deps.gallery): retention cannot be applied")
    for image in gallery_images(entry):
        found = ImagePrune(image)
        report.images.append(found)
        try:
            versions = gallery.list_versions(image)
        except Exception as exc:  # noqa: BLE001 - one gallery's refusal must not stop the others
            log.warning("prune: %s: listing %s failed: %s", entry.name, image, exc)
            found.errors.append(f"{image}: versions not listed: {_why(exc)}")
            continue
        plan = partial(plan_image, template=entry.name, keep=report.keep, min_age_days=report.min_age_days, deps=deps)
        found.plan = plan(versions)
        if not dry_run:
            _apply(found, entry.name, deps, plan)


def plan_image(versions: list[dict], *, template: str, keep: int, min_age_days: int, deps: Deps) -> RetentionPlan:
    """The retention plan of one image's versions now, with the versions pinned and in use."""
    return plan_retention(
        versions,
        template=template,
        keep=keep,
        min_age_days=min_age_days,
        now=deps.clock(),
        pinned=versions_pinned(deps.catalog),
        in_use=versions_in_use(deps),
        recorded=versions_recorded(template, deps),
    )


RECORDED_RUNS = 100  # a version only older runs name stays not_ours: a person's to delete


def versions_recorded(template: str, deps: Deps) -> dict[str, datetime]:
    """Gallery version ids (lower-cased) the template's recent runs name -> when the run naming it began:
    its outputs, or the versions its distribution recovery watched (a failed or unrecovered run's too)."""
    found: dict[str, datetime] = {}
    for run in deps.store.list_runs(template, limit=RECORDED_RUNS):
        named = (*run.artifact_ids, *(run.recovery.versions if run.recovery else ()))
        for version_id in named:
            key = version_id.lower()
            found[key] = min(found.get(key, run.created_at), run.created_at)
    return found


def versions_pinned(catalog) -> dict[str, set[str]]:
    """Gallery version ids (lower-cased) a catalog entry's source names exactly -> those entries."""
    from aibtrigger.template_model import SharedImageVersionSource

    found: dict[str, set[str]] = {}
    for entry in catalog.templates:
        source = getattr(entry.definition, "source", None)
        if isinstance(source, SharedImageVersionSource) and not source.tracks_latest:
            found.setdefault(source.imageVersionId.lower(), set()).add(entry.name)
    return found


def versions_in_use(deps: Deps) -> dict[str, set[str]]:
    """Gallery version ids (lower-cased) an active build reads -> the templates building. Each claim's
    run says what it builds from (its inputs, the exact source version once known); a claim whose run
    is not recorded yet builds from what a build starting now would use (planning.current_inputs)."""
    from aibtrigger.domain.versions import version_of
    from aibtrigger.service_layer.planning import current_inputs

    found: dict[str, set[str]] = {}
    for claim in deps.store.list_claims():
        run = deps.store.get_run(claim.run_id)
        inputs = (run.inputs if run else None) or current_inputs(claim.template, deps) or {}
        image = _gallery_image_of(inputs.get("source") or "")
        for version in (inputs.get("version"), run.source_version if run else None):
            if image and version:
                found.setdefault(f"{image}/versions/{version_of(version)}".lower(), set()).add(claim.template)
    return found


def _gallery_image_of(source: str) -> str | None:
    """The gallery image of a build's `source` input (domain.fingerprint: `gallery/<image id>`)."""
    kind, _, image = source.partition("/")
    return image if kind == "gallery" and image else None


def _apply(image: ImagePrune, template: str, deps: Deps, plan: Callable[[list[dict]], RetentionPlan]) -> None:
    assert image.plan is not None and deps.gallery is not None
    gallery = deps.gallery
    for verdict in image.plan.retired:
        retire = partial(gallery.update_version, verdict.version_id, end_of_life=verdict.end_of_life)
        _act(image, verdict, template, deps, "retired", retire, plan)
    for verdict in image.plan.deleted:
        _act(image, verdict, template, deps, "deleted", partial(gallery.delete_version, verdict.version_id), plan)


def _act(image: ImagePrune, verdict: Verdict, template: str, deps: Deps, action: str, change, plan) -> None:
    from aibtrigger.domain.retention import changed_since_listed

    assert deps.gallery is not None
    try:
        versions = deps.gallery.list_versions(image.gallery_image)  # as it is now, not as it was listed
        changed = changed_since_listed(verdict, versions, plan(versions))
        if changed:
            log.info("prune: %s: %s not %s: changed since listed: %s", template, verdict.version_id, action, changed)
            image.skipped[verdict.version_id] = f"changed since listed ({changed}): left for the next prune"
            return
        change()
    except Exception as exc:  # noqa: BLE001 - a version in use, a lock, a 403: the others still go
        log.warning("prune: %s: %s not %s: %s", template, verdict.version_id, action, exc)
        image.failed.add(verdict.version_id)
        image.errors.append(f"{verdict.version_id}: not {action}: {_why(exc)}")
        return
    log.info("prune: %s: %s %s (%s)", template, action, verdict.version_id, verdict.reason)
    try:
        deps.publisher.publish(version_pruned(template, verdict, action=action, now=deps.clock()))
    except Exception as exc:  # noqa: BLE001 - done is done; the report says the event did not go out
        log.warning("prune: %s: the %s event for %s was not published: %s", template, action, verdict.version_id, exc)
        image.errors.append(f"{verdict.version_id}: {action}, but its event was not published: {_why(exc)}")


def _why(exc: BaseException) -> str:
    """Our own errors say what they mean; anything else is named by its type too."""
    from aibtrigger.errors import first_line

    return first_line(exc) if isinstance(exc, AibTriggerError) else f"{type(exc).__name__}: {first_line(exc)}"
