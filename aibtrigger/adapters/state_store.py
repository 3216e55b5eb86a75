"""The state store port (claims, runs, outcomes) and its in-memory implementation.

Claims use conditional writes: `create_claim` fails if one exists, `replace_claim` and
`delete_claim` fail if the claim changed since it was read (ETag). Both raise ConcurrencyError.
"""

from __future__ import annotations

import itertools
import threading
from datetime import datetime
from typing import Protocol

from aibtrigger.domain.records import Claim, OutcomeRecord, RunRecord, TemplateSummary, template_of
from aibtrigger.errors import ConcurrencyError


class StateStore(Protocol):
    def get_claim(self, template: str) -> Claim | None: ...
    def create_claim(self, claim: Claim) -> Claim: ...
    def replace_claim(self, claim: Claim) -> Claim: ...
    def delete_claim(self, claim: Claim) -> None: ...
    def save_run(self, run: RunRecord) -> RunRecord:
        """Conditional: without an etag, create (ConcurrencyError if it exists); with one, replace only
        the version it was read as (ConcurrencyError otherwise). Returns the record with its new etag."""

    def get_run(self, run_id: str) -> RunRecord | None: ...
    def list_runs(self, template: str | None = None, *, limit: int = 50) -> list[RunRecord]: ...
    def add_outcome(self, outcome: OutcomeRecord) -> OutcomeRecord:
        """Record a request's outcome once; returns the one already recorded if there is one."""

    def get_outcome(self, template: str, request_id: str) -> OutcomeRecord | None: ...
    def list_outcomes(self, template: str | None = None, *, limit: int = 100) -> list[OutcomeRecord]: ...
    def list_claims(self) -> list[Claim]: ...
    def get_summary(self, template: str) -> TemplateSummary: ...
    def put_summary(self, summary: TemplateSummary) -> None: ...
    def list_summaries(self) -> list[TemplateSummary]: ...
    def set_schedule_tick(self, template: str, tick: datetime) -> None:
        """Only this field (a merge). A finishing run's put_summary (a replace) may still undo it; the
        schedule check then sees the tick due again and marks it, its request id making it a no-op."""

    def get_observed(self) -> dict[str, str]:
        """Source versions seen so far, by source key text ('platform|westeurope|canonical|...')."""

    def put_observed(self, key: str, version: str, *, at: datetime | None = None) -> None:
        """`at`: when the service first saw it (the reconciler gives the events `lease_margin` to act)."""

    def observed_at(self) -> dict[str, datetime]:
        """When each source's current version was seen, for those that say."""


class InMemoryStateStore:
    """For unit tests and dry runs; same semantics as the Tables store (the contract tests say so)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._etags = itertools.count(1)
        self.claims: dict[str, Claim] = {}
        self.runs: dict[str, RunRecord] = {}
        self.outcomes: dict[tuple[str, str], OutcomeRecord] = {}
        self.summaries: dict[str, TemplateSummary] = {}
        self.observed: dict[str, str] = {}
        self.seen_at: dict[str, datetime] = {}

    def get_claim(self, template: str) -> Claim | None:
        return self.claims.get(template)

    def create_claim(self, claim: Claim) -> Claim:
        with self._lock:
            if claim.template in self.claims:
                raise ConcurrencyError(f"template {claim.template!r} is already claimed")
            return self._store(claim)

    def replace_claim(self, claim: Claim) -> Claim:
        with self._lock:
            self._check(claim)
            return self._store(claim)

    def delete_claim(self, claim: Claim) -> None:
        with self._lock:
            if claim.template not in self.claims:
                return  # already released: as good as done
            self._check(claim)
            del self.claims[claim.template]

    def save_run(self, run: RunRecord) -> RunRecord:
        with self._lock:
            current = self.runs.get(run.run_id)
            if (current.etag if current else None) != run.etag:
                raise ConcurrencyError(f"run {run.run_id} changed since it was read")
            stored = run.evolve(etag=str(next(self._etags)))
            self.runs[run.run_id] = stored
            return stored

    def get_run(self, run_id: str) -> RunRecord | None:
        return self.runs.get(run_id)

    def list_runs(self, template: str | None = None, *, limit: int = 50) -> list[RunRecord]:
        runs = [r for r in self.runs.values() if template in (None, template_of(r.run_id))]
        return sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)[:limit]

    def add_outcome(self, outcome: OutcomeRecord) -> OutcomeRecord:
        with self._lock:
            return self.outcomes.setdefault((outcome.template, outcome.request_id), outcome)

    def get_outcome(self, template: str, request_id: str) -> OutcomeRecord | None:
        return self.outcomes.get((template, request_id))

    def list_outcomes(self, template: str | None = None, *, limit: int = 100) -> list[OutcomeRecord]:
        found = [o for (t, _), o in self.outcomes.items() if template in (None, t)]
        return sorted(found, key=lambda o: o.at, reverse=True)[:limit]

    def list_claims(self) -> list[Claim]:
        return list(self.claims.values())

    def get_summary(self, template: str) -> TemplateSummary:
        return self.summaries.get(template) or TemplateSummary(template)

    def put_summary(self, summary: TemplateSummary) -> None:
        self.summaries[summary.template] = summary

    def list_summaries(self) -> list[TemplateSummary]:
        return list(self.summaries.values())

    def set_schedule_tick(self, template: str, tick: datetime) -> None:
        with self._lock:
            self.summaries[template] = self.get_summary(template).evolve(last_schedule_tick=tick)

    def get_observed(self) -> dict[str, str]:
        return dict(self.observed)

    def put_observed(self, key: str, version: str, *, at: datetime | None = None) -> None:
        self.observed[key] = version
        if at is not None:
            self.seen_at[key] = at

    def observed_at(self) -> dict[str, datetime]:
        return dict(self.seen_at)

    def _check(self, claim: Claim) -> None:
        current = self.claims.get(claim.template)
        if current is None or current.etag != claim.etag:
            raise ConcurrencyError(f"claim on {claim.template!r} changed since it was read")

    def _store(self, claim: Claim) -> Claim:
        stored = claim.evolve(etag=str(next(self._etags)))
        self.claims[claim.template] = stored
        return stored
