"""What the CLI shows people: run tables, run details, and following a run live."""

from __future__ import annotations

import json
import sys
import time

from aibtrigger.domain.records import Outcome, OutcomeRecord, RunRecord


def run_dict(run: RunRecord) -> dict:
    return {
        "run_id": run.run_id,
        "template": run.template,
        "state": run.state.value if run.state else "Starting",
        "sub_state": run.sub_state.value if run.sub_state else None,
        "reasons": list(run.reasons),
        "requested_by": list(run.requested_by),
        "request_ids": list(run.request_ids),
        "created_at": run.created_at.isoformat(),
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
        "message": run.message,
        "artifact_ids": list(run.artifact_ids),
        "failure": run.excerpt.to_dict() if run.excerpt else None,
        "log": run.log_location,
        "polls": run.polls,
        "published": run.published,
        "upstream": run.upstream,
        "source_version": run.source_version or (run.inputs or {}).get("version") or None,
        "fingerprint": run.fingerprint,
        "inputs": dict(run.inputs or {}),
        "provenance": run.provenance() if run.artifact_ids else None,
        "notes": list(run.notes),
        "recovery": run.recovery.to_dict() if run.recovery else None,  # failed while distributing (README)
    }


def outcome_dict(o: OutcomeRecord) -> dict:
    return {
        "request_id": o.request_id,
        "template": o.template or None,
        "outcome": o.outcome.value,
        "reasons": list(o.reasons),
        "at": o.at.isoformat(),
        "run_id": o.run_id,
        "detail": o.detail,
        **({"message": o.raw} if o.outcome is Outcome.REJECTED else {}),
    }


def print_json(value) -> None:
    json.dump(value, sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_runs(runs: list[RunRecord]) -> None:
    if not runs:
        print("no runs recorded")
        return
    print(f"{'RUN':44} {'STATE':18} {'STARTED':20} {'SOURCE':24} {'FINGERPRINT':16} REASONS")
    for run in runs:
        state = run.state.value if run.state else "Starting"
        if run.sub_state:
            state += f"/{run.sub_state.value}"
        started = run.started_at.strftime("%Y-%m-%d %H:%M:%S") if run.started_at else "-"
        source = run.source_version or (run.inputs or {}).get("version") or "-"
        print(
            f"{run.run_id:44} {state:18} {started:20} {source:24} {run.fingerprint or '-':16} {'; '.join(run.reasons)}"
        )


def print_outcomes(outcomes: list[OutcomeRecord]) -> None:
    if not outcomes:
        print("no requests recorded")
        return
    for o in outcomes:
        what = f"{o.outcome.value:10} {o.template or '-':20} {o.request_id:40}"
        print(f"{o.at:%Y-%m-%d %H:%M:%S} {what} {o.detail}")


def print_run(run: RunRecord, outcomes: list[OutcomeRecord]) -> None:
    details = run_dict(run)
    failure = details.pop("failure")
    for key, value in details.items():
        if value not in (None, [], "", {}):
            if isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            print(f"{key:13} {', '.join(value) if isinstance(value, list) else value}")
    if failure:
        print(f"failure       {failure_text(failure)}")
        for line in failure["lines"]:
            print(f"    | {line}")
    for o in outcomes:
        print(f"request       {o.request_id} {o.outcome.value}: {'; '.join(o.reasons)} {o.detail}")


def failure_text(failure: dict) -> str:
    """`reason (step S, exit status N)`, leaving out what is not known (a cancel has no exit status)."""
    known = [
        f"step {failure['step']}" if failure.get("step") else "",
        f"exit status {failure['exit_status']}" if failure.get("exit_status") is not None else "",
    ]
    details = ", ".join(part for part in known if part)
    return f"{failure['reason']} ({details})" if details else failure["reason"]


def missing_log(run: RunRecord) -> str:
    if run.is_terminal:
        return f"run {run.run_id} ended {run.state} and no log was kept: the build wrote none before it ended"
    state = run.state.value if run.state else "Starting"
    return f"no log for {run.run_id} yet: the build has not written one (it is {state})"


def follow(
    deps, template: str, request_id: str, *, timeout: float = 3600, interval: float = 0.5, out=sys.stdout
) -> RunRecord | OutcomeRecord:
    """Follow a request to its run's end, printing state changes and new log lines as they come."""
    deadline = time.monotonic() + timeout
    run_id, shown_state, shown_lines = None, None, 0
    while time.monotonic() < deadline:
        if run_id is None:
            outcome = deps.store.get_outcome(template, request_id)
            if outcome is not None and outcome.outcome in (Outcome.REJECTED, Outcome.SKIPPED):
                print(f"request {outcome.outcome.value}: {outcome.detail}", file=out)
                return outcome
            run = next((r for r in deps.store.list_runs(template, limit=10) if request_id in r.request_ids), None)
            if run is None:
                time.sleep(interval)
                continue
            run_id = run.run_id
            print(f"run {run_id}: {'; '.join(run.reasons)}", file=out)
        run = deps.store.get_run(run_id)
        state = (run.state.value if run.state else "Starting", run.sub_state.value if run.sub_state else None)
        if state != shown_state:
            print(f"[{state[0]}{'/' + state[1] if state[1] else ''}]", file=out)
            shown_state = state
        # Live lines come from the backend while it runs; the rest from the copy kept at the end.
        text = (deps.backend.read_log(template) if not run.is_terminal else deps.logs.load(run_id)) or ""
        lines = text.splitlines()
        for line in lines[shown_lines:]:
            print(f"  {line}", file=out)
        shown_lines = max(shown_lines, len(lines))
        if run.is_terminal and run.published:
            return run
        time.sleep(interval)
    raise TimeoutError(f"request {request_id} did not finish within {timeout:.0f} s")


def print_decisions(decisions) -> None:
    if not decisions:
        print("nothing to decide: no source changed")
        return
    for d in decisions:
        when = f" (not before {d.not_before:%Y-%m-%d %H:%M} UTC)" if d.not_before else ""
        print(f"wave {d.wave}  {d.action:5}  {d.template}{when}")
        for reason in d.reasons:
            print(f"               {reason}")
