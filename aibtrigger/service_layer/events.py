"""Event Grid events about gallery image versions -> the planner. Unrelated events are recorded as
ignored (not errors); a duplicate delivery changes nothing."""
from __future__ import annotations

import hashlib
import logging
import re

from aibtrigger.domain.records import Outcome, OutcomeRecord
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.planning import gallery_version_written

log = logging.getLogger(__name__)
WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
VERSION_WRITE = "Microsoft.Compute/galleries/images/versions/write"
# Strict: exactly the segments of a version id, names as Azure allows them (no '..', no extra parts).
VERSION_ID = re.compile(
    r"^/subscriptions/[0-9A-Za-z-]{1,64}/resourceGroups/[-\w.()]{1,90}/providers/Microsoft\.Compute/"
    r"galleries/[\w.]{1,80}/images/[-\w.]{1,80}/versions/\d+\.\d+\.\d+$", re.IGNORECASE)


def handle_gallery_event(*, event_id: str, event_type: str, subject: str, data: object, deps: Deps) -> str:
    record_id = "event-" + hashlib.sha1(str(event_id).encode()).hexdigest()[:24]
    if deps.store.get_outcome("", record_id) is not None:
        return "duplicate"
    resource = (data.get("resourceUri") if isinstance(data, dict) else None) or subject or ""
    problem = _unrelated(event_type, data, resource)
    if problem:
        _record(deps, record_id, Outcome.IGNORED, problem, event_type, resource)
        return "ignored"
    decisions = gallery_version_written(resource, deps)
    summary = ", ".join(f"{d.template}={d.action}" for d in decisions) or "no template uses this image"
    _record(deps, record_id, Outcome.PLANNED, summary, event_type, resource)
    return "planned"


def _unrelated(event_type: str, data: object, resource: str) -> str | None:
    if event_type != WRITE_SUCCESS:
        return f"event type {event_type!r} is not {WRITE_SUCCESS}"
    operation = data.get("operationName") if isinstance(data, dict) else None
    if not isinstance(operation, str) or operation.lower() != VERSION_WRITE.lower():
        return f"operation {operation!r} is not a gallery image version write"
    if not VERSION_ID.match(resource):
        return f"resource {resource[:300]!r} is not a gallery image version id"
    return None


def _record(deps: Deps, record_id: str, outcome: Outcome, detail: str, event_type: str, resource: str) -> None:
    log.info("gallery event %s: %s (%s)", record_id, outcome.value, detail)
    deps.store.add_outcome(OutcomeRecord(request_id=record_id, template="", outcome=outcome, reasons=(),
                                         at=deps.clock(), detail=detail[:2000],
                                         raw=f"{event_type} {resource}"[:2000]))
