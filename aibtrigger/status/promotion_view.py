"""A template's staged versions as plain data (issue 14's promotion on the status page): what each
waits for, what its checks said, who did what and why, and the next step in words. Pure: the policy,
the runs and the clock come in as arguments; domain.promotion decides the next step, not this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from aibtrigger.domain.promotion import PROMOTED, REJECTED, ROLLED_BACK, check_label, next_step
from aibtrigger.domain.records import RunRecord
from aibtrigger.status.html_page import when


@dataclass(frozen=True)
class CheckResult:
    label: str  # as the records name it: "1. webhook: scan.example"
    result: str  # passed | failed | pending (not run yet)
    detail: str
    at: datetime | None


@dataclass(frozen=True)
class Action:
    """One step in a version's history: promote, reject, rollback, checks-failed, ..."""

    action: str
    state: str  # the state it moved the version to
    by: str
    why: str
    at: datetime | None


@dataclass(frozen=True)
class StagedVersion:
    run_id: str
    versions: tuple[str, ...]  # the gallery image versions the run published, excluded from `latest`
    since: datetime | None
    soak_until: datetime | None  # None: no soak time
    checks: tuple[CheckResult, ...]
    actions: tuple[Action, ...]
    next_kind: str  # domain.promotion.Step.kind: check | wait | hold | promote
    next_step: str  # the same, in words


@dataclass(frozen=True)
class Outcome:
    """What a promotion form did, told on the page it redirects back to."""

    state: str  # promoted | rejected | rolled_back
    subject: str  # the run, or the template rolled back
    changed: bool  # False: a repeat, the work was already done


OUTCOMES = {
    PROMOTED: "promoted: its versions may now be `latest`, and the children that track it build from them.",
    REJECTED: "rejected: its versions stay excluded from `latest`, never promoted.",
    ROLLED_BACK: "rolled back: `latest` fell back to the previous promoted version; the children that "
    "track it rebuild from that one.",
}


def staged_version(policy, run: RunRecord, versions: list[str], now: datetime) -> StagedVersion:
    """`policy`: the template's catalog Promotion; `run`: a staged run; `versions`: its gallery versions."""
    record = run.promotion or {}
    since = _moment(record.get("since"))
    results = record.get("checks", {})
    labels = [check_label(i, check) for i, check in enumerate(policy.checks)]
    labels += [label for label in results if label not in labels]  # a check since removed from the catalog
    step = next_step(policy, record, now)
    return StagedVersion(
        run_id=run.run_id,
        versions=tuple(versions),
        since=since,
        soak_until=since + timedelta(minutes=policy.soak_minutes) if since and policy.soak_minutes else None,
        checks=tuple(_check(label, results.get(label)) for label in labels),
        actions=tuple(
            Action(a.get("action", ""), a.get("state", ""), a.get("by", ""), a.get("why", ""), _moment(a.get("at")))
            for a in record.get("actions", [])
        ),
        next_kind=step.kind,
        next_step=_in_words(step, failed=any(not r.get("passed") for r in results.values())),
    )


def _check(label: str, result: dict | None) -> CheckResult:
    if result is None:
        return CheckResult(label, "pending", "", None)
    return CheckResult(
        label, "passed" if result.get("passed") else "failed", result.get("detail", ""), _moment(result.get("at"))
    )


def _in_words(step, *, failed: bool) -> str:
    if step.kind == "check":
        return f"Its checks run at the reconciler's next pass: {', '.join(step.labels)}."
    if step.kind == "wait":
        return f"Soaks until {when(step.until)}, then the reconciler promotes it."
    if step.kind == "hold" and failed:
        return f"Held: {step.why}. A person may still promote it, or reject it for good."
    if step.kind == "hold":
        return "Waits for a person (manual promotion): promote it, or reject it."
    if step.kind == "promote":
        return f"Due: the reconciler promotes it at its next pass ({step.why})."
    return "Nothing: it is no longer staged."


def _moment(text) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):  # a record written by hand, or by a later version
        return None
