"""Drive the service's own handlers (request -> poll ... -> collect -> publish) over a backend, on the
fake's clock: each poll message's visibility delay is slept by advancing the clock. What a real
deployment would do, minus the queue service."""

from __future__ import annotations

import json

from aibtrigger.adapters.logstore import InMemoryLogStore
from aibtrigger.adapters.publisher import InMemoryPublisher
from aibtrigger.adapters.queues import InMemoryQueue
from aibtrigger.adapters.state_store import InMemoryStateStore
from aibtrigger.names import POLLS_QUEUE
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.intake import handle_poll_message, handle_request_message


def service_deps(catalog, backend, clock, *, sources=None, gallery=None) -> Deps:
    """Production defaults for the poll schedule (30 s .. 600 s); no gallery: no version is changed.
    Without `sources`, the gallery (when given) is where versions are read."""
    return Deps(
        catalog=catalog,
        store=InMemoryStateStore(),
        backend=backend,
        queue=InMemoryQueue(),
        publisher=InMemoryPublisher(),
        logs=InMemoryLogStore(),
        sources=sources or gallery,
        gallery=gallery,
        clock=clock,
    )


def build_once(deps: Deps, clock, template: str, request_id: str, *, max_polls: int = 200) -> int:
    """Request one build and deliver its poll messages until it is published; returns the poll count."""
    body = json.dumps({"template": template, "id": request_id, "reason": "test", "requested_by": "test"}).encode()
    assert handle_request_message(body, message_id=request_id, dequeue_count=1, deps=deps) == "started"
    for polls in range(1, max_polls + 1):
        [message] = [m for m in deps.queue.sent if m.queue == POLLS_QUEUE]
        deps.queue.sent.remove(message)
        clock.advance(message.delay_seconds)
        if (
            handle_poll_message(
                message.text.encode(), message_id=f"{request_id}-poll{polls}", dequeue_count=1, deps=deps
            )
            == "finished"
        ):
            return polls
    raise AssertionError(f"{template} still polling after {max_polls} polls")
