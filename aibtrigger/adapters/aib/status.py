"""Pure mapping of an image template (REST JSON, or the SDK model, which is a Mapping over that JSON)
to the service's values. No I/O, no SDK import.

Shapes seen in real responses: while running, `endTime` is `0001-01-01T00:00:00Z` and `message` is
empty; while canceling there is no `runSubState`. Values are compared case-insensitively because the
API's enums are extensible strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aibtrigger.domain.logexcerpt import redact
from aibtrigger.domain.model import BuildStatus, RunOutput, RunState, RunSubState

_STATES = {s.value.lower(): s for s in RunState if s is not RunState.TIMED_OUT}  # AIB never reports TimedOut
_SUB_STATES = {s.value.lower(): s for s in RunSubState}
# The 2025-10-01 spec example spells a gallery version `/imageversions/<v>`; Azure's ids say `/versions/<v>`.
_IMAGE_VERSIONS = re.compile(r"(/galleries/[^/]+/images/[^/]+)/imageversions/", re.IGNORECASE)


@dataclass(frozen=True)
class TemplateView:
    """What the service reads from an image template besides its status."""

    id: str
    location: str
    source: dict  # properties.source as returned, including the read-only exactVersion
    distribute: list[dict] = field(default_factory=list)
    staging_resource_group: str | None = None  # properties.exactStagingResourceGroup
    status: BuildStatus = BuildStatus(None)

    @property
    def exact_source_version(self) -> str | None:
        return self.source.get("exactVersion")


def to_build_status(last_run_status: Mapping | None) -> BuildStatus:
    """`properties.lastRunStatus` -> BuildStatus; None or empty: the template never ran."""
    if not last_run_status or not last_run_status.get("runState"):
        return BuildStatus(None)
    raw_state = str(last_run_status["runState"])
    message = redact(str(last_run_status.get("message") or ""))
    state = _STATES.get(raw_state.lower())
    if state is None:
        # A state this service does not know yet: keep watching rather than guess an ending; the
        # service's own timeout still bounds the wait.
        state = RunState.RUNNING
        message = f"{message} (unrecognised run state {raw_state!r}, read as Running)".strip()
    sub = last_run_status.get("runSubState")
    sub_state = _SUB_STATES.get(str(sub).lower()) if sub and state is RunState.RUNNING else None
    return BuildStatus(
        run_state=state,
        run_sub_state=sub_state,
        start_time=parse_time(last_run_status.get("startTime")),
        end_time=parse_time(last_run_status.get("endTime")),
        message=message,
    )


def to_template_view(template: Mapping) -> TemplateView:
    props = template.get("properties") or {}
    return TemplateView(
        id=str(template.get("id") or ""),
        location=str(template.get("location") or ""),
        source=dict(props.get("source") or {}),
        distribute=[dict(d) for d in props.get("distribute") or []],
        staging_resource_group=props.get("exactStagingResourceGroup") or props.get("stagingResourceGroup"),
        status=to_build_status(props.get("lastRunStatus")),
    )


def to_run_output(item: Mapping) -> RunOutput:
    """One `runOutputs` item; a gallery artifact id is normalised to `/versions/<v>`."""
    props = item.get("properties") or {}
    artifact_id = props.get("artifactId")
    if artifact_id:
        artifact_id = _IMAGE_VERSIONS.sub(r"\1/versions/", artifact_id)
    return RunOutput(
        name=str(item.get("name") or ""),
        artifact_id=artifact_id,
        artifact_uri=props.get("artifactUri"),
        provisioning_state=str(props.get("provisioningState") or "Succeeded"),
    )


def parse_time(value) -> datetime | None:
    """An RFC 3339 time (or a datetime); AIB's zero time `0001-01-01T00:00:00Z` means 'not yet' -> None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("z", "Z"))
        except ValueError:
            return None
    if moment.year <= 1:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
