"""From a raw queue message to a handler call; bad input is rejected, recorded and kept.

A message that can never succeed (malformed, unknown template) is recorded as rejected with its
reason and copied verbatim to `<queue>-poison` at once, instead of burning the host's retries.
A message that keeps failing for other reasons gets a rejected record on its last attempt, then
the host moves it to the poison queue: either way nothing vanishes.
"""

from __future__ import annotations

import logging

from aibtrigger.adapters.queues import poison_queue
from aibtrigger.domain.logexcerpt import redact
from aibtrigger.domain.records import Outcome, OutcomeRecord, Request
from aibtrigger.errors import RejectedMessageError
from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.messages import BuildRequestMessage, PollMessage, parse_message
from aibtrigger.service_layer.polls import poll_run
from aibtrigger.service_layer.requests import request_build

log = logging.getLogger(__name__)
MAX_DEQUEUE_COUNT = 5  # host.json extensions.queues.maxDequeueCount (a test keeps them equal)


def handle_request_message(body: bytes, *, message_id: str, dequeue_count: int, deps: Deps) -> str:
    def handle() -> str:
        msg = parse_message(BuildRequestMessage, body)
        # Free text goes into records and published events: a SAS URL pasted in a reason must not.
        request = Request(
            request_id=msg.id or message_id,
            template=msg.template,
            reason=redact(msg.reason),
            requested_by=redact(msg.requested_by),
            upstream=msg.upstream and redact(msg.upstream),
            manual=msg.signal == "manual",
            fingerprint=msg.fingerprint,
            force=msg.force,
            source_version=msg.source_version,
        )
        return request_build(request, deps)

    return _guarded(handle, REQUESTS_QUEUE, body, message_id, dequeue_count, deps)


def handle_poll_message(body: bytes, *, message_id: str, dequeue_count: int, deps: Deps) -> str:
    def handle() -> str:
        msg = parse_message(PollMessage, body)
        deps.catalog.get(msg.template)  # UnknownTemplateError: rejected, not dropped as a stale poll
        return poll_run(msg.template, msg.run_id, msg.token, deps, expected_seconds=msg.expected_seconds)

    return _guarded(handle, POLLS_QUEUE, body, message_id, dequeue_count, deps)


def _guarded(handle, queue: str, body: bytes, message_id: str, dequeue_count: int, deps: Deps) -> str:
    try:
        return handle()
    except RejectedMessageError as exc:
        reject(queue, body, message_id=message_id, reason=str(exc), deps=deps)
        return "rejected"
    except Exception as exc:
        if dequeue_count >= max_dequeue_count():
            if queue == REQUESTS_QUEUE and held_by_claim(body, message_id, deps):
                # The claim carries the request on (its lease brings the reconciler): this message's
                # job is done, and poisoning it would report a request as lost that will be built.
                log.warning(
                    "request %s held by its template's claim after %d failed attempts: left to it",
                    message_id,
                    dequeue_count,
                )
                return "pending"
            # The host moves it to the poison queue after this attempt: record why, then let it.
            _record_rejection(body, f"gave up after {dequeue_count} attempts: {type(exc).__name__}: {exc}", deps)
        raise


def max_dequeue_count() -> int:
    """host.json's maxDequeueCount, or the app setting that overrides it (as the host reads it)."""
    import os

    value = os.environ.get("AzureFunctionsJobHost__extensions__queues__maxDequeueCount")
    return int(value) if value and value.isdigit() else MAX_DEQUEUE_COUNT


def held_by_claim(body: bytes, message_id: str, deps: Deps) -> bool:
    """Whether the template's claim holds this request (it started it, or waits to, or will follow up)."""
    try:
        msg = parse_message(BuildRequestMessage, body)
    except RejectedMessageError:
        return False
    claim = deps.store.get_claim(msg.template)
    waiting = claim.followup.request_ids if claim and claim.followup else ()
    return claim is not None and (msg.id or message_id) in (claim.request_id, *claim.request_ids, *waiting)


def reject(queue: str, body: bytes, *, message_id: str, reason: str, deps: Deps) -> None:
    log.warning("rejected message %s on %s: %s", message_id, queue, redact(reason))
    _record_rejection(body, reason, deps)
    deps.queue.send_raw(poison_queue(queue), body)  # byte for byte, even when it is not UTF-8


def _record_rejection(body: bytes, reason: str, deps: Deps) -> None:
    deps.store.add_outcome(
        OutcomeRecord(
            request_id=rejection_id(body),
            template=known_template(body, deps),
            outcome=Outcome.REJECTED,
            reasons=(),
            at=deps.clock(),
            detail=redact(reason)[:2000],
            raw=redact(body.decode("utf-8", "replace"))[:16_000],
        )
    )


def rejection_id(body: bytes) -> str:
    """Where a rejected message's record is kept: computed from the body alone, so the intake that
    rejects it and the poison-queue watcher that later reads its copy (under a new queue message id)
    find the same record.

    A well-formed request's own id, so the record is found where `aibtrigger show` and redeliveries
    look for that request. The service's own requests (planner, schedule, reconciler) are sent again
    under the same id when the state still asks for them: their rejection is kept beside that id,
    never in its place, so it can never turn a later, good delivery into a no-op (a rejection is final
    only for a message from outside). Anything else is no request: it must not take the id its
    corrected resend will carry, and its `id` field may be anything at all (a RowKey refuses control
    characters): it is keyed by a hash of its bytes."""
    import hashlib

    digest = hashlib.sha1(body).hexdigest()
    try:
        msg = parse_message(BuildRequestMessage, body)
    except RejectedMessageError:
        return f"message-{digest[:24]}"
    if msg.id and msg.signal != "manual":
        return f"{msg.id}:rejected:{digest[:12]}"
    return msg.id or f"message-{digest[:24]}"


def known_template(body: bytes, deps: Deps) -> str:
    """The template the message names, if it is in the catalog: its history then shows the rejection."""
    name = _field(body, "template")
    return name if name in deps.catalog else ""


def _field(body: bytes, name: str) -> str:
    """A string field of a message that may be anything at all, or ''."""
    import json

    try:
        value = json.loads(body).get(name)
    except (ValueError, AttributeError, RecursionError):  # RecursionError: nested too deeply
        return ""
    return value if isinstance(value, str) else ""
