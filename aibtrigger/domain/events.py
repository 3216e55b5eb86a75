"""The CloudEvents the service publishes. Pure: built from records, `now` passed in."""

from __future__ import annotations

from datetime import datetime

from aibtrigger.domain.limits import fit_event
from aibtrigger.domain.records import RunRecord

EVENT_SOURCE = "/aibtrigger"


def build_finished(run: RunRecord, *, now: datetime) -> dict:
    """`aibtrigger.build.<state>`; the id is stable per run so consumers can drop redeliveries. Cut to fit
    one queue message (the queue publisher) and well within Event Grid's limit."""
    state = run.state.value if run.state else "Unknown"
    duration = (run.ended_at - run.started_at).total_seconds() if run.ended_at and run.started_at else None
    return fit_event(
        {
            "specversion": "1.0",
            "id": f"{run.run_id}/finished",
            "source": f"{EVENT_SOURCE}/templates/{run.template}",
            "type": f"aibtrigger.build.{state.lower()}",
            "subject": run.template,
            "time": now.isoformat(),
            "datacontenttype": "application/json",
            "data": {
                "run_id": run.run_id,
                "template": run.template,
                "state": state,
                "reasons": list(run.reasons),
                "requested_by": list(run.requested_by),
                "started_at": run.started_at.isoformat() if run.started_at else None,
                "ended_at": run.ended_at.isoformat() if run.ended_at else None,
                "duration_seconds": duration,
                "message": run.message,
                "artifact_ids": list(run.artifact_ids),
                "failure": run.excerpt.to_dict() if run.excerpt else None,
                "log": run.log_location,
                "notes": list(run.notes),
            },
        }
    )


def template_disabled(run: RunRecord, failures: int, *, now: datetime) -> dict:
    """Sent once when N consecutive failures switch a template off (a successful manual build lifts it)."""
    return {
        "specversion": "1.0",
        "id": f"{run.run_id}/disabled",
        "source": f"{EVENT_SOURCE}/templates/{run.template}",
        "type": "aibtrigger.template.disabled",
        "subject": run.template,
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "template": run.template,
            "consecutive_failures": failures,
            "last_run_id": run.run_id,
            "lifted_by": "a successful manual build (aibtrigger request NAME)",
        },
    }


def template_rearmed(template: str, fingerprint: str, reasons: tuple[str, ...], *, now: datetime) -> dict:
    """An auto-disabled template builds again because its inputs changed since the failures."""
    return {
        "specversion": "1.0",
        "id": f"{template}/rearmed/{fingerprint}",
        "source": f"{EVENT_SOURCE}/templates/{template}",
        "type": "aibtrigger.template.rearmed",
        "subject": template,
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": {"template": template, "fingerprint": fingerprint, "reasons": list(reasons)},
    }


def request_poisoned(
    *, queue: str, message_id: str, request_id: str, template: str, reason: str, kept_at: str | None, now: datetime
) -> dict:
    """A message the service could not handle: it is recorded as rejected and kept verbatim (`kept_at`)."""
    return {
        "specversion": "1.0",
        "id": f"poisoned/{queue}/{message_id}",
        "source": f"{EVENT_SOURCE}/queues/{queue}",
        "type": "aibtrigger.request.poisoned",
        "subject": template or queue,
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "queue": queue,
            "message_id": message_id,
            "request_id": request_id,
            "template": template or None,
            "reason": reason,
            "kept_at": kept_at,
        },
    }


def version_changed(run: RunRecord, what: str, *, by: str, why: str, now: datetime) -> dict:
    """`aibtrigger.version.<staged|promoted|rejected|rolled_back>`: a run's image versions moved on their
    way to `latest`. The id names the step (the count of recorded actions), so a repeat is one event."""
    record = run.promotion or {}
    return fit_event(
        {
            "specversion": "1.0",
            "id": f"{run.run_id}/version/{what}/{len(record.get('actions', []))}",
            "source": f"{EVENT_SOURCE}/templates/{run.template}",
            "type": f"aibtrigger.version.{what}",
            "subject": run.template,
            "time": now.isoformat(),
            "datacontenttype": "application/json",
            "data": {
                "run_id": run.run_id,
                "template": run.template,
                "versions": [a for a in run.artifact_ids if "/versions/" in a.lower()],
                "state": record.get("state"),
                "by": by,
                "why": why,
                "checks": record.get("checks", {}),
                "provenance": run.provenance(),
            },
        }
    )


def version_pruned(template: str, verdict, *, action: str, now: datetime) -> dict:
    """`aibtrigger.version.deleted` or `.retired` (given an endOfLifeDate) by retention (domain.retention),
    one per version; the id is stable per version and action, so consumers can drop redeliveries."""
    return {
        "specversion": "1.0",
        "id": f"{verdict.version_id}/{action}",
        "source": f"{EVENT_SOURCE}/templates/{template}",
        "type": f"aibtrigger.version.{action}",
        "subject": verdict.version_id,
        "time": now.isoformat(),
        "datacontenttype": "application/json",
        "data": {
            "template": template,
            "version_id": verdict.version_id,
            "version": verdict.version,
            "state": verdict.state,
            "reason": verdict.reason,
            "size_bytes": verdict.size_bytes,
            "end_of_life": verdict.end_of_life.isoformat() if verdict.end_of_life else None,
        },
    }
