"""Backend faults (issue 5, item 5): bursts of 429s, 5xx and timeouts from ARM during a marketplace sweep
and while builds are started and polled, against the fake ARM (tests/fakearm), through the service's
own handlers with the production AibBackend and AzureSources.

Shown for each: every throttled call is retried once, after exactly its Retry-After (the fake keeps
refusing until Retry-After has passed, so an early retry would collect a second 429); faults within
the SDK's retry budget cost nothing more than the retries; a burst beyond it fails one invocation,
which the queue redelivers; no template gets a second Run; no claim stays; every run reaches one
terminal, published record; nothing is poisoned.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from azure.core.pipeline.transport import RequestsTransport

from aibtrigger.catalog import parse_catalog
from aibtrigger.domain.planner_types import BUILD
from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE
from aibtrigger.service_layer.intake import MAX_DEQUEUE_COUNT, handle_poll_message, handle_request_message
from aibtrigger.service_layer.planning import sweep_sources
from tests.fakearm import FakeArm, FakeClock, Fault, Timeline
from tests.fakearm.fixtures import arm_credential, arm_tls, make_backend, make_sources  # noqa: F401 - fixtures
from tests.fakearm.service import service_deps
from tests.fakearm.throttle import Throttle

OFFER = ("westeurope", "Canonical", "0001-com-ubuntu-server-jammy")
SKUS = ("sku-a", "sku-b", "sku-c")
TEMPLATES = [f"t{index:02d}" for index in range(12)]  # many templates, few sources: t00 a, t01 b, t02 c, ...
READ_TIMEOUT, SLOW = 0.5, 1.5  # a slow answer comes after the client stopped waiting: a timeout
ROOMY = Throttle(reads=(100_000, 1_000), writes=(100_000, 1_000))  # only the injected faults throttle


class SourceFaultArm(FakeArm):
    """The fake ARM, where a fault can aim at one marketplace source (its sku stands in for the template
    name Fault.template matches), and every answer is logged as (kind, method, name, status)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.answers: list[tuple[str, str, str | None, int]] = []
        self._answers_lock = threading.Lock()

    def _answer(self, method, kind, params, query, headers):
        if kind == "vmImages":
            params["name"] = params["sku"]
        status, body, extra = super()._answer(method, kind, params, query, headers)
        with self._answers_lock:
            self.answers.append((kind, method, params.get("name"), status))
        return status, body, extra

    def statuses(self, kind: str, method: str = "GET") -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        with self._answers_lock:
            for k, m, name, status in self.answers:
                if (k, m) == (kind, method):
                    found.setdefault(name, []).append(status)
        return found

    def fired(self, kind: str, method: str = "GET") -> Counter:
        """Injected faults that fired, per target: (name, status or 'timeout')."""
        return Counter(
            (f.template, f.status or "timeout") for f in self.faults.fired if (f.kind, f.method) == (kind, method)
        )


def aimed(fault: Fault, name: str) -> Fault:
    return replace(fault, template=name)


def catalog_for(arm: FakeArm):
    entries = []
    for index, name in enumerate(TEMPLATES):
        sku = SKUS[index % len(SKUS)]
        template = arm.world.templates[name]
        entries.append(
            {
                "name": name,
                "location": OFFER[0],
                "resource_id": template["id"],
                "definition": {
                    "source": {
                        "type": "PlatformImage",
                        "publisher": OFFER[1],
                        "offer": OFFER[2],
                        "sku": sku,
                        "version": "latest",
                    },
                    "customize": [{"type": "Shell", "name": "s", "inline": ["true"]}],
                    "distribute": [
                        {
                            "type": "SharedImage",
                            "runOutputName": name,
                            "galleryImageId": template["distribute"][0]["galleryImageId"],
                        }
                    ],
                },
            }
        )
    return parse_catalog({"templates": entries})


@pytest.fixture
def retry_sleeps(monkeypatch):
    """Every wait azure-core's retry policy makes (Retry-After, or its back-off), still really slept."""
    sleeps: list[float] = []
    real = RequestsTransport.sleep
    monkeypatch.setattr(
        RequestsTransport, "sleep", lambda self, duration: (sleeps.append(duration), real(self, duration))
    )
    return sleeps


@pytest.fixture
def world(arm_tls, arm_credential):
    clock = FakeClock()
    with SourceFaultArm(arm_tls, clock=clock, throttle=ROOMY) as arm:  # staging=None: no staging logs needed
        for index, name in enumerate(TEMPLATES):
            sku = SKUS[index % len(SKUS)]
            arm.world.add_template(
                name,
                source={
                    "type": "PlatformImage",
                    "publisher": OFFER[1],
                    "offer": OFFER[2],
                    "sku": sku,
                    "version": "latest",
                },
                timeline=Timeline.minutes(6, "Failed" if index % 5 == 4 else "Succeeded"),
            )
        for sku in SKUS:
            arm.world.publish(*OFFER, sku, "22.04.202410010", "22.04.202410020")
        backend = make_backend(arm, arm_tls, arm_credential, read_timeout=READ_TIMEOUT)
        sources = make_sources(arm, arm_tls, arm_credential, read_timeout=READ_TIMEOUT)
        deps = service_deps(catalog_for(arm), backend, clock, sources=sources)
        yield arm, deps, clock


class QueueHost:
    """Delivers the service's queue messages as the Functions host does, on the fake's clock: each when
    its visibility delay has passed, up to a batch of 8 at once (concurrently); a failed invocation
    comes back after visibilityTimeout with its dequeue count + 1, and is poisoned after the fifth."""

    def __init__(self, deps, clock, *, visibility: float = 30.0, batch: int = 8) -> None:
        self.deps, self.clock, self.visibility, self.batch = deps, clock, visibility, batch
        self._pending: list = []
        self._seq = itertools.count()
        self.delivered, self.failures, self.poisoned = Counter(), [], []
        self.results: Counter = Counter()
        self._lock = threading.Lock()

    def _collect(self) -> None:
        sent, self.deps.queue.sent[:] = list(self.deps.queue.sent), []
        now = self.clock()
        for message in sent:
            if message.queue in (REQUESTS_QUEUE, POLLS_QUEUE):
                due = now.timestamp() + message.delay_seconds
                heapq.heappush(self._pending, (due, next(self._seq), message.queue, message.text, 1))
            else:
                self.poisoned.append(message)  # `<queue>-poison`: the service rejected it

    def _deliver(self, item) -> None:
        due, seq, queue, text, dequeue_count = item
        handler = handle_request_message if queue == REQUESTS_QUEUE else handle_poll_message
        self.delivered[queue] += 1
        try:
            self.results[
                handler(text.encode(), message_id=f"msg-{seq}", dequeue_count=dequeue_count, deps=self.deps)
            ] += 1
        except Exception as exc:  # noqa: BLE001 - what the host sees: the invocation failed
            self.failures.append((queue, dequeue_count, f"{type(exc).__name__}: {exc}"[:300]))
            if dequeue_count >= MAX_DEQUEUE_COUNT:
                self.poisoned.append(text)
            else:
                retry = self.clock().timestamp() + self.visibility
                with self._lock:
                    heapq.heappush(self._pending, (retry, seq, queue, text, dequeue_count + 1))

    def run(self, *, max_rounds: int = 2_000) -> None:
        with ThreadPoolExecutor(self.batch) as pool:
            for _ in range(max_rounds):
                self._collect()
                if not self._pending:
                    return
                first = self._pending[0][0]
                wait = first - self.clock().timestamp()
                if wait > 0:
                    self.clock.advance(wait)  # to the microsecond: `first` itself counts as due
                now = max(first, self.clock().timestamp())
                batch = []
                while self._pending and self._pending[0][0] <= now and len(batch) < self.batch:
                    batch.append(heapq.heappop(self._pending))
                list(pool.map(self._deliver, batch))
        raise AssertionError(
            f"still {len(self._pending)} messages pending after {max_rounds} rounds: "
            f"{dict(self.results)}, failures {self.failures[:3]}, next {self._pending[:2]}"
        )


def one_run_each(arm: SourceFaultArm, expected_posts: dict[str, list[int]] | None = None) -> None:
    """One build per template, and Run POSTed only as the faults required: never while a build ran (AIB
    would have refused it: 409), again only after a 504 that started nothing, or a 429 (never reached AIB)."""
    posts = arm.statuses("run", "POST")
    assert {name: len(arm.world.runs[name]) for name in TEMPLATES} == dict.fromkeys(TEMPLATES, 1)
    assert {name: posts.get(name) for name in TEMPLATES} == {name: [202] for name in TEMPLATES} | (expected_posts or {})


def all_finished(deps) -> None:
    runs = deps.store.list_runs(limit=1000)
    assert sorted(r.template for r in runs) == TEMPLATES  # one run record per template
    assert all(r.is_terminal and r.published for r in runs)
    assert deps.store.list_claims() == []  # no claim stays
    ids = [event["id"] for event in deps.publisher.events]
    assert sorted(ids) == sorted(f"{r.run_id}/finished" for r in runs)  # one result each, no duplicate


def test_a_sweep_rides_out_429_5xx_and_timeouts_on_the_sources_then_builds_each_template_once(world, retry_sleeps):
    arm, deps, clock = world
    arm.faults.add(
        aimed(Fault.throttled("vmImages", retry_after=1), "sku-a"),
        aimed(Fault.internal_error("vmImages"), "sku-b"),
        aimed(Fault.unavailable("vmImages"), "sku-b"),
        aimed(Fault.slow("vmImages", delay=SLOW), "sku-c"),
        aimed(Fault.internal_error("vmImages", status=502), "sku-c"),
    )
    decisions = sweep_sources(deps)  # three sources read at once, each through its own burst
    statuses = arm.statuses("vmImages")
    print(
        f"\nsweep of {len(TEMPLATES)} templates on {len(SKUS)} sources: answers {statuses}, "
        f"faults fired {dict(arm.fired('vmImages'))}, client waits {sorted(retry_sleeps)}"
    )
    assert sorted(d.template for d in decisions if d.action == BUILD) == TEMPLATES
    # Retried exactly as often as faulted, within the budget (retry_total 3): one 429 for sku-a, waited out.
    assert statuses["sku-a"] == [429, 200] and 1 in retry_sleeps  # Retry-After: 1, slept as such
    assert statuses["sku-b"] == [500, 503, 200]
    assert 502 in statuses["sku-c"] and statuses["sku-c"][-1] == 200  # (the timed-out one answers late, unread)
    assert arm.fired("vmImages")[("sku-c", "timeout")] == 1
    requests = [json.loads(m.text) for m in deps.queue.sent if m.queue == REQUESTS_QUEUE]
    assert sorted(r["template"] for r in requests) == TEMPLATES  # one request per template
    assert sweep_sources(deps) == [] and len(deps.queue.sent) == len(requests)  # seen: nothing more to do

    host = QueueHost(deps, clock)
    host.run()
    assert host.failures == [] and host.poisoned == []
    one_run_each(arm)
    all_finished(deps)


def test_starts_and_polls_ride_out_bursts_and_a_burst_past_the_budget_is_redelivered(world, retry_sleeps):
    arm, deps, clock = world
    for name in TEMPLATES:  # what a sweep would have queued
        deps.queue.send(REQUESTS_QUEUE, {"template": name, "id": f"req-{name}", "reason": "burst test"})
    # While starting: a Run answered 504 after AIB started the build (re-read, adopted), a 504 that started
    # nothing (posted once more), a Run throttled (429 never reached AIB: retried), a Run answered too late.
    arm.faults.add(
        aimed(Fault.gateway_timeout_on_run(build_started=True), "t01"),
        aimed(Fault.gateway_timeout_on_run(build_started=False), "t02"),
        aimed(Fault.throttled("run", "POST", retry_after=1), "t03"),
        aimed(Fault.slow("run", "POST", delay=SLOW, start_build=True), "t04"),
        aimed(Fault.internal_error("template", times=2), "t05"),
    )
    host = QueueHost(deps, clock)
    host._collect()
    first = [heapq.heappop(host._pending) for _ in range(len(TEMPLATES))]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(host._deliver, first))
    assert host.results["started"] == len(TEMPLATES) and host.failures == []
    # While polling: a throttling window across every template read in it; 5xx within the budget; a 503
    # burst past it on t07 (4 attempts fail: the poll fails and is redelivered); timeouts; runOutputs errors.
    arm.faults.add(
        Fault.throttled("template", retry_after=1),
        aimed(Fault.unavailable("template", times=6), "t07"),
        aimed(Fault.slow("template", delay=SLOW), "t09"),
        aimed(Fault.internal_error("template", status=504, times=2), "t10"),
        aimed(Fault.internal_error("runOutputs", times=1), "t11"),
    )
    host.run()
    # Per kind of call: t03's Run was throttled while starting, and its template read may fall in the
    # polling phase's throttling window too; each throttled call is what must be retried once.
    throttled = Counter((kind, method, name) for kind, method, name, status in arm.answers if status == 429)
    print(
        f"\n{len(TEMPLATES)} builds under bursts: {dict(host.delivered)} deliveries, {dict(host.results)}, "
        f"{len(host.failures)} failed invocation(s) redelivered, 429s {dict(throttled)}, "
        f"faults fired {len(arm.faults.fired)}, client waits of Retry-After {retry_sleeps.count(1)}"
    )
    assert throttled and max(throttled.values()) == 1  # each throttled call retried once, after Retry-After
    assert retry_sleeps.count(1) >= sum(throttled.values())  # ... and it waited Retry-After (1 s) each time
    assert [(queue, count) for queue, count, _ in host.failures] == [(POLLS_QUEUE, 1)]  # only the burst past it
    assert "ServiceUnavailable" in host.failures[0][2] and host.poisoned == []
    # t01: 504 after AIB started it (adopted, not re-posted); t02: 504 that started nothing (posted once
    # more); t03: 429 (retried after Retry-After); t04: started, but answered too late (adopted by re-reading;
    # the fake's late answer, never read, is its refusal of its own second start).
    one_run_each(arm, {"t01": [504], "t02": [504, 202], "t03": [429, 202], "t04": [409]})
    all_finished(deps)
