"""The poison-queue watcher: every message the service gave up on is told about.

A message reaches `<queue>-poison` three ways: rejected by intake (recorded already, under a key
computed from its bytes, which the watcher finds again), failed `maxDequeueCount` times (recorded on
its last attempt, unless storage was down then too), or not base64 at all, which the Functions host
moves there without ever calling a function. This reads
the poison queues undecoded, so it sees all three: each message is recorded as a `rejected`
outcome (unless one exists), kept verbatim in the log store, published as
`aibtrigger.request.poisoned`, and only then deleted. A step that fails leaves the message there
for the next pass. It runs on the timer rather than as a queue trigger on the poison queues, since
a trigger could not be handed the very messages the host cannot decode.
"""

from __future__ import annotations

import logging

from aibtrigger.adapters.queues import RawMessage, poison_queue
from aibtrigger.domain.events import request_poisoned
from aibtrigger.domain.logexcerpt import redact
from aibtrigger.domain.records import Outcome, OutcomeRecord
from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE
from aibtrigger.service_layer.deps import Deps

log = logging.getLogger(__name__)
WATCHED = (REQUESTS_QUEUE, POLLS_QUEUE)


def drain_poison_queues(deps: Deps, *, max_messages: int = 32) -> list[str]:
    done = []
    for queue in WATCHED:
        dead_letters = poison_queue(queue)
        for message in deps.queue.receive_raw(dead_letters, max_messages=max_messages):
            try:
                done.append(_tell(queue, message, deps))
                deps.queue.delete(dead_letters, message)
            except Exception:  # noqa: BLE001 - it stays in the poison queue: the next pass tries again
                log.exception("poisoned message %s on %s not recorded yet", message.id, dead_letters)
    return done


def _tell(queue: str, message: RawMessage, deps: Deps) -> str:
    from aibtrigger.service_layer.intake import held_by_claim, known_template, rejection_id

    request_id = rejection_id(message.body)
    template = known_template(message.body, deps)
    kept_at = deps.logs.keep(f"poisoned/{poison_queue(queue)}/{message.id}", message.body)
    if queue == REQUESTS_QUEUE and held_by_claim(message.body, message.id, deps):
        return f"{poison_queue(queue)}: {message.id} kept; its request is held by a claim and will be built"
    recorded = deps.store.add_outcome(
        OutcomeRecord(
            request_id=request_id,
            template=template,
            outcome=Outcome.REJECTED,
            reasons=(),
            at=deps.clock(),
            detail=_why(message),
            raw=redact(message.body.decode("utf-8", "replace"))[:16_000],
        )
    )
    reason = recorded.detail if recorded.outcome is Outcome.REJECTED else _why(message)
    deps.publisher.publish(
        request_poisoned(
            queue=queue,
            message_id=message.id,
            request_id=request_id,
            template=template,
            reason=reason,
            kept_at=kept_at,
            now=deps.clock(),
        )
    )
    return f"{poison_queue(queue)}: {message.id} recorded ({reason[:200]})"


def _why(message: RawMessage) -> str:
    if not message.decodable:
        return "not base64: the Functions host moved it to the poison queue without running any function"
    return "the Functions host gave up on it after maxDequeueCount failed attempts"
