"""Each template's run state (`local-aib/templates/<name>.json`), shared by several processes.

Document: {"lastRunStatus": {startTime, endTime, runState, runSubState?, message} in AIB's exact
shape, "buildId", "exactSourceVersion", "runOutputs": [AIB runOutput], "cancelRequested",
"heartbeat", "builderPid"}. The backend (start, cancel, dead-builder verdict) and the builder
(sub-states, heartbeat, result) both write it, so every write is conditional on the ETag read
(if-none-match for the first one) and retried on a lost race after re-reading.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable
from typing import TypeGuard

from aibtrigger.adapters.local.layout import STATE_CONTAINER, ZERO_TIME, container, parse_time, utc_now
from aibtrigger.domain.model import BuildStatus, RunOutput, RunState, RunSubState
from aibtrigger.errors import ConcurrencyError

ACTIVE = ("Running", "Canceling")
CANCELING_MESSAGE = "Canceling image build"
CANCELED_MESSAGE = "The build was canceled"


class TemplateStateStore:
    def __init__(self, blob_service, *, attempts: int = 12):
        self._service = blob_service
        self._container = blob_service.get_container_client(STATE_CONTAINER)  # created on the first write
        self._attempts = attempts

    def read(self, name: str) -> dict | None:
        return self._read(name)[0]

    def update(self, name: str, change: Callable[[dict | None], dict | None]) -> dict | None:
        """Apply `change` (given a copy of the current document, or None) and write its result only
        if nobody wrote in between; on a lost race re-read and re-apply. `change` returns None to
        write nothing, and may raise to abort. Returns the document as it now stands."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

        for attempt in range(self._attempts):
            current, etag = self._read(name)
            wanted = change(copy.deepcopy(current))
            if wanted is None:
                return current
            body = json.dumps(wanted, indent=2)
            try:
                if etag is None:
                    self._container.upload_blob(self._blob(name), body, overwrite=False)
                else:
                    self._container.upload_blob(
                        self._blob(name), body, overwrite=True, etag=etag, match_condition=MatchConditions.IfNotModified
                    )
                return wanted
            except (ResourceModifiedError, ResourceExistsError):
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # let the other writer finish
            except ResourceNotFoundError:  # the very first write: the container does not exist yet
                container(self._service, STATE_CONTAINER)
        raise ConcurrencyError(f"template state {name!r}: too many concurrent writers")

    def _read(self, name: str) -> tuple[dict | None, str | None]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            blob = self._container.download_blob(self._blob(name))
        except ResourceNotFoundError:
            return None, None
        return json.loads(blob.readall()), blob.properties.etag

    @staticmethod
    def _blob(name: str) -> str:
        return f"templates/{name}.json"


# --- lastRunStatus, as AIB shapes it -----------------------------------------------------------------
def running(sub_state: str, start_time: str | None = None) -> dict:
    """While running AIB shows endTime 0001-01-01 and an empty message."""
    return {
        "startTime": start_time or utc_now(),
        "endTime": ZERO_TIME,
        "runState": "Running",
        "runSubState": sub_state,
        "message": "",
    }


def canceling(status: dict) -> dict:
    """While canceling there is no runSubState."""
    return {
        "startTime": status.get("startTime"),
        "endTime": ZERO_TIME,
        "runState": "Canceling",
        "message": CANCELING_MESSAGE,
    }


def finished(status: dict, run_state: str, message: str = "") -> dict:
    return {"startTime": status.get("startTime"), "endTime": utc_now(), "runState": run_state, "message": message}


def is_active(document: dict | None) -> TypeGuard[dict]:
    """Whether the document shows a run in progress (so there is a document)."""
    if not document:
        return False
    return (document.get("lastRunStatus") or {}).get("runState") in ACTIVE


def heartbeat_age(document: dict, now: float | None = None) -> float:
    """Seconds since the builder last showed it is alive (or since the run was accepted)."""
    beat = parse_time(document.get("heartbeat"))
    return (now or time.time()) - beat.timestamp() if beat else float("inf")


def to_build_status(document: dict | None) -> BuildStatus:
    status = (document or {}).get("lastRunStatus")
    if not status:
        return BuildStatus(run_state=None)
    sub_state = status.get("runSubState")
    return BuildStatus(
        run_state=RunState(status["runState"]),
        run_sub_state=RunSubState(sub_state) if sub_state else None,
        start_time=parse_time(status.get("startTime")),
        end_time=parse_time(status.get("endTime")),
        message=status.get("message") or "",
    )


def run_output(
    name: str, *, artifact_id: str | None = None, artifact_uri: str | None = None, provisioning_state: str = "Succeeded"
) -> dict:
    """One runOutput as AIB's GET .../runOutputs lists it."""
    properties = {"provisioningState": provisioning_state}
    if artifact_id:
        properties["artifactId"] = artifact_id
    if artifact_uri:
        properties["artifactUri"] = artifact_uri
    return {"name": name, "type": "Microsoft.VirtualMachineImages/imageTemplates/runOutputs", "properties": properties}


def to_run_outputs(document: dict | None) -> list[RunOutput]:
    return [
        RunOutput(
            name=item["name"],
            artifact_id=item["properties"].get("artifactId"),
            artifact_uri=item["properties"].get("artifactUri"),
            provisioning_state=item["properties"].get("provisioningState", "Succeeded"),
        )
        for item in (document or {}).get("runOutputs") or []
    ]
