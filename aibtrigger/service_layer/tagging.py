"""Provenance for what a backend distributes untagged: the service tags the versions itself.

The local backend writes a run's provenance into each version it creates; the aib backend does not
(AibBackend.start_run: AIB's artifactTags live in the template, which the service does not rewrite
per run). So when a successful run's outputs are collected, each gallery image version among them
that carries no provenance yet gets the run's tags (domain.provenance) through the gallery port.

Best effort: a version that cannot be read or tagged (a 403 for want of the write role, a 409
while it replicates) is logged and noted on the run, never a reason not to record it; decisions
about an untagged version fall back on the run records that name it (planning._made_by). A version
that already has provenance is left alone, so a repeated collect tags nothing twice.
"""

from __future__ import annotations

import logging
import re

from aibtrigger.domain.limits import fit_text
from aibtrigger.domain.logexcerpt import redact
from aibtrigger.domain.provenance import provenance_of, provenance_tags
from aibtrigger.domain.records import RunRecord
from aibtrigger.errors import first_line
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)
_GALLERY_VERSION = re.compile(r"/providers/microsoft\.compute/galleries/[^/]+/images/[^/]+/(?:image)?versions/[^/]+$")


def tag_outputs(run: RunRecord, deps: Deps) -> list[str]:
    """Tag the run's untagged gallery image versions with its provenance; the notes of what failed."""
    if deps.gallery is None:
        return []
    tags = provenance_tags(run.provenance())
    notes = []
    for artifact_id in run.artifact_ids:
        if not _GALLERY_VERSION.search(artifact_id.lower()):
            continue  # a managed image or a VHD: no tags of ours to write
        try:
            version = deps.gallery.get_version(artifact_id)
            if version is not None and provenance_of(version) is None:
                deps.gallery.update_version(artifact_id, tags=tags)
        except Exception as exc:  # noqa: BLE001 - any fault of the gallery: noted, never blocking
            why = f"{type(exc).__name__}: {redact(first_line(exc))}"
            log.warning("run %s: provenance tags not written on %s: %s", run.run_id, artifact_id, why)
            notes.append(fit_text(f"provenance tags not written on {artifact_id}: {why}", 500))
    return notes
