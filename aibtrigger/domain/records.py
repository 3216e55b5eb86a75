"""What the service remembers: the claim on a template, the run history, each request's outcome."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum

from aibtrigger.domain.distribution import Recovery
from aibtrigger.domain.model import FailureExcerpt, RunState, RunSubState


class Outcome(StrEnum):
    """Every accepted request ends in exactly one of these."""

    STARTED = "started"
    COALESCED = "coalesced"
    SKIPPED = "skipped"  # the planner or a policy said no (or "not yet": waiting for a parent)
    DEFERRED = "deferred"  # outside the maintenance window: re-queued for the window's opening
    REJECTED = "rejected"
    IGNORED = "ignored"  # an event that is not about anything the catalog builds from
    PLANNED = "planned"  # an event that went to the planner (its decisions are recorded per template)


@dataclass(frozen=True)
class Request:
    """A reason to build one template, carried by a queue message."""

    request_id: str  # stable across redeliveries: deduplication key
    template: str
    reason: str
    requested_by: str
    upstream: str | None = None  # the root change of a cascade this request belongs to (planner)
    manual: bool = True  # a person (or their script) asked, not a sweep, schedule or cascade
    fingerprint: str | None = None  # the inputs the planner would build from (automatic requests)
    source_version: str | None = None  # the source version it saw (maybe newer than the service observed)
    force: bool = False  # build even when the inputs did not change


@dataclass(frozen=True)
class FollowUp:
    """Requests that arrived while a build ran: they become one more build after it."""

    request_ids: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    requested_by: tuple[str, ...] = ()
    upstream: str | None = None  # the latest cascade among them
    manual: bool = False
    force: bool = False  # one of them asked to build whatever the inputs (a person's --force, a rollback)

    def add(self, request: Request) -> FollowUp:
        """Join `request`. Bounded: the follow-up is stored whole, as JSON, in one Azure Tables property
        (32K UTF-16 characters), and a 1,000-character reason can take 12,000 once escaped. Past its
        budget a request still joins (its outcome record keeps its reason) but adds no more text here;
        the first reason always stays, the hand-off message needs one."""
        requested_by = (
            self.requested_by
            if request.requested_by in self.requested_by
            else _within(self.requested_by, request.requested_by, 5_000)
        )
        return FollowUp(
            _within(self.request_ids, request.request_id, 10_000),
            _within(self.reasons, request.reason, 12_500),
            requested_by,
            request.upstream or self.upstream,
            self.manual or request.manual,
            self.force or request.force,
        )


def _within(kept: tuple[str, ...], item: str, budget: int) -> tuple[str, ...]:
    """`kept` plus `item` if, as JSON (escaped as the Tables store writes it), they stay within `budget`
    characters; the first item always fits."""
    grown = kept + (item,)
    return grown if not kept or len(json.dumps(grown)) <= budget else kept


@dataclass(frozen=True)
class Claim:
    """At most one per template: the lock that makes 'one active build per template' true.

    `starting`: a build was decided but the backend has not confirmed Run yet; `running`: it has.
    """

    template: str
    run_id: str
    request_id: str
    state: str  # "starting" | "running"
    claimed_at: datetime
    reasons: tuple[str, ...] = ()
    request_ids: tuple[str, ...] = ()  # every request this build serves
    requested_by: tuple[str, ...] = ()
    poll_token: str = ""  # only the poll chain carrying this token may act; older chains stop
    followup: FollowUp | None = None
    upstream: str | None = None
    manual: bool = False
    # A lease, not a lock: every step of the claim's own chain pushes it forward. Once it has passed,
    # the chain is presumed dead and the reconciler takes the next step itself.
    lease_until: datetime | None = None
    attempts: int = 0  # starts the backend refused or deferred (a build it cannot include was active)
    waiting_for: str = ""  # why a 'starting' claim has not started yet, for people reading `show`
    # Written just before this claim invokes Run: only a build started after it can be this claim's.
    run_requested_at: datetime | None = None
    etag: str | None = None

    def lease_expired(self, now: datetime) -> bool:
        return self.lease_until is None or now >= self.lease_until

    def evolve(self, **changes) -> Claim:
        return replace(self, **changes)


@dataclass(frozen=True)
class RunRecord:
    """One build, from decision to published result: the history AIB itself does not keep."""

    run_id: str
    template: str
    request_ids: tuple[str, ...]
    reasons: tuple[str, ...]
    requested_by: tuple[str, ...]
    created_at: datetime
    state: RunState | None = None  # None until the backend confirmed Run
    sub_state: RunSubState | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    message: str = ""
    excerpt: FailureExcerpt | None = None
    log_location: str | None = None
    artifact_ids: tuple[str, ...] = ()
    polls: int = 0
    published: bool = False
    upstream: str | None = None  # the cascade it was built for
    manual: bool = False  # served at least one manual request (a manual success lifts auto-disable)
    source_version: str | None = None  # the exact source version it used (AIB source.exactVersion)
    canceling_since: datetime | None = None  # first seen Canceling (a stuck cancel is given up later)
    notes: tuple[str, ...] = ()  # what could not be collected, and why ("log unavailable: ...")
    # The named inputs it was built from (domain.fingerprint): the expected ones at its start, the
    # exact source version once the backend says. Its fingerprint tags what it distributes.
    inputs: dict | None = None
    # A run that failed while distributing, waiting for the gallery (domain.distribution): not ended yet.
    recovery: Recovery | None = None
    # Where its image versions stand on the way to `latest` (domain.promotion), for a template whose
    # promotion is gated: staged, promoted, rejected, rolled back; with its checks and who did what.
    promotion: dict | None = None
    etag: str | None = None  # records are written conditionally: a stale copy never overwrites a newer one

    def evolve(self, **changes) -> RunRecord:
        """A terminal record never changes state again: whatever copy of it a late chain holds."""
        if self.is_terminal and changes.get("state", self.state) != self.state:
            raise TerminalRunError(f"run {self.run_id} ended {self.state}; it cannot become {changes['state']}")
        return replace(self, **changes)

    @property
    def is_terminal(self) -> bool:
        return self.state is not None and self.state.is_terminal

    @property
    def fingerprint(self) -> str | None:
        from aibtrigger.domain.fingerprint import fingerprint

        return fingerprint(self.inputs) if self.inputs else None

    def provenance(self) -> dict:
        """What this run tags its output image versions with: who made it, for which change, from what."""
        return {
            "run_id": self.run_id,
            "template": self.template,
            "upstream": self.upstream or "",
            "source_version": (self.inputs or {}).get("version") or self.source_version or "",
            "fingerprint": self.fingerprint or "",
        }


def run_for_claim(claim: Claim, **fields) -> RunRecord:
    """The run record a claim stands for: its id, requests, reasons and cascade, plus `fields`."""
    return RunRecord(
        run_id=claim.run_id,
        template=claim.template,
        request_ids=claim.request_ids,
        reasons=claim.reasons,
        requested_by=claim.requested_by,
        created_at=claim.claimed_at,
        upstream=claim.upstream,
        manual=claim.manual,
        **fields,
    )


class TerminalRunError(ValueError):
    """An attempt to change the state of a run that already ended."""


@dataclass(frozen=True)
class OutcomeRecord:
    """The one recorded ending of a request (or of a message that could not become one)."""

    request_id: str
    template: str  # "" when the message named no valid template
    outcome: Outcome
    reasons: tuple[str, ...]
    at: datetime
    run_id: str | None = None
    detail: str = ""  # why it was coalesced, skipped or rejected
    raw: str = field(default="", repr=False)  # the rejected message as received (truncated)


def new_run_id(template: str, now: datetime, entropy: str) -> str:
    """`<template>.<UTC time>.<entropy>`: sortable per template; template names never contain '.'."""
    return f"{template}.{now:%Y%m%dT%H%M%SZ}.{entropy[:6]}"


def template_of(run_id: str) -> str:
    return run_id.partition(".")[0]


@dataclass(frozen=True)
class TemplateSummary:
    """Per template, what the planner needs from the history, kept current at each run's end."""

    template: str
    last_success_at: datetime | None = None
    last_success_source_version: str | None = None
    last_success_upstream: str | None = None
    last_upstream: str | None = None
    consecutive_failures: int = 0
    disabled: bool = False
    last_schedule_tick: datetime | None = None
    last_counted_run: str | None = None  # the run last folded in: a redelivered poll must not count twice
    last_success_inputs: dict | None = None  # what the last successful build was built from (fingerprint)
    last_failed_inputs: dict | None = None  # what the consecutive failures failed with (they count per input)
    last_success_outputs: tuple[str, ...] = ()  # the image versions it made (a self-sourced template's own)

    def evolve(self, **changes) -> TemplateSummary:
        return replace(self, **changes)
