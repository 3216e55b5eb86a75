"""Hostile-input fuzzing, heavy form (issue 5, item 7): 10,000+ cases per scenario, one line each.

    .venv/bin/python bench/reliability/fuzz.py                    # 10,000 cases per scenario
    .venv/bin/python bench/reliability/fuzz.py --cases 2000 --only requests,http

The strategies are tests/reliability/hostile.py's (the test suite runs a few hundred of each). Scenarios:
- requests / polls / events: the service's own intake on in-memory fakes (request and poll messages,
  gallery events through the Event Grid entrypoint, both schemas);
- queue / http / eventgrid: function_app.app in the dev host on its own Azurite: base64 queue messages
  (invalid base64 and messages past the queue's 64 KiB too), `POST /api/requests` bodies, webhook
  deliveries (and what the host refuses before any function runs).
Valid cases are interleaved with the hostile ones (hypothesis weighs the mix; the figures say how many).

Each line: cases sent; rejected with reason (a rejected record with its reason and the message on
`<queue>-poison` byte for byte; an HTTP 400 with the reason; an ignored event record with its reason;
the host's 400 for a delivery that is not events; the queue service refusing a message past 64 KiB;
the host poisoning invalid base64); accepted (valid cases that went through, and well-formed polls of
no live run: a no-op); crashes (an exception out of a handler, a failed invocation or a dev host error:
must be 0); lost (a case with none of the traces its outcome must leave: must be 0); wall time.
`main()` returns 1 when a crash or a loss was seen (bench/reliability/run.py calls it).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import seed as seeded  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.reliability import hostile  # noqa: E402
from tests.reliability.hostile import Case, EventCase  # noqa: E402

# Local builds here measure the service, not images: the few-MB busybox base image (issue 13).
os.environ.setdefault("AIBTRIGGER_LOCAL_IMAGE", "busybox")

SCENARIOS = ("requests", "polls", "events", "queue", "http", "eventgrid")
TEMPLATES = ("base", "web", "idle")  # in memory; idle is paused
CATALOG = ("fuzz-base", "fuzz-idle")  # the dev host's; valid dev host requests name fuzz-idle (paused): no builds
NEVER = "0 0 0 1 1 *"


@dataclass
class Figures:
    scenario: str
    sent: int = 0
    rejected: int = 0
    accepted: int = 0
    crashes: int = 0
    lost: int = 0
    seconds: float = 0.0
    kinds: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # the first few crashes and losses, for the reader

    def problem(self, what: str, case) -> None:
        if len(self.examples) < 5:
            self.examples.append(
                f"{what}: {getattr(case, 'kind', '?')} {getattr(case, 'note', '')} "
                f"{(getattr(case, 'body', None) or getattr(case, 'event', b''))!r:.200}"
            )

    def line(self) -> str:
        return (
            f"fuzz {self.scenario:<34} sent {self.sent:>6}  rejected with reason {self.rejected:>6}  "
            f"accepted {self.accepted:>5}  crashes {self.crashes}  lost {self.lost}  wall {self.seconds:6.1f} s"
            f"  ({len(self.kinds)} kinds of attack)"
        )


def draw(strategy, count: int, seed: int) -> list:
    """`count` examples of `strategy` (generation only: nothing to shrink)."""
    found: list = []

    @seeded(seed)  # reproducible, run after run
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(value) -> None:
        found.append(value)

    collect()
    while len(found) < count:  # hypothesis may stop a little short of max_examples
        more = draw(strategy, count - len(found), seed + len(found))
        found += more
    return found[:count]


def mixed(hostile_strategy, valid_strategy):
    return st.one_of(hostile_strategy, valid_strategy)


# --- in memory ----------------------------------------------------------------------------------------
def memory_deps():
    """The same in-memory service as tests/reliability/test_hostile_input.py (base, web, idle paused)."""
    from tests.reliability.test_hostile_input import memory_deps as hostile_deps

    return hostile_deps()


def _poison(deps, queue: str) -> list:
    return [m for m in deps.queue.sent if m.queue == queue + "-poison"]


def _intake(figures: Figures, deps, handler, queue: str, cases: list[Case], *, valid_results) -> None:
    from aibtrigger.domain.records import Outcome

    for index, case in enumerate(cases):
        figures.sent += 1
        figures.kinds[case.kind] += 1
        outcomes, poisoned = len(deps.store.outcomes), len(_poison(deps, queue))
        try:
            result = handler(case.body, message_id=f"fz-msg-{index}", dequeue_count=1 + index % 5, deps=deps)
        except Exception as exc:  # noqa: BLE001 - a crash: what the bench counts
            figures.crashes += 1
            figures.problem(f"{type(exc).__name__}: {exc}"[:120], case)
            continue
        if case.hostile:
            new = list(deps.store.outcomes.values())[outcomes:]
            kept = _poison(deps, queue)[poisoned:]
            if (
                result == "rejected"
                and len(new) == 1
                and new[0].outcome is Outcome.REJECTED
                and new[0].detail
                and len(kept) == 1
                and kept[0].text.encode("utf-8", "surrogateescape") == case.body
            ):
                figures.rejected += 1
            else:
                figures.lost += 1
                figures.problem(f"not rejected and kept ({result})", case)
        elif valid_results(case, result, deps):
            figures.accepted += 1
        else:
            figures.lost += 1
            figures.problem(f"valid case ended {result}", case)


def fuzz_requests(count: int, seed: int) -> Figures:
    from aibtrigger.service_layer.intake import handle_request_message

    figures, cases = (
        Figures("requests (intake, in memory)"),
        draw(mixed(hostile.hostile_request(TEMPLATES), hostile.valid_request(TEMPLATES)), count, seed),
    )
    started, deps = time.monotonic(), memory_deps()

    def valid(case, result, deps) -> bool:
        message = json.loads(case.body)
        recorded = deps.store.get_outcome(message["template"], message["id"])
        expected = ("skipped",) if message["template"] == "idle" else ("started", "coalesced")
        return result in expected and recorded is not None and recorded.outcome.value == result

    for start in range(0, len(cases), 500):  # a fresh store now and then: a long-lived one only grows
        deps = memory_deps() if start else deps
        _intake(figures, deps, handle_request_message, "aib-requests", cases[start : start + 500], valid_results=valid)
    figures.seconds = time.monotonic() - started
    return figures


def fuzz_polls(count: int, seed: int) -> Figures:
    from aibtrigger.service_layer.intake import handle_poll_message, handle_request_message

    tampered = st.sampled_from(["Infinity", "1e400", "1e300", "NaN", "-1", "1e12"]).map(
        lambda v: Case("tampered", v.encode(), v)
    )
    figures, cases = (
        Figures("polls (intake, in memory)"),
        draw(st.one_of(hostile.hostile_poll(TEMPLATES), tampered, hostile.stale_poll(TEMPLATES)), count, seed),
    )
    started = time.monotonic()
    for start in range(0, len(cases), 500):
        deps = memory_deps()
        assert (
            handle_request_message(b'{"template": "base", "id": "live"}', message_id="live", dequeue_count=1, deps=deps)
            == "started"
        )
        [genuine] = [json.loads(m.text) for m in deps.queue.sent if m.queue == "aib-polls"]
        batch = [
            Case("tampered", json.dumps({**genuine, "expected_seconds": None}).replace("null", c.note).encode(), c.note)
            if c.kind == "tampered"
            else c
            for c in cases[start : start + 500]
        ]
        _intake(
            figures,
            deps,
            handle_poll_message,
            "aib-polls",
            batch,
            valid_results=lambda case, result, deps: result == "stale",
        )
        if (
            handle_poll_message(json.dumps(genuine).encode(), message_id="live-poll", dequeue_count=1, deps=deps)
            != "polling"
        ):  # the live chain outlived the batch
            figures.lost += 1
            figures.problem("the live poll chain was hurt", Case("valid", json.dumps(genuine).encode()))
    figures.seconds = time.monotonic() - started
    return figures


def _record_id(event: dict) -> str:
    from aibtrigger.service_layer.events import _show

    key = event.get("id") if isinstance(event.get("id"), str) else _show(event.get("id"))
    return "event-" + hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _trigger(raw: dict):
    import azure.functions as func

    from aibtrigger.devhost.eventgrid import to_event

    class Spec:
        trigger = {"name": "event"}

        @staticmethod
        def annotation(name):
            return func.EventGridEvent

    return to_event(raw, Spec())


def fuzz_events(count: int, seed: int) -> Figures:
    import aibtrigger.bootstrap as bootstrap
    from aibtrigger.domain.records import Outcome

    images = ("i", "other")
    figures, cases = (
        Figures("gallery events (service, both schemas)"),
        draw(mixed(hostile.hostile_event(images), hostile.valid_event(images)), count, seed),
    )
    started, deps, saved = time.monotonic(), memory_deps(), bootstrap.get_deps
    from aibtrigger.entrypoints import eventgrid

    function = eventgrid.on_gallery_event._function.get_user_function()  # not app.get_functions(): the dev
    # host indexes function_app.app later in this process, and an app refuses to be indexed twice
    bootstrap.get_deps = lambda: deps  # the entrypoint asks bootstrap for its dependencies
    try:
        for case in cases:
            figures.sent += 1
            figures.kinds[case.kind] += 1
            if not case.hostile:
                deps.sources.gallery[case.event["data"]["resourceUri"].lower()] = {"provisioningState": "Succeeded"}
            try:
                function(_trigger(case.event))
            except Exception as exc:  # noqa: BLE001
                figures.crashes += 1
                figures.problem(f"{type(exc).__name__}: {exc}"[:120], case)
                continue
            record = deps.store.get_outcome("", _record_id(case.event))
            expected = Outcome.IGNORED if case.hostile else Outcome.PLANNED
            if record is not None and record.outcome is expected and record.detail:
                figures.rejected += case.hostile
                figures.accepted += not case.hostile
            else:
                figures.lost += 1
                figures.problem(f"recorded {record and record.outcome}", case)
    finally:
        bootstrap.get_deps = saved
    figures.seconds = time.monotonic() - started
    return figures


# --- through the dev host -------------------------------------------------------------------------------------
class Failures(logging.Handler):
    SIGNS = ("(Failed,", "Dev host failed on", "Unexpected error in dev host thread")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(sign in message for sign in self.SIGNS):
            self.seen.append(message[:300])


@contextmanager
def dev_stack():
    """function_app.app in the dev host, on an Azurite of its own; yields (host, deps, failures)."""
    import yaml

    from aibtrigger import bootstrap
    from aibtrigger.adapters.local.marketplace import LocalMarketplace
    from aibtrigger.config import load_settings
    from aibtrigger.devhost.azurite import start_azurite
    from aibtrigger.devhost.host import DevHost

    tmp = Path(tempfile.mkdtemp(prefix="aibtrigger-fuzz-"))
    source = {
        "type": "PlatformImage",
        "publisher": "Canonical",
        "offer": "0001-com-ubuntu-server-jammy",
        "sku": "hostile-fuzz",
        "version": "latest",
    }
    (tmp / "catalog.yaml").write_text(
        yaml.safe_dump(
            {
                "templates": [
                    {
                        "name": name,
                        "location": "westeurope",
                        "policy": {"paused": name == "fuzz-idle"},
                        "definition": {
                            "source": source,
                            "customize": [{"type": "Shell", "name": "s", "inline": ["echo ok"]}],
                            "distribute": [
                                {
                                    "type": "SharedImage",
                                    "runOutputName": name,
                                    "galleryImageId": hostile.version_id(name).rsplit("/versions/", 1)[0],
                                }
                            ],
                        },
                    }
                    for name in CATALOG
                ]
            }
        )
    )
    azurite = start_azurite()
    saved = dict(os.environ)
    os.environ.update(
        {
            "AzureWebJobsStorage": azurite.connection_string,
            "AIBTRIGGER_BACKEND": "local",
            "AIBTRIGGER_CATALOG_PATH": str(tmp / "catalog.yaml"),
            "AIBTRIGGER_LOCAL_WORKDIR": str(tmp / "work"),
            "AIBTRIGGER_POLL_MIN_SECONDS": "0.5",
            "AIBTRIGGER_POLL_MAX_SECONDS": "1",
            "AIBTRIGGER_SWEEP_SCHEDULE": NEVER,
            "AIBTRIGGER_TICK_SCHEDULE": NEVER,
            "AIBTRIGGER_PRUNE_SCHEDULE": NEVER,
        }
    )
    os.environ.pop("AIBTRIGGER_LOCAL_EVENT_WEBHOOK", None)
    failures, devhost_log, host = Failures(), logging.getLogger("aibtrigger.devhost"), None
    devhost_log.addHandler(failures)
    bootstrap.reset()
    try:
        import function_app

        deps = bootstrap.build_deps(load_settings())
        LocalMarketplace(bootstrap.StorageClients(load_settings()).blobs()).publish(
            "westeurope", "Canonical", "0001-com-ubuntu-server-jammy", "hostile-fuzz"
        )
        host = DevHost(
            function_app.app,
            connection_string=azurite.connection_string,
            message_visibility=60,
            host_json={
                "version": "2.0",
                "extensions": {
                    "queues": {
                        "batchSize": 32,
                        "newBatchThreshold": 16,
                        "maxDequeueCount": 5,
                        "visibilityTimeout": "00:00:00",
                        "maxPollingInterval": "00:00:00.2",
                    }
                },
            },
        ).start()
        yield host, deps, failures, azurite
    finally:
        devhost_log.removeHandler(failures)
        if host is not None:
            host.stop(timeout=15)
        azurite.stop()
        os.environ.clear()
        os.environ.update(saved)
        bootstrap.reset()


def _keys(deps, partition: str | None = None) -> dict[str, object]:
    """Every outcome record (RowKey -> record), or those of one partition."""
    return {o.request_id: o for o in deps.store.list_outcomes(partition, limit=10**9)}


def _own_id(body: bytes) -> str | None:
    try:
        value = json.loads(body).get("id")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def fuzz_queue(count: int, seed: int, stack) -> Figures:
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
    from azure.storage.queue import QueueClient

    host, deps, failures, azurite = stack
    invalid_base64 = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=100).filter(
        lambda t: any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=" for c in t)
    )
    figures, cases = (
        Figures("queue messages (dev host, Azurite)"),
        draw(
            st.one_of(
                hostile.hostile_request(CATALOG),
                invalid_base64.map(lambda t: Case("invalid-base64", t.encode(), t)),
                hostile.valid_request(("fuzz-idle",)),
            ),
            count,
            seed,
        ),
    )
    requests = QueueClient.from_connection_string(azurite.connection_string, "aib-requests")
    poison = QueueClient.from_connection_string(azurite.connection_string, "aib-requests-poison")
    failures_before, started = len(failures.seen), time.monotonic()

    def send(case: Case):
        content = case.body.decode() if case.kind == "invalid-base64" else base64.b64encode(case.body).decode()
        try:
            return case, content, requests.send_message(content).id
        except HttpResponseError:
            return case, content, None  # past 64 KiB: the queue service refuses it; no loop can ever see it

    kept: Counter = Counter()

    def delete(message) -> None:
        try:
            poison.delete_message(message)
        except ResourceNotFoundError:
            pass  # already gone (its receipt went stale under load, and it was seen again): counted once

    def drain() -> None:
        while page := list(poison.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=600)):
            for message in page:
                kept[message.content] += 1
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(delete, page))

    def traced(item, records) -> bool:
        case, content, message_id = item
        if message_id is None:
            return True
        if case.kind == "invalid-base64":
            return kept[content] > 0
        if case.hostile:
            record = records.get(message_id) or records.get(_own_id(case.body) or "")
            return record is not None and kept[content] > 0
        record = records.get(json.loads(case.body)["id"])
        return record is not None and record.outcome.value == "skipped"

    # In waves of 500: Azurite slows down with thousands of messages waiting in one queue.
    sent: list = []
    with ThreadPoolExecutor(16) as pool:
        for wave in range(0, len(cases), 500):
            sent += pool.map(send, cases[wave : wave + 500])
            give_up = time.monotonic() + 300  # a message that never leaves shows as lost below
            while requests.get_queue_properties().approximate_message_count and time.monotonic() < give_up:
                time.sleep(0.5)
            drain()
    last_progress = time.monotonic()
    pending = sent
    while pending and time.monotonic() - last_progress < 60:
        drain()
        records = _keys(deps)
        still = [item for item in pending if not traced(item, records)]
        if len(still) < len(pending):
            last_progress = time.monotonic()
        pending = still
        if pending:
            time.sleep(2.0)
    figures.seconds = time.monotonic() - started
    records, unresolved = _keys(deps), {id(item) for item in pending}
    for item in sent:
        case, content, message_id = item
        figures.sent += 1
        figures.kinds[case.kind] += 1
        if id(item) in unresolved:
            figures.lost += 1
            figures.problem("no record or poison copy", case)
        elif not case.hostile:
            figures.accepted += 1
        elif message_id is None or case.kind == "invalid-base64":
            figures.rejected += 1  # refused by the queue service / poisoned by the host, as Azure does
        else:
            record = records.get(message_id) or records.get(_own_id(case.body) or "")
            ok = record.outcome.value == "rejected" and record.detail
            figures.rejected += bool(ok)
            figures.lost += not ok
    figures.crashes = len(failures.seen) - failures_before
    return figures


def _post(url: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def fuzz_http(count: int, seed: int, stack) -> Figures:
    host, deps, failures, azurite = stack
    figures, cases = (
        Figures("POST /api/requests (dev host)"),
        draw(
            mixed(hostile.hostile_request(CATALOG, http=True), hostile.valid_request(("fuzz-idle",), http=True)),
            count,
            seed,
        ),
    )
    failures_before, started = len(failures.seen), time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda c: _post(host.base_url + "/api/requests", c.body, {}), cases))
    valid_ids = []
    for case, (status, body) in zip(cases, answers, strict=True):
        figures.sent += 1
        figures.kinds[case.kind] += 1
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        if case.hostile and status == 400 and str(answer.get("error", "")).strip():
            figures.rejected += 1
        elif not case.hostile and status == 202:
            valid_ids.append((case, json.loads(case.body)["id"]))
        else:
            figures.lost += 1
            figures.problem(f"HTTP {status}", case)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the accepted ones went to the queue: each must end skipped
        records = _keys(deps, "fuzz-idle")
        if all(rid in records for _, rid in valid_ids):
            break
        time.sleep(0.5)
    records = _keys(deps, "fuzz-idle")
    for case, rid in valid_ids:
        if rid in records and records[rid].outcome.value == "skipped":
            figures.accepted += 1
        else:
            figures.lost += 1
            figures.problem("accepted but no outcome", case)
    figures.crashes = len(failures.seen) - failures_before
    figures.seconds = time.monotonic() - started
    return figures


def fuzz_eventgrid(count: int, seed: int, stack) -> Figures:
    host, deps, failures, azurite = stack
    url = host.base_url + "/runtime/webhooks/EventGrid?functionName=on_gallery_event"
    figures = Figures("Event Grid webhook (dev host, both schemas)")
    events = draw(mixed(hostile.hostile_event(CATALOG), hostile.valid_event(CATALOG)), count * 9 // 10, seed)
    refused = draw(hostile.hostile_delivery(), count - len(events), seed + 1)
    failures_before, started = len(failures.seen), time.monotonic()
    deliveries: list[tuple[list[EventCase] | Case, bytes]] = []
    for start in range(0, len(events), 4):  # deliveries of up to 4 events, one schema each
        for schema in ("eventgrid", "cloudevents"):
            batch = [c for c in events[start : start + 4] if c.schema == schema]
            if batch:
                deliveries.append((batch, json.dumps([c.event for c in batch]).encode()))
    deliveries += [(case, case.body) for case in refused]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda d: _post(url, d[1], {"aeg-event-type": "Notification"}), deliveries))
    records = _keys(deps, "")
    for (what, _), (status, body) in zip(deliveries, answers, strict=True):
        if isinstance(what, Case):  # refused by the host before any function: 400 with why
            figures.sent += 1
            figures.kinds[what.kind] += 1
            ok = status == 400 and body.strip()
            figures.rejected += bool(ok)
            if not ok:
                figures.lost += 1
                figures.problem(f"HTTP {status}", what)
            continue
        for case in what:
            figures.sent += 1
            figures.kinds[case.kind] += 1
            record = records.get(_record_id(case.event))
            expected = "ignored" if case.hostile else "planned"
            if status == 202 and record is not None and record.outcome.value == expected and record.detail:
                figures.rejected += case.hostile
                figures.accepted += not case.hostile
            else:
                figures.lost += 1
                figures.problem(f"HTTP {status}, recorded {record and record.outcome}", case)
    figures.crashes = len(failures.seen) - failures_before
    figures.seconds = time.monotonic() - started
    return figures


# --- entry points ------------------------------------------------------------------------------------------------
def run(cases: int = 10_000, only: tuple[str, ...] = SCENARIOS, seed: int = 20261122, out=print) -> list[Figures]:
    quiet, level = logging.getLogger("aibtrigger"), logging.getLogger("aibtrigger").level
    quiet.setLevel(logging.ERROR)  # ten thousand rejections would flood the console
    try:
        return _run(cases, only, seed, out)
    finally:
        quiet.setLevel(level)


def _run(cases: int, only: tuple[str, ...], seed: int, out) -> list[Figures]:
    results = []
    memory = {"requests": fuzz_requests, "polls": fuzz_polls, "events": fuzz_events}
    for name in [n for n in only if n in memory]:
        results.append(memory[name](cases, seed))
        out(results[-1].line())
    devhost = [n for n in only if n not in memory]
    if devhost:
        with dev_stack() as stack:
            for name in devhost:
                results.append(
                    {"queue": fuzz_queue, "http": fuzz_http, "eventgrid": fuzz_eventgrid}[name](cases, seed, stack)
                )
                out(results[-1].line())
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per scenario (default 10,000)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument("--seed", type=int, default=20261122, help="the same seed draws the same cases")
    args = parser.parse_args(argv or [])
    only = tuple(args.only.split(",")) if args.only else SCENARIOS
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    results = run(args.cases, only, args.seed, out=lambda line: print(line, flush=True))
    bad = [f for f in results if f.crashes or f.lost]
    for figures in bad:
        for example in figures.examples:
            print(f"  {figures.scenario}: {example}")
    print(
        f"hostile input: {sum(f.sent for f in results)} cases in {len(results)} scenarios, "
        f"{sum(f.crashes for f in results)} crashes, {sum(f.lost for f in results)} lost",
        flush=True,
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
