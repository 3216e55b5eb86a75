"""The Functions host's Event Grid webhook: /runtime/webhooks/EventGrid?functionName=<name>."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import azure.functions as func

from .index import FunctionSpec
from .invoke import Outcome

WEBHOOK_PATH = "/runtime/webhooks/eventgrid"  # compared lower-cased, as host routes are
Response = tuple[int, dict[str, str], bytes]


def _text(status: int, message: str) -> Response:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, message.encode("utf-8")


def _time(value: Any) -> datetime | None:
    # Event Grid writes 7 fractional digits and a Z; Python 3.11's fromisoformat reads both.
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def to_event(raw: dict, spec: FunctionSpec) -> Any:
    """The trigger value for one event. A CloudEvents 1.0 event (it has `specversion`) goes to
    a function annotated with func.CloudEvent as one; otherwise it is mapped onto an
    EventGridEvent (source -> topic, type -> event_type, time -> event_time)."""
    cloud_event_type = getattr(func, "CloudEvent", None)
    if "specversion" in raw:
        if cloud_event_type is not None and spec.annotation(spec.trigger["name"]) is cloud_event_type:
            known = {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema", "data"}
            return cloud_event_type(
                id=raw.get("id"),
                source=raw.get("source"),
                type=raw.get("type"),
                specversion=raw.get("specversion"),
                time=_time(raw.get("time")),
                subject=raw.get("subject"),
                datacontenttype=raw.get("datacontenttype"),
                dataschema=raw.get("dataschema"),
                data=raw.get("data"),
                **{k: v for k, v in raw.items() if k not in known},
            )
        return _event_grid_event(
            id=raw.get("id"),
            data=raw.get("data"),
            topic=raw.get("source"),
            subject=raw.get("subject"),
            event_type=raw.get("type"),
            event_time=_time(raw.get("time")),
            data_version=raw.get("dataschema") or "",
        )
    return _event_grid_event(
        id=raw.get("id"),
        data=raw.get("data"),
        topic=raw.get("topic"),
        subject=raw.get("subject"),
        event_type=raw.get("eventType"),
        event_time=_time(raw.get("eventTime")),
        data_version=raw.get("dataVersion"),
    )


def _event_grid_event(**fields: Any) -> func.EventGridEvent:
    """Built as the Functions worker builds one (azure.functions.eventgrid): a field the JSON lacks is
    None and one it has keeps its JSON type, though EventGridEvent's signature says str."""
    return func.EventGridEvent(**fields)


def _events(body: bytes) -> list[dict]:
    """The events in a delivery: an array (Event Grid schema, CloudEvents batch) or one
    CloudEvent object. ValueError with a readable message when it is neither."""
    try:
        payload = json.loads(body.decode("utf-8") or "null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # json.loads past ~1,000 levels: a bad request, not a host failure (500)
        raise ValueError("request body is not valid JSON: nested too deeply") from None
    events = payload if isinstance(payload, list) else [payload]
    if not events or not all(isinstance(e, dict) for e in events):
        raise ValueError("expected a JSON array of events (or one CloudEvents object)")
    return events


def handle(
    method: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    functions: Mapping[str, FunctionSpec],
    invoke: Callable[..., Outcome],
) -> Response:
    """(status, headers, body) for one webhook request; `functions` keyed by lower-cased name."""
    name = query.get("functionName") or query.get("functionname") or ""
    spec = functions.get(name.lower())
    if spec is None:
        return _text(404, f"cannot find function: '{name}'")
    if method == "OPTIONS":  # CloudEvents abuse protection (webhook validation)
        origin = headers.get("WebHook-Request-Origin")
        if not origin:
            return _text(400, "OPTIONS needs a WebHook-Request-Origin header")
        return 200, {"WebHook-Allowed-Origin": origin, "WebHook-Allowed-Rate": "*"}, b""
    if method != "POST":
        return _text(405, f"{method} is not supported: Event Grid delivers with POST")
    kind = headers.get("aeg-event-type") or ""
    if kind == "Unsubscribe":
        return 202, {}, b""
    if kind not in ("SubscriptionValidation", "Notification"):
        return _text(400, f"missing or unknown aeg-event-type header: {kind!r}")
    try:
        events = _events(body)
        if kind == "SubscriptionValidation":
            code = (events[0].get("data") or {}).get("validationCode")
            if not code:
                raise ValueError("SubscriptionValidation event without data.validationCode")
            payload = json.dumps({"validationResponse": code}).encode("utf-8")
            return 200, {"Content-Type": "application/json"}, payload
        values = [to_event(raw, spec) for raw in events]
    except (ValueError, AttributeError, TypeError) as exc:
        return _text(400, f"bad Event Grid request: {exc}")
    # One invocation per event, in order; any failure fails the delivery, which Event Grid
    # then retries as a whole (so a function must tolerate seeing an event again).
    failed = [v.id for v in values if not invoke(spec, v, reason=f"EventGrid trigger fired for event {v.id}").ok]
    if failed:
        return _text(500, f"{len(failed)} of {len(values)} event(s) failed: {failed}")
    return 202, {}, b""
