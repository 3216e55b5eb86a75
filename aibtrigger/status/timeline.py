"""One template's page as plain data: its runs as a timeline, the build running now, the last failure,
the dry run's verdict and its staged versions. Pure: the log tail and the clock come in as arguments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aibtrigger.domain.logexcerpt import redact
from aibtrigger.domain.model import BuildStatus, RunState
from aibtrigger.domain.planner_types import Decision
from aibtrigger.domain.records import RunRecord
from aibtrigger.status.model import TemplateRow
from aibtrigger.status.promotion_view import StagedVersion

LOG_TAIL_LINES = 40
_SUCCESS = (RunState.SUCCEEDED, RunState.PARTIALLY_SUCCEEDED)


@dataclass(frozen=True)
class RunBar:
    """One run on the timeline: its bar's length is its duration, its colour its result."""

    run_id: str
    result: str  # a RunState value, or "Starting" before the backend confirmed Run
    sub_state: str | None
    signal: str  # what started it: manual, source, cascade, schedule (several when coalesced)
    requested_by: tuple[str, ...]
    reasons: tuple[str, ...]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: float
    message: str
    promotion: str | None = None  # a gated template's run: staged, promoted, rejected, rolled_back


@dataclass(frozen=True)
class Failure:
    """Why the newest failed run failed, as its log excerpt says."""

    run_id: str
    result: str
    ended_at: datetime | None
    reason: str
    step: str | None
    exit_status: int | None
    lines: tuple[str, ...]


@dataclass(frozen=True)
class CurrentBuild:
    run_id: str
    state: str
    sub_state: str | None
    started_at: datetime | None
    elapsed_seconds: float
    log_tail: tuple[str, ...]  # the live customization.log's last lines, secrets masked


@dataclass(frozen=True)
class Verdict:
    """The dry run: would it build now, why or why not, and in which wave of the lineage."""

    action: str
    reasons: tuple[str, ...]
    wave: int
    not_before: datetime | None


@dataclass(frozen=True)
class TemplatePage:
    generated_at: datetime
    template: TemplateRow
    parents: tuple[str, ...]
    children: tuple[str, ...]
    verdict: Verdict | None
    current: CurrentBuild | None
    failure: Failure | None
    runs: tuple[RunBar, ...]
    staged: tuple[StagedVersion, ...] = ()  # its runs whose versions wait to become `latest`, newest first
    rollback_images: tuple[str, ...] = ()  # the gallery images a rollback changes; none: no rollback


def signal_of(run: RunRecord) -> str:
    """The planner asks as `aibtrigger:<signal>`; anyone else is a person (or their script): manual."""
    kinds = dict.fromkeys(
        who.partition(":")[2] if who.startswith("aibtrigger:") else "manual" for who in run.requested_by
    )
    return ", ".join(kinds) or "manual"


def run_bar(run: RunRecord, now: datetime) -> RunBar:
    begin = run.started_at or run.created_at
    return RunBar(
        run_id=run.run_id,
        result=run.state.value if run.state else "Starting",
        sub_state=run.sub_state.value if run.sub_state else None,
        signal=signal_of(run),
        requested_by=run.requested_by,
        reasons=run.reasons,
        created_at=run.created_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
        duration_seconds=max(0.0, ((run.ended_at or now) - begin).total_seconds()),
        message=redact(run.message),
        promotion=(run.promotion or {}).get("state"),
    )


def failure_of(runs: list[RunRecord]) -> Failure | None:
    """The newest finished run that did not succeed, with its excerpt (or its message when it has none)."""
    for run in runs:
        if run.state is not None and run.state.is_terminal and run.state not in _SUCCESS + (RunState.CANCELED,):
            excerpt = run.excerpt  # masked again on the way out: records written by older versions too
            return Failure(
                run_id=run.run_id,
                result=run.state.value,
                ended_at=run.ended_at,
                reason=redact(excerpt.reason if excerpt else (run.message or run.state.value)),
                step=excerpt.step if excerpt else None,
                exit_status=excerpt.exit_status if excerpt else None,
                lines=tuple(redact(line) for line in excerpt.lines) if excerpt else (),
            )
    return None


def current_build(
    run_id: str, run: RunRecord | None, live: BuildStatus | None, log_text: str | None, now: datetime
) -> CurrentBuild | None:
    """The claimed build `run_id`; before its run is recorded it is only "Starting".

    `live`: the backend's status now, when it is this run's. The record is only as fresh as the last
    poll (with a history, the first comes near the expected end), so the state and sub-state shown
    are the backend's own: a cancel or a new phase shows at once.
    """
    if run is None:
        return CurrentBuild(
            run_id=run_id, state="Starting", sub_state=None, started_at=None, elapsed_seconds=0.0, log_tail=()
        )
    if run.is_terminal:  # finished, its claim not released yet
        return None
    begin = run.started_at or run.created_at
    lines = [redact(line) for line in (log_text or "").splitlines() if line.strip()]
    if run.recovery is not None:  # the backend failed it while distributing; it waits for the gallery
        live = None
    state = live.run_state if live is not None and live.run_state is not None else run.state
    sub_state = live.run_sub_state if live is not None and live.run_state is not None else run.sub_state
    return CurrentBuild(
        run_id=run.run_id,
        state=state.value if state else "Starting",
        sub_state=sub_state.value if sub_state else None,
        started_at=run.started_at,
        elapsed_seconds=max(0.0, (now - begin).total_seconds()),
        log_tail=tuple(lines[-LOG_TAIL_LINES:]),
    )


def verdict_of(decision: Decision | None) -> Verdict | None:
    if decision is None:
        return None
    return Verdict(decision.action, decision.reasons, decision.wave, decision.not_before)
