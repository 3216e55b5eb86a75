"""StateStore on Azure Tables (Azurite locally). Conditional writes by ETag make claims safe across instances.

Keys: claims (PK template, RK "claim"); runs (PK template, RK run id); outcomes (PK template, or
"_rejected" for messages naming no valid template, RK request id); templates (PK template, RK
"summary"); sources (PK "source", RK the source key in URL-safe base64: keys hold '/').
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableServiceClient, UpdateMode

from aibtrigger.domain.distribution import Recovery
from aibtrigger.domain.model import FailureExcerpt, RunState, RunSubState
from aibtrigger.domain.records import Claim, FollowUp, Outcome, OutcomeRecord, RunRecord, TemplateSummary, template_of
from aibtrigger.errors import ConcurrencyError, StorageError, first_line
from aibtrigger.names import CLAIMS_TABLE, OUTCOMES_TABLE, RUNS_TABLE, SOURCES_TABLE, TEMPLATES_TABLE

REJECTED_PARTITION = "_rejected"
_CLAIM_ROW = "claim"


class TableStateStore:
    def __init__(self, service: TableServiceClient, *, prefix: str = "") -> None:
        self._claims = service.get_table_client(prefix + CLAIMS_TABLE)
        self._runs = service.get_table_client(prefix + RUNS_TABLE)
        self._outcomes = service.get_table_client(prefix + OUTCOMES_TABLE)
        self._templates = service.get_table_client(prefix + TEMPLATES_TABLE)
        self._sources = service.get_table_client(prefix + SOURCES_TABLE)

    def create_tables(self) -> None:
        for table in (self._claims, self._runs, self._outcomes, self._templates, self._sources):
            try:
                table.create_table()
            except ResourceExistsError:
                pass

    # --- claims ------------------------------------------------------------------------------
    def get_claim(self, template: str) -> Claim | None:
        with _translated():
            try:
                entity = self._claims.get_entity(template, _CLAIM_ROW)
            except ResourceNotFoundError:
                return None
        return _claim_from(entity)

    def create_claim(self, claim: Claim) -> Claim:
        with _translated():
            try:
                meta = self._claims.create_entity(_claim_entity(claim))
            except ResourceExistsError:
                raise ConcurrencyError(f"template {claim.template!r} is already claimed") from None
        return claim.evolve(etag=meta["etag"])

    def replace_claim(self, claim: Claim) -> Claim:
        with _translated():
            try:
                meta = self._claims.update_entity(
                    _claim_entity(claim),
                    mode=UpdateMode.REPLACE,
                    etag=claim.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except (ResourceModifiedError, ResourceNotFoundError):
                raise ConcurrencyError(f"claim on {claim.template!r} changed since it was read") from None
        return claim.evolve(etag=meta["etag"])

    def delete_claim(self, claim: Claim) -> None:
        with _translated():
            try:
                self._claims.delete_entity(
                    claim.template, _CLAIM_ROW, etag=claim.etag, match_condition=MatchConditions.IfNotModified
                )
            except ResourceNotFoundError:
                return  # already released (by another poll chain): as good as done
            except ResourceModifiedError:
                raise ConcurrencyError(f"claim on {claim.template!r} changed since it was read") from None

    # --- runs ----------------------------------------------------------------------------------
    def save_run(self, run: RunRecord) -> RunRecord:
        with _translated():
            try:
                if run.etag is None:
                    meta = self._runs.create_entity(_run_entity(run))
                else:
                    meta = self._runs.update_entity(
                        _run_entity(run),
                        mode=UpdateMode.REPLACE,
                        etag=run.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                raise ConcurrencyError(f"run {run.run_id} changed since it was read") from None
        return run.evolve(etag=meta["etag"])

    def get_run(self, run_id: str) -> RunRecord | None:
        with _translated():
            try:
                return _run_from(self._runs.get_entity(template_of(run_id), run_id))
            except ResourceNotFoundError:
                return None

    def list_runs(self, template: str | None = None, *, limit: int = 50) -> list[RunRecord]:
        with _translated():
            entities = (
                self._runs.query_entities("PartitionKey eq @t", parameters={"t": template})
                if template
                else self._runs.list_entities()
            )
            runs = [_run_from(e) for e in entities]
        return sorted(runs, key=lambda r: (r.created_at, r.run_id), reverse=True)[:limit]

    # --- outcomes --------------------------------------------------------------------------------
    def add_outcome(self, outcome: OutcomeRecord) -> OutcomeRecord:
        with _translated():
            try:
                self._outcomes.create_entity(_outcome_entity(outcome))
                return outcome
            except ResourceExistsError:
                return self.get_outcome(outcome.template, outcome.request_id) or outcome

    def get_outcome(self, template: str, request_id: str) -> OutcomeRecord | None:
        with _translated():
            try:
                return _outcome_from(self._outcomes.get_entity(template or REJECTED_PARTITION, request_id))
            except ResourceNotFoundError:
                return None

    def list_outcomes(self, template: str | None = None, *, limit: int = 100) -> list[OutcomeRecord]:
        with _translated():
            entities = (
                self._outcomes.query_entities("PartitionKey eq @t", parameters={"t": template or REJECTED_PARTITION})
                if template is not None
                else self._outcomes.list_entities()
            )
            found = [_outcome_from(e) for e in entities]
        return sorted(found, key=lambda o: o.at, reverse=True)[:limit]

    # --- claims listing, summaries, observed sources ---------------------------------------------------
    def list_claims(self) -> list[Claim]:
        with _translated():
            return [_claim_from(e) for e in self._claims.list_entities()]

    def get_summary(self, template: str) -> TemplateSummary:
        with _translated():
            try:
                e = self._templates.get_entity(template, _SUMMARY_ROW)
            except ResourceNotFoundError:
                return TemplateSummary(template)
        return _summary_from(e)

    def put_summary(self, summary: TemplateSummary) -> None:
        entity = {"PartitionKey": summary.template, "RowKey": _SUMMARY_ROW}
        for name in _SUMMARY_FIELDS:
            value = getattr(summary, name)
            if value is not None:
                entity[name] = value
        for name in _SUMMARY_JSON_FIELDS:
            if getattr(summary, name):
                entity[name] = _json(getattr(summary, name))
        with _translated():
            self._templates.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def set_schedule_tick(self, template: str, tick: datetime) -> None:
        with _translated():
            self._templates.upsert_entity(
                {"PartitionKey": template, "RowKey": _SUMMARY_ROW, "last_schedule_tick": tick}, mode=UpdateMode.MERGE
            )

    def list_summaries(self) -> list[TemplateSummary]:
        with _translated():
            return [_summary_from(e) for e in self._templates.list_entities()]

    def get_observed(self) -> dict[str, str]:
        with _translated():
            return {e["key"]: e["version"] for e in self._sources.list_entities()}

    def put_observed(self, key: str, version: str, *, at: datetime | None = None) -> None:
        row = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
        entity = {
            "PartitionKey": "source",
            "RowKey": row,
            "key": key,
            "version": version,
            **({"seen_at": at} if at is not None else {}),
        }
        with _translated():
            self._sources.upsert_entity(entity, mode=UpdateMode.REPLACE)

    def observed_at(self) -> dict[str, datetime]:
        with _translated():
            return {
                e["key"]: e["seen_at"] for e in self._sources.list_entities() if isinstance(e.get("seen_at"), datetime)
            }


_SUMMARY_ROW = "summary"
_SUMMARY_FIELDS = (
    "last_success_at",
    "last_success_source_version",
    "last_success_upstream",
    "last_upstream",
    "consecutive_failures",
    "disabled",
    "last_schedule_tick",
    "last_counted_run",
)
_SUMMARY_JSON_FIELDS = ("last_success_inputs", "last_failed_inputs", "last_success_outputs")  # stored as JSON text


def _summary_from(e) -> TemplateSummary:
    found = {name: e.get(name) for name in _SUMMARY_FIELDS if name in e}
    found.update({name: json.loads(e[name]) for name in _SUMMARY_JSON_FIELDS if e.get(name)})
    if "last_success_outputs" in found:
        found["last_success_outputs"] = tuple(found["last_success_outputs"])
    return TemplateSummary(e["PartitionKey"], **found)


class _translated:
    """Storage faults leave this adapter as StorageError; ConcurrencyError passes through."""

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None and isinstance(exc, AzureError):
            raise StorageError(f"table storage failed: {type(exc).__name__}: {first_line(exc)}") from exc
        return False


def _claim_entity(claim: Claim) -> dict:
    followup = claim.followup
    return {
        "PartitionKey": claim.template,
        "RowKey": _CLAIM_ROW,
        "run_id": claim.run_id,
        "request_id": claim.request_id,
        "state": claim.state,
        "claimed_at": claim.claimed_at,
        "reasons": _json(claim.reasons),
        "request_ids": _json(claim.request_ids),
        "requested_by": _json(claim.requested_by),
        "poll_token": claim.poll_token,
        "followup": _json(
            None
            if followup is None
            else [
                followup.request_ids,
                followup.reasons,
                followup.requested_by,
                followup.upstream,
                followup.manual,
                followup.force,
            ]
        ),
        "upstream": claim.upstream or "",
        "manual": claim.manual,
        "attempts": claim.attempts,
        "waiting_for": claim.waiting_for,
        **({"lease_until": claim.lease_until} if claim.lease_until else {}),
        **({"run_requested_at": claim.run_requested_at} if claim.run_requested_at else {}),
    }


def _claim_from(e) -> Claim:
    followup = json.loads(e["followup"])
    return Claim(
        template=e["PartitionKey"],
        run_id=e["run_id"],
        request_id=e["request_id"],
        state=e["state"],
        claimed_at=e["claimed_at"],
        reasons=tuple(json.loads(e["reasons"])),
        request_ids=tuple(json.loads(e["request_ids"])),
        requested_by=tuple(json.loads(e["requested_by"])),
        poll_token=e["poll_token"],
        etag=e.metadata["etag"],
        upstream=e.get("upstream") or None,
        manual=e.get("manual", False),
        lease_until=_datetime(e.get("lease_until")),
        attempts=e.get("attempts", 0),
        waiting_for=e.get("waiting_for", ""),
        run_requested_at=_datetime(e.get("run_requested_at")),
        followup=None if followup is None else _followup(followup),
    )


def _followup(stored: list) -> FollowUp:
    """[request_ids, reasons, requested_by, upstream, manual, force]: the last three may be absent from
    older rows."""
    return FollowUp(tuple(stored[0]), tuple(stored[1]), tuple(stored[2]), *stored[3:])


def _run_entity(run: RunRecord) -> dict:
    entity = {
        "PartitionKey": run.template,
        "RowKey": run.run_id,
        "request_ids": _json(run.request_ids),
        "reasons": _json(run.reasons),
        "requested_by": _json(run.requested_by),
        "created_at": run.created_at,
        "state": run.state.value if run.state else "",
        "sub_state": run.sub_state.value if run.sub_state else "",
        "message": run.message,
        "excerpt": _json(run.excerpt.to_dict() if run.excerpt else None),
        "log_location": run.log_location or "",
        "artifact_ids": _json(run.artifact_ids),
        "polls": run.polls,
        "published": run.published,
        "upstream": run.upstream or "",
        "manual": run.manual,
        "source_version": run.source_version or "",
        "notes": _json(run.notes),
        "inputs": _json(run.inputs),
        "recovery": _json(run.recovery.to_dict() if run.recovery else None),
        "promotion": _json(run.promotion),
    }
    for name in ("started_at", "ended_at", "canceling_since"):
        if getattr(run, name) is not None:
            entity[name] = getattr(run, name)
    return entity


def _run_from(e) -> RunRecord:
    excerpt = json.loads(e["excerpt"])
    return RunRecord(
        run_id=e["RowKey"],
        template=e["PartitionKey"],
        request_ids=tuple(json.loads(e["request_ids"])),
        reasons=tuple(json.loads(e["reasons"])),
        requested_by=tuple(json.loads(e["requested_by"])),
        created_at=e["created_at"],
        state=RunState(e["state"]) if e["state"] else None,
        sub_state=RunSubState(e["sub_state"]) if e["sub_state"] else None,
        started_at=_datetime(e.get("started_at")),
        ended_at=_datetime(e.get("ended_at")),
        message=e["message"],
        excerpt=FailureExcerpt.from_dict(excerpt) if excerpt else None,
        log_location=e["log_location"] or None,
        artifact_ids=tuple(json.loads(e["artifact_ids"])),
        polls=e["polls"],
        published=e["published"],
        upstream=e.get("upstream") or None,
        manual=e.get("manual", False),
        source_version=e.get("source_version") or None,
        canceling_since=_datetime(e.get("canceling_since")),
        notes=tuple(json.loads(e.get("notes") or "[]")),
        inputs=json.loads(e.get("inputs") or "null"),
        recovery=_recovery(e.get("recovery")),
        promotion=json.loads(e.get("promotion") or "null"),
        etag=e.metadata["etag"],
    )


def _outcome_entity(o: OutcomeRecord) -> dict:
    return {
        "PartitionKey": o.template or REJECTED_PARTITION,
        "RowKey": o.request_id,
        "outcome": o.outcome.value,
        "reasons": _json(o.reasons),
        "at": o.at,
        "run_id": o.run_id or "",
        "detail": o.detail,
        "raw": o.raw[:16_000],
    }


def _outcome_from(e) -> OutcomeRecord:
    template = "" if e["PartitionKey"] == REJECTED_PARTITION else e["PartitionKey"]
    return OutcomeRecord(
        request_id=e["RowKey"],
        template=template,
        outcome=Outcome(e["outcome"]),
        reasons=tuple(json.loads(e["reasons"])),
        at=e["at"],
        run_id=e["run_id"] or None,
        detail=e["detail"],
        raw=e["raw"],
    )


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)  # escaped, one character can take six


def _recovery(text: str | None) -> Recovery | None:
    data = json.loads(text or "null")
    return Recovery.from_dict(data) if data else None


def _datetime(value) -> datetime | None:
    return value if isinstance(value, datetime) else None
