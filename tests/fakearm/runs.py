"""One image build on the fake's clock: a timeline of sub-states, then an outcome; or a cancel.

`last_run_status(now)` renders AIB's `lastRunStatus` as real responses show it: endTime is
`0001-01-01T00:00:00Z` until the end, no runSubState while canceling, a failed run's message carries
the log URL and an OperationId.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

ZERO_TIME = "0001-01-01T00:00:00Z"
CANCELING_MESSAGE = "Canceling image build"
CANCELED_MESSAGE = "The build was canceled"
PACKER_FAILED = (
    "Failed while waiting for packerizer: Microservice has failed: Failed while processing request: "
    "Error when executing packerizer: Packer build command has failed: exit status 1."
)
# Shares of a build's duration, as AIB builds spend it (a customize-heavy Linux build).
_SHARES = (("Queued", 0.02), ("Building", 0.15), ("Customizing", 0.63), ("Distributing", 0.20))


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"  # AIB writes 7 digits


@dataclass
class Timeline:
    """How the template's next build goes, in seconds of the fake's clock."""

    phases: tuple[tuple[str, float], ...] = (("Queued", 1), ("Building", 1), ("Customizing", 1), ("Distributing", 1))
    outcome: str = "Succeeded"  # Succeeded | PartiallySucceeded | Failed
    message: str = ""  # a failed run's cause (AIB appends the log location and OperationId)
    log: str | None = None  # customization.log, written to the staging account when the build starts
    cancel_seconds: float = 30.0  # how long Canceling lasts
    # A Failed outcome whose image reached the gallery: AIB gave up on the replication (it goes on),
    # so runOutputs and the gallery version exist although the run failed.
    failed_distributing: bool = False

    @classmethod
    def minutes(cls, total: float, outcome: str = "Succeeded", **kwargs) -> Timeline:
        return cls(phases=tuple((name, total * 60 * share) for name, share in _SHARES), outcome=outcome, **kwargs)

    @property
    def seconds(self) -> float:
        return sum(length for _, length in self.phases)


@dataclass
class Run:
    template: str
    start: datetime
    timeline: Timeline
    operation_id: str
    folder: str  # packerlogs/<folder>/customization.log
    log_url: str
    outputs: list[dict] = field(default_factory=list)  # runOutputs items, shown once it succeeded
    canceled_at: datetime | None = None

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.timeline.seconds)

    def canceled_end(self) -> datetime | None:
        if self.canceled_at is None:
            return None
        return self.canceled_at + timedelta(seconds=self.timeline.cancel_seconds)

    def state(self, now: datetime) -> str:
        if self.canceled_at is not None:
            return "Canceling" if now < self.canceled_end() else "Canceled"
        return "Running" if now < self.end else self.timeline.outcome

    def published(self, now: datetime) -> bool:
        """Whether its versions exist: it succeeded, or it failed while distributing."""
        state = self.state(now)
        return state in ("Succeeded", "PartiallySucceeded") or (state == "Failed" and self.timeline.failed_distributing)

    def is_active(self, now: datetime) -> bool:
        return self.state(now) in ("Running", "Canceling")

    def sub_state(self, now: datetime) -> str | None:
        if self.state(now) != "Running":
            return None
        elapsed = (now - self.start).total_seconds()
        for name, length in self.timeline.phases:
            if elapsed < length:
                return name
            elapsed -= length
        return self.timeline.phases[-1][0]

    def last_run_status(self, now: datetime) -> dict:
        state = self.state(now)
        status = {"startTime": iso(self.start), "endTime": ZERO_TIME, "runState": state, "message": ""}
        if state == "Running":
            status["runSubState"] = self.sub_state(now)
        elif state == "Canceling":
            status["message"] = CANCELING_MESSAGE
        elif state == "Canceled":
            status.update(endTime=iso(self.canceled_end()), message=CANCELED_MESSAGE)
        else:
            status["endTime"] = iso(self.end)
            if state == "Failed":
                status["message"] = (
                    f"{self.timeline.message or PACKER_FAILED} During the image build, a failure has "
                    "occurred, please review the build log to identify which build/customization "
                    "step failed. For more troubleshooting steps go to https://aka.ms/azvmimagebuilderts."
                    f" Image Build log location: {self.log_url}. OperationId: {self.operation_id}. "
                    "Use this operationId to search packer logs."
                )
            elif state == "PartiallySucceeded":
                status["message"] = "Some distribution targets failed: see runOutputs."
        return status

    def operation_status(self, now: datetime) -> dict:
        """The Azure-AsyncOperation resource: InProgress for the whole build."""
        state = self.state(now)
        status = {
            "InProgress": state in ("Running", "Canceling"),
            "Succeeded": state in ("Succeeded", "PartiallySucceeded"),
        }
        body = {
            "name": self.operation_id,
            "startTime": iso(self.start),
            "status": "InProgress" if status["InProgress"] else "Succeeded" if status["Succeeded"] else state,
        }
        if body["status"] != "InProgress":
            body["endTime"] = self.last_run_status(now)["endTime"]
        if body["status"] == "Failed":
            body["error"] = {"code": "ImageBuildFailed", "message": self.last_run_status(now)["message"]}
        return body
