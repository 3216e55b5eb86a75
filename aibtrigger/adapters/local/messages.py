"""How a local run ends, in AIB's words: the last log lines and lastRunStatus.message."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aibtrigger.adapters.local.packerlog import PackerLog, packer_duration
from aibtrigger.adapters.local.state import CANCELED_MESSAGE, TemplateStateStore, finished, is_active

logger = logging.getLogger("aibtrigger.local.builder")
PACKERIZER = (
    "Failed while waiting for packerizer: Microservice has failed: Failed while processing request: "
    "Error when executing packerizer: Packer build command has failed: exit status 1. "
)


@dataclass(frozen=True)
class Context:
    log_url: str
    build_id: str
    timeout_minutes: int

    @property
    def tail(self) -> str:
        return f"For more information please review the log at {self.log_url}. OperationId: {self.build_id}"


def failure(reason: str, ctx: Context, *, validation: bool = False, distributed: bool = False) -> str:
    if validation:
        also = " The image was distributed anyway (continueDistributeOnFailure)." if distributed else ""
        return f"{PACKERIZER}Validation failed: {reason}.{also} {ctx.tail}"
    return f"{PACKERIZER}During the image build, a failure has occurred: {reason}. {ctx.tail}"


def timed_out(ctx: Context) -> str:
    return (
        "Failed while waiting for packerizer: Timeout waiting for microservice to complete: "
        f"'context deadline exceeded'. The build timed out after {ctx.timeout_minutes} minutes "
        f"(buildTimeoutInMinutes). {ctx.tail}"
    )


def end_failed(log: PackerLog, reason: str, seconds: float) -> None:
    log.ui("(telemetry) Finalizing.")
    log.packer(f"Build 'azure-arm' errored after {packer_duration(seconds)}: {reason}")


def end_succeeded(log: PackerLog, outputs: list[dict], seconds: float) -> None:
    log.ui("(telemetry) Finalizing.")
    log.packer(f"Build 'azure-arm' finished after {packer_duration(seconds)}.")
    log.packer("==> Builds finished. The artifacts of successful builds are:")
    for output in outputs:
        properties = output["properties"]
        log.packer(f"--> azure-arm: {properties.get('artifactId') or properties.get('artifactUri')}")


def stopped(log: PackerLog, reason: str, seconds: float, ctx: Context) -> tuple[str, str, list]:
    """The end of a build that did not run to its end: (runState, message, runOutputs)."""
    if reason == "canceled":
        log.packer("Cancelling build after receiving interrupt")
        log.packer(f"Build 'azure-arm' errored after {packer_duration(seconds)}: Build was cancelled.")
        return "Canceled", CANCELED_MESSAGE, []
    log.packer("Cancelling build after receiving terminated")
    if reason == "timeout":
        log.packer(f"Build 'azure-arm' errored after {packer_duration(seconds)}: context deadline exceeded")
        return "Failed", timed_out(ctx), []
    if reason == "terminated":
        why = "the local builder process was terminated (SIGTERM)"
        log.packer(f"Build 'azure-arm' errored after {packer_duration(seconds)}: {why}")
        return "Failed", f"{PACKERIZER}{why}. {ctx.tail}", []
    return "superseded", "", []


def fail_unstarted(state: TemplateStateStore, name: str, build_id: str, reason: str) -> None:
    """The builder could not even begin (bad catalog, missing definition): say so at once
    rather than leave the run Queued until the heartbeat check gives up on it."""

    def change(doc):
        if not doc or doc.get("buildId") != build_id or not is_active(doc):
            return None
        verdict = finished(doc["lastRunStatus"], "Failed", f"local builder cannot start: {reason}")
        return {**doc, "lastRunStatus": verdict}

    try:
        state.update(name, change)
    except Exception as exc:  # noqa: BLE001 - the heartbeat check will end the run instead
        logger.error("cannot record the failure: %s", type(exc).__name__)
