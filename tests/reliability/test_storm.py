"""Duplicate storm (issue 5, item 1): Event Grid delivers at least once, sometimes many times, to every
instance at once. The same gallery version event N times, concurrently, to 4 workers sharing one Azurite
-> exactly one Run per affected template (web-tier and api-tier, both built from ubuntu-base's image),
counted by the backend (one builder per accepted Run), by the run records and by the published results.

The last two tests pin down, deterministically, races the storm's duplicate deliveries can hit (found
by this suite; each failed before its fix in aibtrigger/service_layer/requests.py): a duplicate of a
request that read the claim while it was still 'starting' and stalled until the run had ended
(request_build: it Ran the template a second time), and one that stalled while holding the run's record
as it was before the run ended (it wrote the finished run back to Running; run records are now written conditionally).
"""

from __future__ import annotations

import json
import threading

import pytest

from bench.reliability.scenarios import duplicate_storm, storm_cluster
from tests.reliability.conftest import assert_clean


@pytest.mark.e2e
def test_the_same_event_delivered_100_times_to_4_workers_starts_one_run_per_affected_template(clusters):
    cluster = clusters(storm_cluster, workers=4)
    figures = duplicate_storm(cluster, deliveries=100)
    assert_clean(figures, builds=2)  # web-tier and api-tier, once each; ubuntu-base and the rest never
    assert figures.signals == 100 and len(cluster.live_workers()) == 4


@pytest.mark.e2e
@pytest.mark.slow
def test_the_same_event_delivered_1000_times_to_4_workers_starts_one_run_per_affected_template(clusters):
    cluster = clusters(storm_cluster, workers=4)
    assert_clean(duplicate_storm(cluster, deliveries=1000, concurrency=64), builds=2)


# --- the races, made deterministic (in-memory store and backend, two threads paused at chosen points) -----
DEFINITION = {
    "source": {
        "type": "PlatformImage",
        "publisher": "Canonical",
        "offer": "ubuntu",
        "sku": "22_04",
        "version": "latest",
    },
    "customize": [{"type": "Shell", "name": "hello", "inline": ["echo hello"]}],
    "distribute": [
        {
            "type": "SharedImage",
            "runOutputName": "out",
            "galleryImageId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i",
        }
    ],
    "buildTimeoutInMinutes": 60,
}


class _PausingStore:
    """The in-memory store, with hooks run after the calls a given thread makes: `after[(thread, method)]`
    is a list, one entry per call in order (None: no hook for that call)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.after: dict[tuple[str, str], list] = {}

    def __getattr__(self, name):
        method = getattr(self.inner, name)

        def call(*args, **kwargs):
            result = method(*args, **kwargs)
            hooks = self.after.get((threading.current_thread().name, name))
            hook = hooks.pop(0) if hooks else None
            if hook is not None:
                hook()
            return result

        return call


def _flow(store):
    from aibtrigger.catalog import parse_catalog
    from tests.fakes import Clock, ScriptedBackend, memory_deps

    clock = Clock()
    backend = ScriptedBackend(clock, {"base"})
    catalog = parse_catalog({"templates": [{"name": "base", "definition": DEFINITION}]})
    return clock, backend, memory_deps(catalog, clock, backend=backend, store=store)


def _in_thread(name: str, target) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def test_a_duplicate_delivery_stalled_past_the_whole_run_starts_no_second_run():
    """Delivery A claims the template; delivery B of the same request (same id) reads that claim while it
    is still 'starting', then stalls. A starts the Run; the build ends; its poll chain records, publishes
    and releases the claim. Then B goes on: its claim is stale, its conditional write fails, and it retries.
    The request has been served by A's run: B must end there, not claim the template again and Run twice."""
    from aibtrigger.adapters.state_store import InMemoryStateStore
    from aibtrigger.domain.model import RunState
    from aibtrigger.names import POLLS_QUEUE
    from aibtrigger.service_layer.intake import handle_poll_message, handle_request_message

    store = _PausingStore(InMemoryStateStore())
    clock, backend, deps = _flow(store)
    body = json.dumps({"template": "base", "reason": "gallery event", "id": "cascade-1-base"}).encode()
    a_claimed, b_read_claim, run_over = threading.Event(), threading.Event(), threading.Event()
    store.after[("A", "create_claim")] = [lambda: (a_claimed.set(), b_read_claim.wait(10))]
    store.after[("B", "get_claim")] = [lambda: (b_read_claim.set(), run_over.wait(10))]
    outcomes = {}

    def deliver(name: str):
        return lambda: outcomes.__setitem__(
            name, handle_request_message(body, message_id=f"message-{name}", dequeue_count=1, deps=deps)
        )

    a = _in_thread("A", deliver("A"))
    assert a_claimed.wait(10)
    b = _in_thread("B", deliver("B"))
    a.join(10)
    assert outcomes["A"] == "started" and b.is_alive()
    clock.advance(minutes=5)
    backend.finish("base", RunState.SUCCEEDED)
    polls = [m for m in deps.queue.sent if m.queue == POLLS_QUEUE]
    assert [
        handle_poll_message(m.text.encode(), message_id=f"poll-{i}", dequeue_count=1, deps=deps)
        for i, m in enumerate(polls)
    ] == ["finished"]
    assert deps.store.get_claim("base") is None
    clock.advance(seconds=1)
    run_over.set()
    b.join(10)

    assert backend.runs_started == ["base"], "the backend was asked to Run twice for one request"
    [run] = store.inner.list_runs("base")
    assert run.state is RunState.SUCCEEDED and run.request_ids == ("cascade-1-base",)
    assert outcomes["B"] == "started"  # the request's one outcome, as A recorded it
    assert deps.store.get_claim("base") is None


def test_a_stalled_duplicate_delivery_never_turns_a_finished_run_back_to_running():
    """B, a duplicate of the request that started the run, adopts it and reads its record while it runs,
    then stalls. The run ends: its poll chain records it terminal and published, and is about to release
    the claim. B goes on: it takes the claim for a new poll chain and schedules a poll. Whatever B writes,
    the run must stay terminal and published (one terminal record), and no poll chain may be left that
    cannot finish it."""
    from aibtrigger.adapters.state_store import InMemoryStateStore
    from aibtrigger.domain.model import RunState
    from aibtrigger.names import POLLS_QUEUE
    from aibtrigger.service_layer.intake import handle_poll_message, handle_request_message

    store = _PausingStore(InMemoryStateStore())
    clock, backend, deps = _flow(store)
    body = json.dumps({"template": "base", "reason": "gallery event", "id": "cascade-1-base"}).encode()
    a_claimed, b_read_claim, b_read_run, published, b_done = (threading.Event() for _ in range(5))
    store.after[("A", "create_claim")] = [lambda: (a_claimed.set(), b_read_claim.wait(10))]
    store.after[("B", "get_claim")] = [lambda: (b_read_claim.set(), a_done.wait(10))]
    store.after[("B", "get_run")] = [lambda: (b_read_run.set(), published.wait(10))]
    # The poll chain's save_run calls: the terminal record, then "published"; it pauses after the second.
    store.after[("P", "save_run")] = [None, lambda: (published.set(), b_done.wait(10))]
    a_done = threading.Event()
    outcomes = {}

    def deliver(name: str):
        def run():
            outcomes[name] = handle_request_message(body, message_id=f"message-{name}", dequeue_count=1, deps=deps)
            if name == "A":
                a_done.set()

        return run

    a = _in_thread("A", deliver("A"))
    assert a_claimed.wait(10)
    b = _in_thread("B", deliver("B"))
    a.join(10)
    assert outcomes["A"] == "started"  # B holds the claim as it was before A started the build
    clock.advance(minutes=5)
    backend.finish("base", RunState.SUCCEEDED)
    [poll] = [m for m in deps.queue.sent if m.queue == POLLS_QUEUE]
    deps.queue.sent.remove(poll)
    results = []
    p = _in_thread(
        "P",
        lambda: results.append(
            handle_poll_message(poll.text.encode(), message_id="poll-A", dequeue_count=1, deps=deps)
        ),
    )
    b.join(10)
    b_done.set()
    p.join(10)
    assert results == ["finished"] and outcomes["B"] == "started"
    # Whatever poll B scheduled runs too (a stale chain does nothing).
    for i, message in enumerate([m for m in deps.queue.sent if m.queue == POLLS_QUEUE]):
        handle_poll_message(message.text.encode(), message_id=f"poll-B-{i}", dequeue_count=1, deps=deps)

    [run] = store.inner.list_runs("base")
    assert run.state is RunState.SUCCEEDED and run.published, f"the finished run went back to {run.state}"
    assert backend.runs_started == ["base"] and deps.store.get_claim("base") is None
