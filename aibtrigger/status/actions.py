"""The page's one action: request a build of a catalog template. It queues the same message as
`POST /api/requests` (validated by the same schema), so the request ends in one recorded outcome
like any other; the page never starts, claims or records anything itself."""

from __future__ import annotations

import json
import uuid

from aibtrigger.names import REQUESTS_QUEUE

DEFAULT_REASON = "requested on the status page"


def request_build(deps, template: str, *, reason: str | None, requested_by: str | None) -> dict:
    """Queue a manual build request; returns the message sent. Raises RejectedMessageError (with
    UnknownTemplateError) naming what is wrong with the template, reason or requester."""
    from aibtrigger.service_layer.messages import BuildRequestMessage, parse_message

    body = {
        "template": template,
        "reason": (reason or "").strip() or DEFAULT_REASON,
        "requested_by": requested_by or "status page",
        "id": f"status-{uuid.uuid4().hex[:16]}",
        # A person pressing "build" on the page wants a build now, like `aibtrigger request --force`:
        # not a skip because the inputs did not change since the last success.
        "force": True,
    }
    message = parse_message(BuildRequestMessage, json.dumps(body))
    deps.catalog.get(message.template)
    payload = message.model_dump(exclude_none=True)
    deps.queue.send(REQUESTS_QUEUE, payload)
    return payload
