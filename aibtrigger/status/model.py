"""What the status page shows, as plain data: derived from records, catalog facts and a dry run. Pure.

Every view is a dataclass; `to_jsonable(view)` is the view's JSON (GET with `Accept: application/json`),
so the HTML and the JSON cannot disagree: both are drawn from the same object.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from datetime import datetime

from aibtrigger.domain.model import BuildStatus, RunState
from aibtrigger.domain.planner_types import BUILD, WAIT, Decision
from aibtrigger.domain.promotion import STAGED
from aibtrigger.domain.records import Claim, RunRecord, TemplateSummary
from aibtrigger.domain.versions import is_newer, version_of

# The states a template is shown in, most pressing first: the first that applies wins.
STATES = {
    "building": "Building",
    "disabled": "Disabled",  # auto-disabled after repeated failures
    "paused": "Paused",  # policy.paused in the catalog
    "failing": "Failing",  # its last counted run failed
    # A recent run's versions wait to become `latest` (policy.promotion): for their checks, their soak
    # or a person. After the four above: a build in progress, a stopped template and a failure say
    # more about what happens next (the staged version stays staged meanwhile, its section shows it).
    # Before the rest: waiting, due, new and current are the service's own business, a staged version
    # is often the owners' (what waits for their approval), and "current" would be untrue: `latest`
    # still resolves to an older version.
    "staged": "Staged for promotion",
    "waiting": "Waiting for a parent",  # the dry run waits for a parent of the same cascade
    "due": "Due",  # the dry run would build it now
    "new": "Never built",
    "current": "Current",
}
_SUCCESS = (RunState.SUCCEEDED, RunState.PARTIALLY_SUCCEEDED)


@dataclass(frozen=True)
class TemplateRow:
    """One template in the overview."""

    name: str
    state: str
    state_label: str
    sub_state: str | None  # of the build running now
    source: str  # as a person reads it: "Canonical:offer:sku in westeurope"
    built_from: str | None  # the source version of the last successful build
    observed: str | None  # the newest source version seen
    newer_observed: bool  # `observed` is newer than `built_from`
    last_result: str | None
    last_at: datetime | None
    run_id: str | None  # the build running now, else the last one counted
    verdict: str | None  # the dry run's action: build | skip | wait


@dataclass(frozen=True)
class Overview:
    generated_at: datetime
    counts: dict[str, int]
    templates: list[TemplateRow]


def template_state(
    *,
    paused: bool,
    summary: TemplateSummary,
    claim: Claim | None,
    last: RunRecord | None,
    decision: Decision | None,
    staged: bool = False,
) -> str:
    """`staged`: a recent run of the template is staged for promotion."""
    if claim is not None:
        return "building"
    if summary.disabled:
        return "disabled"
    if paused:
        return "paused"
    if summary.consecutive_failures or (last is not None and last.state not in _SUCCESS + (RunState.CANCELED,)):
        return "failing"
    if staged:
        return "staged"
    if decision is not None and decision.action == WAIT and decision.not_before is None:
        return "waiting"
    if decision is not None and decision.action == BUILD:
        return "due"
    return "new" if summary.last_success_at is None and last is None else "current"


def template_row(
    facts,
    *,
    summary: TemplateSummary,
    claim: Claim | None,
    current: RunRecord | None,
    last: RunRecord | None,
    decision: Decision | None,
    observed: str | None,
    live: BuildStatus | None = None,
    staged: bool = False,
) -> TemplateRow:
    """`facts`: the planner index's TemplateFacts of the template; `current`: the claim's run, if recorded;
    `live`: the backend's status of that run now, fresher than the record's; `staged`: a recent run
    is staged for promotion."""
    state = template_state(
        paused=facts.paused, summary=summary, claim=claim, last=last, decision=decision, staged=staged
    )
    built_from = version_of(summary.last_success_source_version) if summary.last_success_source_version else None
    shown = current if claim is not None and current is not None else last
    return TemplateRow(
        name=facts.name,
        state=state,
        state_label=STATES[state],
        sub_state=_sub_state(current, live) if claim is not None else None,
        source=facts.label + facts.where + (f" (pinned {facts.pinned})" if facts.pinned else ""),
        built_from=built_from,
        observed=observed,
        newer_observed=bool(observed and built_from and is_newer(observed, built_from)),
        last_result=last.state.value if last is not None and last.state else None,
        last_at=last.ended_at if last is not None else None,
        run_id=shown.run_id if shown is not None else None,
        verdict=decision.action if decision else None,
    )


def _sub_state(run: RunRecord | None, live: BuildStatus | None) -> str:
    """What the running build is doing, as far as it is known: the backend's word first, but for a
    run waiting for the gallery after the backend failed it while distributing (its record says)."""
    if live is not None and live.run_state is not None and (run is None or run.recovery is None):
        return (live.run_sub_state or live.run_state).value
    if run is None or run.state is None:
        return "Starting"
    return (run.sub_state or run.state).value


def is_staged(run: RunRecord | None) -> bool:
    return run is not None and (run.promotion or {}).get("state") == STAGED


def count_states(rows: list[TemplateRow]) -> dict[str, int]:
    return {state: n for state in STATES if (n := sum(1 for r in rows if r.state == state))}


def to_jsonable(value):
    """Dataclasses to dicts, datetimes to ISO text, tuples to lists: the views' JSON."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value) if f.repr}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value
