"""Poll -> (not done: look again later, lease extended) | (done: collect -> record -> publish -> release).

Each step is recorded before the next, with conditional writes, so a redelivered poll (or the
reconciler, once the lease has run out) resumes where a crash left off; only the poll chain holding
the claim's current token may act, so duplicate chains die out.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from aibtrigger.domain.limits import fit_excerpt, fit_text
from aibtrigger.domain.logexcerpt import extract_failure, redact
from aibtrigger.domain.model import RunState
from aibtrigger.domain.records import Claim, RunRecord
from aibtrigger.domain.runstate import poll_delay, read_status
from aibtrigger.domain.summary import summary_after
from aibtrigger.errors import ConcurrencyError, first_line
from aibtrigger.service_layer.claims import StaleChainError, lease_for, send_poll, update_claim
from aibtrigger.service_layer.crashpoints import crashpoint
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.distribution import recover_distribution
from aibtrigger.service_layer.finish import finish_run
from aibtrigger.service_layer.tagging import tag_outputs

log = logging.getLogger(__name__)
CANCELLED_FOR_TIMEOUT = "cancelled by aibtrigger: "
_SUCCESSFUL = (RunState.SUCCEEDED, RunState.PARTIALLY_SUCCEEDED)


def poll_run(template: str, run_id: str, token: str, deps: Deps, *, expected_seconds: float | None = None) -> str:
    """Advance one run by one step; returns what happened (for logs and tests)."""
    claim = deps.store.get_claim(template)
    if claim is None or claim.run_id != run_id or claim.poll_token != token:
        return "stale"  # a superseded poll chain, or a run already released: nothing to do
    run = deps.store.get_run(run_id)
    if run is None:
        return "stale"
    return advance_run(claim, run, deps, expected_seconds=expected_seconds)


def advance_run(claim: Claim, run: RunRecord, deps: Deps, *, expected_seconds: float | None = None) -> str:
    """One step of a running claim's run, by its poll chain or by the reconciler (with a fresh token)."""
    try:
        if not run.is_terminal:
            run = _observe(claim, run, deps, expected_seconds)
            if not run.is_terminal:
                return "polling"
        return finish_run(claim, run, deps)
    except StaleChainError:
        return "stale"


def _observe(claim: Claim, run: RunRecord, deps: Deps, expected_seconds: float | None) -> RunRecord:
    entry = deps.catalog.get(run.template)
    timeout = timedelta(minutes=entry.definition.timeout_minutes if entry.definition else 240)
    now = deps.clock()
    status = deps.backend.get_status(run.template)
    crashpoint("during_poll")
    if status.run_state is RunState.CANCELING and run.canceling_since is None:
        run = run.evolve(canceling_since=now)
    verdict = read_status(
        status,
        started_at=run.started_at or run.created_at,
        now=now,
        timeout=timeout,
        grace=deps.timeout_grace,
        canceling_since=run.canceling_since,
    )
    if verdict.action == "overdue":
        deps.backend.cancel_run(run.template)
        run = run.evolve(message=CANCELLED_FOR_TIMEOUT + verdict.message)
        log.warning("run %s overdue: %s", run.run_id, verdict.message)
    expected = timedelta(seconds=expected_seconds) if expected_seconds else None
    delay = poll_delay(
        elapsed=now - (run.started_at or now),
        expected=expected,
        minimum=deps.poll_min_seconds,
        maximum=deps.poll_max_seconds,
    )
    if verdict.action == "finished":  # failed while distributing: the gallery may yet finish (no rebuild)
        verdict, run = recover_distribution(run, status, verdict, deps)
    if verdict.action == "finished":
        assert verdict.state is not None  # a finished verdict always names the state it ended in
        ended_at = now if run.recovery else status.end_time or now
        try:
            return save_terminal(_collect(run, verdict.state, verdict.message, ended_at, deps), deps)
        except _NotYet as pending:  # collect again soon, by this chain: not a failure, no retry budget spent
            log.warning("run %s ended; %s: collecting again in %.0f s", run.run_id, pending, deps.poll_min_seconds)
            delay = deps.poll_min_seconds
    try:
        run = deps.store.save_run(
            run.evolve(
                polls=run.polls + 1,
                sub_state=status.run_sub_state if status.is_active else run.sub_state,
                state=status.run_state if status.is_active else run.state,
            )
        )
    except ConcurrencyError:  # another holder of this token moved the run on: it carries on
        raise StaleChainError(f"run {run.run_id} was advanced by another chain") from None
    claim = update_claim(claim, deps, lambda c: c.evolve(lease_until=lease_for(deps, delay)))
    send_poll(claim, deps, delay_seconds=delay, expected_seconds=expected_seconds)
    return run


def _collect(run: RunRecord, state: RunState, message: str, ended_at: datetime, deps: Deps) -> RunRecord:
    """Copy the log out of the backend, pull out why it failed, and make the terminal record.

    Best effort: a log or output that cannot be read is retried while the run ended less than
    `collect_patience` ago (the error propagates, the step is repeated), then the run is recorded
    without it, saying why. Nothing read here can keep a finished build from being recorded.
    """
    if state is RunState.CANCELED and run.message.startswith(CANCELLED_FOR_TIMEOUT):
        state, message = RunState.TIMED_OUT, run.message
    attempt = _BestEffort(patient=deps.clock() - ended_at < deps.collect_patience)
    text = attempt("log", lambda: deps.backend.read_log(run.template), None)
    text = redact(text) if text else text  # the copy outlives the build and is shown: whatever a script printed
    location = attempt("log copy", lambda: deps.logs.save(run.run_id, text), None) if text else None
    excerpt = None if state in _SUCCESSFUL else _excerpt(text or "", run.template, state, deps, attempt.notes)
    outputs = attempt("run outputs", lambda: deps.backend.run_outputs(run.template), []) if state in _SUCCESSFUL else []
    source_version = attempt("source version", lambda: deps.backend.exact_source_version(run.template), None)
    run = run.evolve(
        state=state,
        sub_state=None,
        ended_at=ended_at,
        message=fit_text(redact(message or ""), 4_000),
        excerpt=excerpt,
        log_location=location,
        polls=run.polls + 1,
        notes=(*run.notes, *attempt.notes),
        artifact_ids=tuple(o.artifact_id for o in outputs if o.artifact_id) or run.artifact_ids,
        source_version=source_version or run.source_version,
        inputs=_exact(run.inputs, source_version),
    )
    if state in _SUCCESSFUL:  # what the backend distributed untagged gets the run's provenance
        run = run.evolve(notes=run.notes + tuple(tag_outputs(run, deps)))
    _summarize(run, deps)
    return run


def _exact(inputs: dict | None, source_version: str | None) -> dict | None:
    """The run's inputs with the exact source version the backend reports, once it does."""
    from aibtrigger.domain.versions import version_of

    return {**inputs, "version": version_of(source_version)} if inputs and source_version else inputs


def _excerpt(text: str, template: str, state: RunState, deps: Deps, notes: list[str]):
    """The failure excerpt; a log the reader cannot make sense of is noted, never a run left unrecorded."""
    try:
        return fit_excerpt(extract_failure(text, steps=_step_names(template, deps), run_state=state))
    except Exception as exc:  # noqa: BLE001 - a reader's bug must not block the record
        log.exception("reading the log of a %s run of %s failed", state, template)
        notes.append(f"failure excerpt unavailable: {type(exc).__name__}: {fit_text(str(exc), 300)}")
        return None


def _step_names(template: str, deps: Deps) -> list[str | None]:
    """The template's customizer, then validator names, in order: how AIB numbers its provisioners."""
    definition = deps.catalog.get(template).definition
    if definition is None:
        return []
    validation = getattr(definition, "validate_", None)
    steps = [*definition.customize, *(validation.inVMValidations if validation else ())]
    return [getattr(step, "name", None) for step in steps]


class _NotYet(Exception):
    """A read that failed while the run ended less than `collect_patience` ago: try again later."""


class _BestEffort:
    """Runs one read; on failure, _NotYet while patient, else notes '<what> unavailable: <why>'."""

    def __init__(self, *, patient: bool) -> None:
        self.patient = patient
        self.notes: list[str] = []

    def __call__(self, what: str, read, default):
        try:
            return read()
        except Exception as exc:  # noqa: BLE001 - any fault of any reader: noted, never blocking
            if self.patient:
                raise _NotYet(f"{what} unreadable: {type(exc).__name__}: {redact(first_line(exc))}") from exc
            self.notes.append(fit_text(f"{what} unavailable: {type(exc).__name__}: {redact(first_line(exc))}", 500))
            return default


def give_up_unreadable(claim: Claim, run: RunRecord, deps: Deps, exc: Exception) -> None:
    """A run whose status cannot be read at all (the template deleted, a 403 that never ends) is given
    up once it is past its timeout and grace: recorded Failed with the reason, published, released."""
    entry = deps.catalog.get(run.template)
    timeout = timedelta(minutes=entry.definition.timeout_minutes if entry.definition else 240)
    now = deps.clock()
    if run.is_terminal or now - (run.started_at or run.created_at) <= timeout + deps.timeout_grace:
        return
    why = f"status unreadable past the build's timeout: {type(exc).__name__}: {redact(first_line(exc))}"
    ended = save_terminal(run.evolve(state=RunState.FAILED, sub_state=None, ended_at=now, message=why[:2000]), deps)
    finish_run(claim, ended, deps)


def save_terminal(run: RunRecord, deps: Deps) -> RunRecord:
    """Write the end of a run once. Losing the race to another chain is fine when that chain wrote an
    end too: theirs stands (a terminal record never changes state again)."""
    try:
        saved = deps.store.save_run(run)
    except ConcurrencyError:
        current = deps.store.get_run(run.run_id)
        if current is None or not current.is_terminal:
            raise
        return current
    crashpoint("after_terminal_recorded")
    log.info("run %s of %s ended %s", run.run_id, run.template, run.state)
    return saved


def _summarize(run: RunRecord, deps: Deps) -> None:
    """Update the planner's summary; the run that disables its template also says so, publicly.

    Done before the terminal record is written, so a redelivered poll repeats it (idempotent but for
    the disable event, whose stable id lets consumers drop a duplicate).
    """
    from aibtrigger.domain.events import template_disabled

    entry = deps.catalog.get(run.template)
    summary, disabled_now = summary_after(
        deps.store.get_summary(run.template), run, max_failures=entry.policy.max_consecutive_failures
    )
    if disabled_now:
        deps.publisher.publish(template_disabled(run, summary.consecutive_failures, now=deps.clock()))
        log.warning("%s disabled after %d consecutive failures", run.template, summary.consecutive_failures)
    deps.store.put_summary(summary)
