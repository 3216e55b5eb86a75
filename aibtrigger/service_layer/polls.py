"""Poll -> (not done: look again later) | (done: collect log -> record -> publish -> release claim).

Each step is recorded before the next, so a redelivered poll resumes where the crash left off;
only the poll chain holding the claim's current token may act, so duplicate chains die out.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE
from aibtrigger.domain.events import build_finished, template_disabled
from aibtrigger.domain.logexcerpt import extract_failure, redact
from aibtrigger.domain.model import RunState
from aibtrigger.domain.records import Claim, Outcome, OutcomeRecord, RunRecord
from aibtrigger.domain.runstate import poll_delay, read_status
from aibtrigger.domain.summary import summary_after
from aibtrigger.errors import ConcurrencyError
from aibtrigger.service_layer.crashpoints import crashpoint
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)
CANCELLED_FOR_TIMEOUT = "cancelled by aibtrigger: "
_SUCCESSFUL = (RunState.SUCCEEDED, RunState.PARTIALLY_SUCCEEDED)


def poll_run(template: str, run_id: str, token: str, deps: Deps, *, expected_seconds: float | None = None) -> str:
    """Advance one run by one step; returns what happened (for logs and tests)."""
    claim = deps.store.get_claim(template)
    run = deps.store.get_run(run_id)
    if run is None or claim is None or claim.run_id != run_id or claim.poll_token != token:
        return "stale"  # a superseded poll chain, or a run already released: nothing to do
    if not run.is_terminal:
        run = _observe(run, deps, token, expected_seconds)
        if not run.is_terminal:
            return "polling"
    if not run.published:
        deps.publisher.publish(build_finished(run, now=deps.clock()))
        crashpoint("after_publish")
        run = run.evolve(published=True)
        deps.store.put_run(run)
    crashpoint("before_release")
    _release(claim, run, deps)
    return "finished"


def _observe(run: RunRecord, deps: Deps, token: str, expected_seconds: float | None) -> RunRecord:
    entry = deps.catalog.get(run.template)
    timeout = timedelta(minutes=entry.definition.timeout_minutes if entry.definition else 240)
    now = deps.clock()
    status = deps.backend.get_status(run.template)
    crashpoint("during_poll")
    if status.run_state is RunState.CANCELING and run.canceling_since is None:
        run = run.evolve(canceling_since=now)
    verdict = read_status(status, started_at=run.started_at or run.created_at, now=now, timeout=timeout,
                          grace=deps.timeout_grace, canceling_since=run.canceling_since)
    if verdict.action == "overdue":
        deps.backend.cancel_run(run.template)
        run = run.evolve(message=CANCELLED_FOR_TIMEOUT + verdict.message)
        log.warning("run %s overdue: %s", run.run_id, verdict.message)
    if verdict.action in ("continue", "overdue"):
        expected = timedelta(seconds=expected_seconds) if expected_seconds else None
        delay = poll_delay(elapsed=now - (run.started_at or now), expected=expected,
                           minimum=deps.poll_min_seconds, maximum=deps.poll_max_seconds)
        run = run.evolve(polls=run.polls + 1, state=status.run_state if status.is_active else run.state,
                         sub_state=status.run_sub_state, next_poll_at=now + timedelta(seconds=delay))
        deps.store.put_run(run)
        deps.queue.send(POLLS_QUEUE, {"template": run.template, "run_id": run.run_id, "token": token,
                                      "expected_seconds": expected_seconds}, delay_seconds=delay)
        return run
    return _collect(run, verdict.state, verdict.message, status.end_time or now, deps)


def _collect(run: RunRecord, state: RunState, message: str, ended_at, deps: Deps) -> RunRecord:
    """Copy the log out of the backend, pull out why it failed, and record the terminal state."""
    if state is RunState.CANCELED and run.message.startswith(CANCELLED_FOR_TIMEOUT):
        state, message = RunState.TIMED_OUT, run.message
    text = deps.backend.read_log(run.template)
    text = redact(text) if text else text  # the copy outlives the build and is shown: whatever a script printed
    location = deps.logs.save(run.run_id, text) if text else None
    excerpt = extract_failure(text) if text and state not in _SUCCESSFUL else None
    outputs = deps.backend.run_outputs(run.template) if state in _SUCCESSFUL else []
    run = run.evolve(state=state, sub_state=None, ended_at=ended_at, message=redact(message or ""),
                     excerpt=excerpt, log_location=location, polls=run.polls + 1,
                     artifact_ids=tuple(o.artifact_id for o in outputs if o.artifact_id),
                     source_version=deps.backend.exact_source_version(run.template))
    _summarize(run, deps)
    deps.store.put_run(run)
    crashpoint("after_terminal_recorded")
    log.info("run %s of %s ended %s", run.run_id, run.template, state)
    return run


def _summarize(run: RunRecord, deps: Deps) -> None:
    """Update the planner's summary; the run that disables its template also says so, publicly.

    Done before the terminal record is written, so a redelivered poll repeats it (idempotent but for
    the disable event, whose stable id lets consumers drop a duplicate).
    """
    entry = deps.catalog.get(run.template)
    summary, disabled_now = summary_after(deps.store.get_summary(run.template), run,
                                          max_failures=entry.policy.max_consecutive_failures)
    if disabled_now:
        deps.publisher.publish(template_disabled(run, summary.consecutive_failures, now=deps.clock()))
        log.warning("%s disabled after %d consecutive failures", run.template, summary.consecutive_failures)
    deps.store.put_summary(summary)


def _release(claim: Claim, run: RunRecord, deps: Deps) -> None:
    """Free the template, or pass it to the follow-up that waits (through a hand-off message).

    First every request this run served gets its outcome (a crash may have come before the
    request handler wrote it): a late redelivery of one of them must not build the template again.
    """
    for request_id in claim.request_ids:
        deps.store.add_outcome(OutcomeRecord(request_id=request_id, template=claim.template,
                                             outcome=Outcome.STARTED, reasons=(), at=deps.clock(),
                                             run_id=run.run_id, detail="served by this run"))
    for _ in range(8):
        if claim.followup is not None:
            waiting = claim.followup
            deps.queue.send(REQUESTS_QUEUE, {"template": claim.template, "id": f"{run.run_id}+followup",
                                             "follows_run": run.run_id,
                                             "reason": "; ".join(dict.fromkeys(waiting.reasons))[:1000],
                                             "requested_by": ", ".join(waiting.requested_by)[:200]})
            return
        try:
            deps.store.delete_claim(claim)
            return
        except ConcurrencyError:  # a request joined the follow-up meanwhile: look again
            claim = deps.store.get_claim(claim.template)
            if claim is None or claim.run_id != run.run_id:
                return
    raise ConcurrencyError(f"claim on {run.template!r} kept changing while being released")
