"""How a finished run changes its template's summary: the planner's view of the history. Pure."""

from __future__ import annotations

from aibtrigger.domain.model import RunState
from aibtrigger.domain.records import RunRecord, TemplateSummary

_SUCCESSFUL = (RunState.SUCCEEDED, RunState.PARTIALLY_SUCCEEDED)
_NOT_COUNTED = (RunState.CANCELED,)  # a cancel is a person's choice, not a failing template


def summary_after(summary: TemplateSummary, run: RunRecord, *, max_failures: int) -> tuple[TemplateSummary, bool]:
    """The summary once `run` ended, and whether this run just auto-disabled the template.

    N consecutive failures *with the same inputs* disable it (0: never): a failure with new inputs
    counts from 1 again (a new input re-arms it). A successful run a person asked for lifts it.
    A run already folded in (a redelivered poll) changes nothing.
    """
    if summary.last_counted_run == run.run_id:
        return summary, False
    changed = summary.evolve(last_upstream=run.upstream, last_counted_run=run.run_id)
    if run.state in _SUCCESSFUL:
        changed = changed.evolve(
            last_success_at=run.ended_at,
            last_success_source_version=run.source_version,
            last_success_upstream=run.upstream,
            consecutive_failures=0,
            # re-armed by new inputs, or lifted by a person's build
            disabled=summary.disabled and not run.manual and run.inputs in (None, summary.last_failed_inputs),
            last_success_inputs=run.inputs,
            last_failed_inputs=None,
            last_success_outputs=run.artifact_ids,
        )
        return changed, False
    if run.state in _NOT_COUNTED:
        return changed, False
    same_input = run.inputs is None or summary.last_failed_inputs in (None, run.inputs)
    failures = summary.consecutive_failures + 1 if same_input else 1
    disabled = summary.disabled and same_input
    disable = bool(max_failures) and failures >= max_failures and not disabled
    return changed.evolve(
        consecutive_failures=failures,
        disabled=disabled or disable,
        last_failed_inputs=run.inputs or summary.last_failed_inputs,
    ), disable
