"""Event Grid events about gallery image versions -> the planner. Unrelated events are recorded as
ignored (not errors); a duplicate delivery changes nothing."""

from __future__ import annotations

import hashlib
import logging
import re
import reprlib

from aibtrigger.domain.records import Outcome, OutcomeRecord
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.planning import gallery_version_written

log = logging.getLogger(__name__)
WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
VERSION_WRITE = "Microsoft.Compute/galleries/images/versions/write"
# Strict: exactly the segments of a version id, names as Azure allows them (no '..', no extra parts),
# matched whole (fullmatch: `$` would let a trailing newline through). ASCII everywhere (`(?ai:`: no
# look-alike letters or digits, no case folding of 'K' or 'ſ') but in the resource group, whose name may
# hold Unicode letters and must not end in a period; version parts are 32-bit numbers.
VERSION_ID = re.compile(
    r"(?ai:/subscriptions/[0-9a-z-]{1,64}/resourceGroups/)[-\w.()]{0,89}[-\w()](?ai:/providers/Microsoft\.Compute/"
    r"galleries/[a-z0-9_.]{1,80}/images/[a-z0-9_.-]{1,80}/versions/[0-9]{1,10}\.[0-9]{1,10}\.[0-9]{1,10})"
)


def handle_gallery_event(*, event_id: object, event_type: object, subject: str, data: object, deps: Deps) -> str:
    """Any payload ends recorded (planned or ignored): fields come from outside, of any JSON type."""
    key = event_id if isinstance(event_id, str) else _show(event_id)
    record_id = "event-" + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]
    if deps.store.get_outcome("", record_id) is not None:
        return "duplicate"
    resource = (data.get("resourceUri") if isinstance(data, dict) else None) or subject or ""
    if not isinstance(resource, str):
        resource = _show(resource)  # never a version id: ignored below, with what it was
    problem = _unrelated(event_type, data, resource)
    if problem:
        _record(deps, record_id, Outcome.IGNORED, problem, event_type, resource)
        return "ignored"
    decisions = gallery_version_written(resource, deps)
    summary = ", ".join(f"{d.template}={d.action}" for d in decisions) or "no template uses this image"
    _record(deps, record_id, Outcome.PLANNED, summary, event_type, resource)
    return "planned"


def _unrelated(event_type: object, data: object, resource: str) -> str | None:
    if event_type != WRITE_SUCCESS:
        return f"event type {_show(event_type)} is not {WRITE_SUCCESS}"
    operation = data.get("operationName") if isinstance(data, dict) else None
    if not isinstance(operation, str) or operation.lower() != VERSION_WRITE.lower():
        return f"operation {_show(operation)} is not a gallery image version write"
    if not VERSION_ID.fullmatch(resource):
        return f"resource {resource[:300]!r} is not a gallery image version id"
    return None


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 300


def _show(value: object) -> str:
    """A short repr of any JSON value: bounded in length and depth (a plain repr of a value nested
    a thousand deep raises RecursionError)."""
    return _REPR.repr(value)


def _record(deps: Deps, record_id: str, outcome: Outcome, detail: str, event_type: object, resource: str) -> None:
    log.info("gallery event %s: %s (%s)", record_id, outcome.value, detail)
    deps.store.add_outcome(
        OutcomeRecord(
            request_id=record_id,
            template="",
            outcome=outcome,
            reasons=(),
            at=deps.clock(),
            detail=detail[:2000],
            raw=f"{event_type if isinstance(event_type, str) else _show(event_type)} {resource}"[:2000],
        )
    )
