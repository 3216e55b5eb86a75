"""Value types shared by the domain, the service layer and the adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class RunState(StrEnum):
    """AIB's `lastRunStatus.runState`, plus the service's own verdict for a build past its limit."""

    RUNNING = "Running"
    CANCELING = "Canceling"
    SUCCEEDED = "Succeeded"
    PARTIALLY_SUCCEEDED = "PartiallySucceeded"
    FAILED = "Failed"
    CANCELED = "Canceled"
    TIMED_OUT = "TimedOut"  # never reported by a backend: the service's reading of a timeout
    STUCK_CANCELING = "StuckCanceling"  # the service's: canceling far too long, given up (see runstate)

    @property
    def is_terminal(self) -> bool:
        return self not in (RunState.RUNNING, RunState.CANCELING)


class RunSubState(StrEnum):
    """AIB's `lastRunStatus.runSubState` (absent while canceling and after the end)."""

    QUEUED = "Queued"
    BUILDING = "Building"
    CUSTOMIZING = "Customizing"
    OPTIMIZING = "Optimizing"
    VALIDATING = "Validating"
    DISTRIBUTING = "Distributing"


@dataclass(frozen=True)
class BuildStatus:
    """What a backend reports about a template's current or last run (AIB `lastRunStatus`)."""

    run_state: RunState | None  # None: the template has never run
    run_sub_state: RunSubState | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    message: str = ""

    @property
    def is_active(self) -> bool:
        return self.run_state in (RunState.RUNNING, RunState.CANCELING)


@dataclass(frozen=True)
class RunOutput:
    """One distribution target's result (AIB `runOutputs`)."""

    name: str
    artifact_id: str | None = None
    artifact_uri: str | None = None
    provisioning_state: str = "Succeeded"


@dataclass(frozen=True)
class FailureExcerpt:
    """Why a build failed, pulled out of its customization log."""

    reason: str  # one line a person reads first
    step: str | None = None  # the customizer (or phase) that failed
    exit_status: int | None = None
    lines: tuple[str, ...] = field(default_factory=tuple)  # the last relevant log lines

    def to_dict(self) -> dict:
        return {"reason": self.reason, "step": self.step, "exit_status": self.exit_status, "lines": list(self.lines)}

    @classmethod
    def from_dict(cls, data: dict) -> FailureExcerpt:
        return cls(
            reason=data["reason"],
            step=data.get("step"),
            exit_status=data.get("exit_status"),
            lines=tuple(data.get("lines") or ()),
        )
