"""A template's image versions, as the gallery holds them: what `aibtrigger versions` shows and what
retention reads. Each version with its promotion state, its provenance, its age and its size."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aibtrigger.errors import NoGalleryImagesError
from aibtrigger.service_layer.deps import Deps


def gallery_images(entry) -> list[str]:
    """The gallery images (ids without `/versions/...`) a catalog entry distributes to, each once.
    Raises NoGalleryImagesError, saying why, when there is none to look at."""
    if entry.definition is None:
        raise NoGalleryImagesError(
            f"template {entry.name!r} has no definition in the catalog and none was read from Azure: "
            "its gallery images are unknown"
        )
    found: dict[str, str] = {}
    for target in entry.definition.distribute:
        if target.type == "SharedImage":
            found.setdefault(target.gallery_image.lower(), target.gallery_image)
    if not found:
        raise NoGalleryImagesError(
            f"template {entry.name!r} distributes to no gallery image (no SharedImage target): it has no image versions"
        )
    return list(found.values())


def template_versions(deps: Deps, name: str) -> list[dict]:
    """Every version of every gallery image the template distributes to, oldest first per image; with
    a retention policy, what `prune` would do with each (`retention`: action, rule, reason)."""
    from aibtrigger.domain.retention import current_latest
    from aibtrigger.service_layer.retention import plan_image

    if deps.gallery is None:
        raise NoGalleryImagesError("the service has no gallery configured (Deps.gallery): image versions are unknown")
    entry, now = deps.catalog.get(name), deps.clock()
    policy = entry.policy.retention
    rows = []
    for image in gallery_images(entry):
        versions = deps.gallery.list_versions(image)
        latest = current_latest(versions)
        verdicts = {}
        if policy:
            found = plan_image(versions, template=name, keep=policy.keep, min_age_days=policy.min_age_days, deps=deps)
            verdicts = {v.version_id: v for v in found.verdicts}
        for doc in versions:
            row = version_row(doc, image=image, latest=doc.get("id") == latest, now=now)
            verdict = verdicts.get(str(doc.get("id") or ""))
            if verdict:
                row["retention"] = {"action": verdict.action, "rule": verdict.rule, "reason": verdict.reason}
            rows.append(row)
    return rows


def version_row(doc: Mapping, *, image: str, latest: bool, now: datetime) -> dict:
    from aibtrigger.domain.promotion import version_state
    from aibtrigger.domain.provenance import provenance_of
    from aibtrigger.domain.retention import parse_instant

    published = parse_instant(doc.get("publishedDate"))
    return {
        "gallery_image": image,
        "version": doc.get("name"),
        "version_id": doc.get("id"),
        "state": version_state(doc),
        "latest": latest,
        "provisioning_state": doc.get("provisioningState"),
        "published": published.isoformat() if published else None,
        "age_days": round((now - published).total_seconds() / 86400, 1) if published else None,
        "end_of_life": doc.get("endOfLifeDate"),
        "size_bytes": doc.get("sizeBytes"),
        "replication": (doc.get("replication") or {}).get("state"),
        "provenance": provenance_of(doc),
    }
