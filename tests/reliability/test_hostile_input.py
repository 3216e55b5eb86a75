"""Hostile input never crashes a worker loop or poisons its neighbours (DESIGN.md, Invariants).

Property-based (hypothesis, strategies in tests/reliability/hostile.py), at two levels:
- the service's own intake, on in-memory fakes: request and poll messages, gallery events (through
  the Event Grid entrypoint itself, both schemas), a few hundred cases per property;
- the dev host running function_app.app on Azurite: base64 queue messages (invalid base64 too),
  `POST /api/requests` bodies, Event Grid webhook deliveries in both schemas.

Every hostile case ends in a clean rejection with its reason and the message kept (a rejected record
and a verbatim copy on `<queue>-poison`; 400 with the reason for HTTP; an ignored record, or the host's
400 for a delivery that is not events at all), valid messages in the same batch go through, and the
loop keeps serving. `bench/reliability/fuzz.py` runs the same strategies 10,000+ times.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aibtrigger.catalog import parse_catalog
from aibtrigger.domain.model import RunState
from aibtrigger.domain.records import Outcome
from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.intake import handle_poll_message, handle_request_message
from tests.fakes import Clock
from tests.fakes import memory_deps as in_memory
from tests.reliability import hostile
from tests.reliability.hostile import Case, EventCase

ROOT = Path(__file__).resolve().parents[2]
# CI: a few hundred cases per property, the same ones on every run (derandomize), no example database.
CI = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
SLOW_CI = settings(CI, max_examples=40)  # each case round-trips through Azurite and the dev host

# --- in-memory deps ---------------------------------------------------------------------------------
GALLERY = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/"
TEMPLATES = ("base", "web", "idle")  # idle is paused
BUILDABLE = ("base", "web")


def _definition(image: str) -> dict:
    return {
        "source": {
            "type": "PlatformImage",
            "publisher": "Canonical",
            "offer": "ubuntu",
            "sku": "22_04",
            "version": "latest",
        },
        "customize": [{"type": "Shell", "name": "hello", "inline": ["echo hello"]}],
        "distribute": [{"type": "SharedImage", "runOutputName": "out", "galleryImageId": GALLERY + image}],
        "buildTimeoutInMinutes": 60,
    }


def memory_deps() -> Deps:
    catalog = parse_catalog(
        {"templates": [{"name": n, "definition": _definition(n), "policy": {"paused": n == "idle"}} for n in TEMPLATES]}
    )
    return in_memory(catalog, Clock())


def poisoned(deps: Deps, queue: str) -> list[bytes]:
    """What reached `<queue>-poison`, as bytes (the in-memory queue keeps text; surrogateescape is lossless)."""
    return [m.text.encode("utf-8", "surrogateescape") for m in deps.queue.sent if m.queue == queue + "-poison"]


def sent_to(deps: Deps, queue: str) -> list[str]:
    return [m.text for m in deps.queue.sent if m.queue == queue]


def assert_rejected_and_kept(
    deps: Deps, case: Case, result, queue: str, poison_before: int, outcomes_before: set
) -> None:
    """Rejected, one new rejected record with its reason (keyed by the message's id, or its own valid
    `id` field), and a byte-for-byte copy on the poison queue."""
    from aibtrigger.service_layer.intake import known_template, rejection_id

    why = f"{case.kind} ({case.note}): {case.body[:120]!r}"
    assert result == "rejected", f"{why} -> {result}"
    # Keyed by its bytes (the watcher finds it again from the poison copy): a second identical body
    # shares the first one's record.
    record = deps.store.get_outcome(known_template(case.body, deps), rejection_id(case.body))
    new = [o for key, o in deps.store.outcomes.items() if key not in outcomes_before]
    assert new in ([record], []) and record.outcome is Outcome.REJECTED and record.detail.strip(), why
    kept = poisoned(deps, queue)
    assert len(kept) == poison_before + 1 and kept[-1] == case.body, f"{why}: not kept verbatim in {queue}-poison"


# --- requests ----------------------------------------------------------------------------------------
@CI
@given(case=hostile.hostile_request(TEMPLATES), dequeue_count=st.integers(1, 5))
def test_every_hostile_request_is_rejected_with_its_reason_and_kept(case: Case, dequeue_count: int):
    deps = memory_deps()
    result = handle_request_message(case.body, message_id="m-1", dequeue_count=dequeue_count, deps=deps)
    assert_rejected_and_kept(deps, case, result, REQUESTS_QUEUE, 0, set())
    assert deps.store.claims == {} and deps.backend.runs_started == []  # nothing was built, nothing claimed
    assert sent_to(deps, REQUESTS_QUEUE) == sent_to(deps, POLLS_QUEUE) == []


@CI
@given(
    batch=st.lists(
        st.one_of(hostile.hostile_request(TEMPLATES), hostile.valid_request(TEMPLATES)), min_size=2, max_size=12
    )
)
def test_valid_requests_in_a_hostile_batch_go_through(batch: list[Case]):
    deps = memory_deps()
    for index, case in enumerate(batch):
        message_id = f"m-{index}"
        poison_before, outcomes_before = len(poisoned(deps, REQUESTS_QUEUE)), set(deps.store.outcomes)
        result = handle_request_message(case.body, message_id=message_id, dequeue_count=1, deps=deps)
        if case.hostile:
            assert_rejected_and_kept(deps, case, result, REQUESTS_QUEUE, poison_before, outcomes_before)
            continue
        message = json.loads(case.body)
        expected = "skipped" if message["template"] == "idle" else ("started", "coalesced")
        assert result in expected, f"valid {message} -> {result}"
        assert deps.store.get_outcome(message["template"], message["id"]).outcome.value == result
    valid = [json.loads(c.body) for c in batch if not c.hostile]
    started = deps.backend.runs_started
    assert sorted(started) == sorted(set(started)) == sorted({m["template"] for m in valid} & set(BUILDABLE))
    assert len(poisoned(deps, REQUESTS_QUEUE)) == sum(c.hostile for c in batch)


# --- polls ---------------------------------------------------------------------------------------------
def _running(deps: Deps) -> dict:
    """Start a build of `base`: its genuine poll message (the live chain the hostile ones must not hurt)."""
    body = json.dumps({"template": "base", "id": "genuine"}).encode()
    assert handle_request_message(body, message_id="genuine", dequeue_count=1, deps=deps) == "started"
    [poll] = [json.loads(m.text) for m in deps.queue.sent if m.queue == POLLS_QUEUE]
    deps.queue.sent.clear()
    return poll


tampered = st.builds(lambda v: v, st.sampled_from(["Infinity", "1e400", "1e300", "NaN", "-1", "1e12"]))


@CI
@given(
    batch=st.lists(
        st.one_of(
            hostile.hostile_poll(TEMPLATES),
            hostile.stale_poll(TEMPLATES),
            tampered.map(lambda v: Case("tampered", v.encode(), v)),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_hostile_polls_are_rejected_and_kept_and_the_live_chain_goes_on(batch: list[Case]):
    deps = memory_deps()
    poll = _running(deps)
    for index, case in enumerate(batch):
        if case.kind == "tampered":  # the genuine message, its expected_seconds no clock can hold
            body = json.dumps({**poll, "expected_seconds": None}).replace("null", case.body.decode()).encode()
            case = Case("tampered", body, case.note)
        message_id = f"p-{index}"
        poison_before, outcomes_before = len(poisoned(deps, POLLS_QUEUE)), set(deps.store.outcomes)
        result = handle_poll_message(case.body, message_id=message_id, dequeue_count=1, deps=deps)
        if case.hostile:
            assert_rejected_and_kept(deps, case, result, POLLS_QUEUE, poison_before, outcomes_before)
        else:  # well formed, for a run that does not exist: a superseded chain's message, a no-op
            assert result == "stale" and set(deps.store.outcomes) == outcomes_before
    assert sent_to(deps, POLLS_QUEUE) == [] and deps.backend.runs_started == ["base"]
    # The genuine chain was not hurt: it polls, and finishes the build.
    deps.backend.finish("base", RunState.SUCCEEDED)
    assert (
        handle_poll_message(json.dumps(poll).encode(), message_id="genuine-poll", dequeue_count=1, deps=deps)
        == "finished"
    )
    assert deps.store.claims == {} and len(deps.publisher.events) == 1


# --- gallery events, through the Event Grid entrypoint ---------------------------------------------------
def _trigger_value(raw: dict):
    """What the worker hands on_gallery_event for one delivered event (the dev host's own mapping)."""
    import azure.functions as func

    from aibtrigger.devhost.eventgrid import to_event

    spec = SimpleNamespace(trigger={"name": "event"}, annotation=lambda name: func.EventGridEvent)
    return to_event(raw, spec)


def gallery_function():
    """on_gallery_event's own function (not through function_app.app.get_functions(): an app indexed
    twice in one process refuses the second time, and the dev host indexes it later)."""
    from aibtrigger.entrypoints import eventgrid

    return eventgrid.on_gallery_event._function.get_user_function()


def deliver_event(raw: dict, deps: Deps, monkeypatch) -> None:
    monkeypatch.setattr("aibtrigger.bootstrap.get_deps", lambda: deps)
    gallery_function()(_trigger_value(raw))


def event_record_id(raw: dict) -> str:
    return "event-" + hashlib.sha1(str(raw.get("id")).encode()).hexdigest()[:24]


@CI
@given(
    batch=st.lists(
        st.one_of(hostile.hostile_event(("i", "other")), hostile.valid_event(("i", "other"))), min_size=1, max_size=8
    )
)
def test_hostile_gallery_events_are_ignored_with_a_reason_in_both_schemas(batch: list[EventCase]):
    deps = memory_deps()
    with pytest.MonkeyPatch.context() as monkeypatch:
        for case in batch:
            if not case.hostile:  # the version exists, provisioned: the planner must see it
                deps.sources.gallery[case.event["data"]["resourceUri"].lower()] = {"provisioningState": "Succeeded"}
            deliver_event(case.event, deps, monkeypatch)  # never raises: a failure would make Event Grid retry
            record = deps.store.get_outcome("", event_record_id(case.event))
            why = f"{case.kind} {case.schema} ({case.note})"
            assert record is not None and record.detail.strip(), why
            assert record.outcome is (Outcome.IGNORED if case.hostile else Outcome.PLANNED), f"{why}: {record.detail}"
    assert deps.backend.runs_started == []  # events plan; they never build by themselves


# --- the bugs these properties found, one example each ------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"template": "base", "reason": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"],
    ids=["whole-body", "in-a-field"],
)
def test_deeply_nested_json_is_rejected_not_a_crash(body):
    """json.loads raises RecursionError (not a ValueError) past ~1,000 levels: the message was retried
    five times, and on the last attempt recording the rejection crashed again, so it reached the poison
    queue with no rejected record."""
    for dequeue_count in (1, 5):
        deps = memory_deps()
        assert handle_request_message(body, message_id="deep", dequeue_count=dequeue_count, deps=deps) == "rejected"
        [record] = deps.store.outcomes.values()
        assert "JSON" in record.detail and poisoned(deps, REQUESTS_QUEUE) == [body]


def test_a_duplicated_key_is_rejected_rather_than_read_one_way():
    """`{"template": "x", "template": "base"}`: Python keeps the last, other readers the first."""
    deps = memory_deps()
    body = b'{"template": "not-in-catalog", "template": "base"}'
    assert handle_request_message(body, message_id="dup", dequeue_count=1, deps=deps) == "rejected"
    [record] = deps.store.outcomes.values()
    assert "duplicate" in record.detail and deps.backend.runs_started == []


@pytest.mark.parametrize("value", ["Infinity", "1e400", "1e300", '"inf"'])
def test_a_poll_whose_expected_seconds_no_clock_can_hold_is_rejected(value):
    """It crashed with OverflowError in timedelta() on every attempt: the live poll chain died."""
    deps = memory_deps()
    poll = _running(deps)
    body = json.dumps({**poll, "expected_seconds": None}).replace("null", value).encode()
    assert handle_poll_message(body, message_id="tampered", dequeue_count=1, deps=deps) == "rejected"
    [record] = [o for o in deps.store.outcomes.values() if o.outcome is Outcome.REJECTED]
    assert "expected_seconds" in record.detail


def test_a_poll_naming_a_template_outside_the_catalog_is_rejected_not_dropped():
    deps = memory_deps()
    body = json.dumps({"template": "ghost", "run_id": "ghost.1", "token": "abc"}).encode()
    assert handle_poll_message(body, message_id="ghost", dequeue_count=1, deps=deps) == "rejected"
    assert poisoned(deps, POLLS_QUEUE) == [body]


def test_a_message_that_is_not_utf8_is_kept_byte_for_byte():
    deps = memory_deps()
    body = b'{"template": "base", "reason": "caf\xe9"}'
    assert handle_request_message(body, message_id="latin1", dequeue_count=1, deps=deps) == "rejected"
    assert poisoned(deps, REQUESTS_QUEUE) == [body]


@pytest.mark.parametrize("subject, resource", [(5, ""), ({"id": 1}, ""), ("", ["x"]), (None, 7), (True, {"a": 1})])
def test_an_event_with_a_resource_that_is_not_text_is_ignored(subject, resource, monkeypatch):
    """`VERSION_ID.match(5)` raised TypeError: the delivery failed, and Event Grid would retry it for a day."""
    deps = memory_deps()
    raw = hostile.gallery_event(hostile.version_id("i"), schema="eventgrid")
    raw["subject"], raw["data"]["resourceUri"] = subject, resource
    deliver_event(raw, deps, monkeypatch)
    assert deps.store.get_outcome("", event_record_id(raw)).outcome is Outcome.IGNORED


@pytest.mark.parametrize(
    "trick", ["trailing-newline", "cyrillic-gallery", "fullwidth-version", "arabic-digits", "huge-version"]
)
def test_a_gallery_version_id_that_only_looks_right_is_ignored(trick, monkeypatch):
    """`$` matched before a trailing newline, `\\w` and `\\d` matched any script's letters and digits, and
    a version number could have any number of digits (int() refuses more than 4,300)."""
    deps = memory_deps()
    raw = hostile.gallery_event(hostile.RESOURCE_TRICKS[trick](hostile.version_id("i")), schema="eventgrid")
    deliver_event(raw, deps, monkeypatch)
    assert deps.store.get_outcome("", event_record_id(raw)).outcome is Outcome.IGNORED


def test_a_corrected_resend_with_the_same_id_is_built_not_taken_for_the_rejected_one():
    """A malformed message's rejection was recorded under the `id` field it carried: the sender's
    corrected resend, same id, then found that record, was taken for a duplicate delivery, and dropped
    (not built, not kept). A malformed message is not a request: it must not take a request's id."""
    deps = memory_deps()
    typo = b'{"template": "web", "id": "deploy-42", "reson": "typo"}'
    assert handle_request_message(typo, message_id="q-1", dequeue_count=1, deps=deps) == "rejected"
    fixed = b'{"template": "web", "id": "deploy-42", "reason": "fixed"}'
    assert handle_request_message(fixed, message_id="q-2", dequeue_count=1, deps=deps) == "started"
    from aibtrigger.service_layer.intake import rejection_id

    assert deps.backend.runs_started == ["web"]
    assert deps.store.get_outcome("web", rejection_id(typo)).outcome is Outcome.REJECTED


@pytest.mark.azurite
@pytest.mark.parametrize("bad_id", ["o\n", "trailing\n"])
def test_a_rejected_message_with_a_newline_in_its_id_is_recorded_on_tables(azurite, unique, bad_id):
    """`re.match` with `$` took "o\n" for a valid id; Azure Tables refuses control characters in a
    RowKey: recording the rejection failed with StorageError on every attempt, and the message reached
    the poison queue with no record at all."""
    from azure.data.tables import TableServiceClient

    from aibtrigger.adapters.tables_store import TableStateStore

    deps = memory_deps()
    deps.store = TableStateStore(
        TableServiceClient.from_connection_string(azurite.connection_string), prefix=f"n{unique}"
    )
    deps.store.create_tables()
    body = json.dumps({"template": "web", "id": bad_id}).encode()
    from aibtrigger.service_layer.intake import rejection_id

    assert handle_request_message(body, message_id="q-nl", dequeue_count=1, deps=deps) == "rejected"
    assert deps.store.get_outcome("web", rejection_id(body)).outcome is Outcome.REJECTED


@pytest.mark.azurite
def test_a_storm_of_the_longest_valid_requests_coalesces_into_one_follow_up_on_tables(azurite, unique):
    """Each request that joins a running build's follow-up added its reason, requester and id to the
    claim, stored as JSON in one Azure Tables property (at most 32K UTF-16 characters). Three valid
    requests with 1,000-emoji reasons (12,000 characters each, escaped) filled it: every later request
    for the template failed with StorageError on each attempt and ended 'rejected' (gave up). The
    follow-up starts in the finishing poll itself, with the first reason kept."""
    from azure.data.tables import TableServiceClient

    from aibtrigger.adapters.tables_store import TableStateStore

    deps = memory_deps()
    deps.store = TableStateStore(
        TableServiceClient.from_connection_string(azurite.connection_string), prefix=f"h{unique}"
    )
    deps.store.create_tables()

    def request(body: dict) -> str:
        return handle_request_message(json.dumps(body).encode(), message_id=body["id"], dequeue_count=1, deps=deps)

    assert request({"template": "base", "id": "first"}) == "started"
    storm = [
        {
            "template": "base",
            "id": f"emoji-{i}-" + "x" * 110,
            "reason": chr(0x1F600 + i) * 1000,
            "requested_by": chr(0x1F600 + i) * 200,
        }
        for i in range(8)
    ]
    storm += [
        {
            "template": "base",
            "id": f"long-{i:03d}-" + "y" * 110,
            "reason": f"{i:03d}" + "r" * 997,
            "requested_by": f"{i:03d}" + "b" * 197,
        }
        for i in range(60)
    ]
    storm += [{"template": "base", "id": f"many-{i:04d}"} for i in range(100)]
    assert [request(body) for body in storm] == ["coalesced"] * len(storm)
    for body in storm:  # each keeps its own reason in its outcome record, whatever the follow-up could hold
        assert deps.store.get_outcome("base", body["id"]).reasons == (body.get("reason", "manual request"),)

    [poll] = [json.loads(m.text) for m in deps.queue.sent if m.queue == POLLS_QUEUE]
    deps.clock.advance(minutes=30)
    deps.backend.finish("base", RunState.SUCCEEDED)
    assert handle_poll_message(json.dumps(poll).encode(), message_id="poll-1", dequeue_count=1, deps=deps) == "finished"
    [follow_up] = [r for r in deps.store.list_runs("base") if r.run_id != poll["run_id"]]
    assert storm[0]["reason"] in follow_up.reasons and "emoji-0-" + "x" * 110 in follow_up.request_ids
    assert deps.backend.runs_started == ["base", "base"]  # one build, one follow-up: not one per request
    [poll] = [json.loads(m.text) for m in deps.queue.sent if m.queue == POLLS_QUEUE][1:]
    deps.clock.advance(minutes=30)
    deps.backend.finish("base", RunState.SUCCEEDED)
    assert handle_poll_message(json.dumps(poll).encode(), message_id="poll-2", dequeue_count=1, deps=deps) == "finished"
    assert deps.store.list_claims() == []


# === through the dev host: function_app.app on Azurite =====================================================
# Its own Azurite: function_app's queue and table names are fixed, and other modules run dev hosts on
# the session one; sharing would let one module's host take another's messages.
CATALOG = ("fuzz-base", "fuzz-idle")  # fuzz-idle is paused: valid requests for it are recorded skipped
FAST_HOST = {
    "version": "2.0",
    "functionTimeout": "00:05:00",
    "extensions": {
        "queues": {
            "batchSize": 16,
            "newBatchThreshold": 8,
            "maxDequeueCount": 5,
            "visibilityTimeout": "00:00:00",
            "maxPollingInterval": "00:00:00.2",
        }
    },
}
NEVER = "0 0 0 1 1 *"
SKU = "hostile-fuzz"
_B64 = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _catalog_yaml() -> dict:
    def entry(name: str, paused: bool) -> dict:
        return {
            "name": name,
            "location": "westeurope",
            "policy": {"paused": paused},
            "definition": {
                "source": {
                    "type": "PlatformImage",
                    "publisher": "Canonical",
                    "offer": "0001-com-ubuntu-server-jammy",
                    "sku": SKU,
                    "version": "latest",
                },
                "customize": [{"type": "Shell", "name": "work", "inline": ["echo building"]}],
                "distribute": [
                    {
                        "type": "SharedImage",
                        "runOutputName": name,
                        "galleryImageId": hostile.version_id(name).rsplit("/versions/", 1)[0],
                    }
                ],
                "buildTimeoutInMinutes": 600,
            },
        }

    return {"templates": [entry("fuzz-base", False), entry("fuzz-idle", True)]}


class HostFailures(logging.Handler):
    """Counts what only a crash logs: a failed invocation, a dev host error, a dying thread."""

    SIGNS = ("(Failed,", "Dev host failed on", "Unexpected error in dev host thread")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(sign in message for sign in self.SIGNS):
            self.seen.append(message[:300])


class DevStack:
    def __init__(self, host, azurite, deps, failures: HostFailures) -> None:
        from azure.storage.queue import QueueClient

        self.host, self.azurite, self.deps, self.failures = host, azurite, deps, failures
        conn = azurite.connection_string
        self.requests = QueueClient.from_connection_string(conn, REQUESTS_QUEUE)  # no policy: we base64 ourselves
        self.poison = QueueClient.from_connection_string(conn, REQUESTS_QUEUE + "-poison")
        self.kept: list[str] = []  # every poison message seen so far (drained as it arrives)

    # --- queue ---
    def send(self, content: str) -> str:
        return self.requests.send_message(content).id

    def drain_poison(self) -> list[str]:
        while True:
            page = list(self.poison.receive_messages(messages_per_page=32, visibility_timeout=600, max_messages=32))
            if not page:
                return self.kept
            for message in page:
                self.kept.append(message.content)
                self.poison.delete_message(message)

    def outcome(self, request_id: str):
        for template in ("", *CATALOG):
            found = self.deps.store.get_outcome(template, request_id)
            if found is not None:
                return found
        return None

    def rejection(self, body: bytes, message_id: str):
        """The record of a rejected message, where intake keeps it (a key computed from the body)."""
        from aibtrigger.service_layer.intake import rejection_id

        return self.outcome(rejection_id(body))

    # --- http ---
    def post(self, path: str, body: bytes, headers: dict | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(
            self.host.base_url + path,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def deliver(self, payload: bytes, kind: str = "Notification") -> tuple[int, bytes]:
        return self.post(
            "/runtime/webhooks/EventGrid?functionName=on_gallery_event",
            payload,
            {"aeg-event-type": kind} if kind else {},
        )


def _own_ids(body: bytes) -> list[str]:
    try:
        value = json.loads(body).get("id")
    except (ValueError, AttributeError, RecursionError):
        return []
    return [value] if isinstance(value, str) and value and "/" not in value and len(value) < 256 else []


def wait_for(predicate, what: str, timeout: float = 60.0):
    from tests.waiting import wait_until

    return wait_until(predicate, what, timeout=timeout, interval=0.1)


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    from aibtrigger import bootstrap
    from aibtrigger.adapters.local.marketplace import LocalMarketplace
    from aibtrigger.config import load_settings
    from aibtrigger.devhost.azurite import start_azurite
    from aibtrigger.devhost.host import DevHost

    tmp = tmp_path_factory.mktemp("hostile-devhost")
    (tmp / "catalog.yaml").write_text(yaml.safe_dump(_catalog_yaml(), sort_keys=False))
    azurite = start_azurite()
    failures = HostFailures()
    devhost_log = logging.getLogger("aibtrigger.devhost")
    host = None
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AzureWebJobsStorage": azurite.connection_string,
            "AIBTRIGGER_BACKEND": "local",
            "AIBTRIGGER_CATALOG_PATH": str(tmp / "catalog.yaml"),
            "AIBTRIGGER_LOCAL_WORKDIR": str(tmp / "work"),
            "AIBTRIGGER_LOCAL_SECONDS_PER_MINUTE": "1",
            "AIBTRIGGER_POLL_MIN_SECONDS": "0.5",
            "AIBTRIGGER_POLL_MAX_SECONDS": "1",
            "AIBTRIGGER_SWEEP_SCHEDULE": NEVER,
            "AIBTRIGGER_TICK_SCHEDULE": NEVER,
            "AIBTRIGGER_PRUNE_SCHEDULE": NEVER,
        }.items():
            env.setenv(name, value)
        env.delenv("AIBTRIGGER_LOCAL_EVENT_WEBHOOK", raising=False)
        env.syspath_prepend(str(ROOT))
        bootstrap.reset()
        try:
            import function_app

            deps = bootstrap.build_deps(load_settings())
            LocalMarketplace(bootstrap.StorageClients(load_settings()).blobs()).publish(
                "westeurope", "Canonical", "0001-com-ubuntu-server-jammy", SKU
            )
            devhost_log.addHandler(failures)
            host = DevHost(
                function_app.app,
                connection_string=azurite.connection_string,
                host_json=FAST_HOST,
                message_visibility=30,
                drain_timeout=10,
            ).start()
            yield DevStack(host, azurite, deps, failures)
        finally:
            devhost_log.removeHandler(failures)
            if host is not None:
                host.stop(timeout=10)
            azurite.stop()
            bootstrap.reset()


invalid_base64 = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=200).filter(
    lambda t: not set(t.replace(" ", "")) <= _B64 or len(t.replace(" ", "")) % 4 != 0
)


@SLOW_CI
@given(
    batch=st.lists(
        st.one_of(
            hostile.hostile_request(CATALOG),
            hostile.valid_request(CATALOG),
            invalid_base64.map(lambda t: Case("invalid-base64", t.encode(), t)),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_devhost_queue_loop_rejects_and_keeps_hostile_messages_and_serves_the_rest(dev, batch: list[Case]):
    from azure.core.exceptions import HttpResponseError

    expected: list[tuple[Case, str, str]] = []  # (case, content, message id)
    for case in batch:
        content = case.body.decode() if case.kind == "invalid-base64" else base64.b64encode(case.body).decode()
        if len(content) > 64 * 1024:  # past the queue's limit: the service refuses it, no loop ever sees it
            with pytest.raises(HttpResponseError):
                dev.send(content)
            continue
        expected.append((case, content, dev.send(content)))

    def settled() -> bool:
        kept = dev.drain_poison()
        for case, content, message_id in expected:
            if case.kind == "invalid-base64":  # the host poisons it before any function runs
                done = content in kept
            elif case.hostile:
                done = dev.rejection(case.body, message_id) is not None and content in kept
            else:
                done = dev.outcome(json.loads(case.body)["id"]) is not None
            if not done:
                return False
        return True

    wait_for(settled, f"{len(expected)} messages to be handled")
    for case, _content, message_id in expected:
        why = f"{case.kind} ({case.note})"
        if case.kind == "invalid-base64":
            assert dev.outcome(message_id) is None, why  # no function saw it: nothing to record
        elif case.hostile:
            record = dev.rejection(case.body, message_id)
            assert record.outcome is Outcome.REJECTED and record.detail.strip(), why
        else:
            message = json.loads(case.body)
            record = dev.outcome(message["id"])
            assert record.outcome in (
                (Outcome.SKIPPED,) if message["template"] == "fuzz-idle" else (Outcome.STARTED, Outcome.COALESCED)
            ), f"valid {message}: {record}"
    assert dev.failures.seen == []


@settings(CI, max_examples=150)
@given(case=st.one_of(hostile.hostile_request(CATALOG, http=True), hostile.valid_request(("fuzz-idle",), http=True)))
def test_devhost_http_answers_400_with_the_reason_for_every_hostile_body(dev, case: Case):
    status, body = dev.post("/api/requests", case.body)
    answer = json.loads(body)
    if case.hostile:
        assert status == 400 and answer["error"].strip(), f"{case.kind} ({case.note}) -> {status} {body[:300]!r}"
    else:
        request = json.loads(case.body)
        assert status == 202 and answer["queued"]["template"] == request["template"]
        record = wait_for(lambda: dev.outcome(request["id"]), f"the outcome of {request['id']}")
        assert record.outcome is Outcome.SKIPPED  # fuzz-idle is paused: the request went all the way
    assert dev.failures.seen == []


@settings(CI, max_examples=120)
@given(
    events=st.lists(st.one_of(hostile.hostile_event(CATALOG), hostile.valid_event(CATALOG)), min_size=1, max_size=6),
    refused=st.one_of(st.none(), hostile.hostile_delivery()),
)
def test_devhost_event_grid_webhook_records_every_event_and_refuses_what_is_not_events(dev, events, refused):
    for schema in ("eventgrid", "cloudevents"):
        mine = [c for c in events if c.schema == schema]
        if not mine:
            continue
        single = schema == "cloudevents" and len(mine) == 1  # a CloudEvent may come alone, not in an array
        payload = json.dumps(mine[0].event if single else [c.event for c in mine]).encode()
        status, body = dev.deliver(payload)
        assert status == 202, f"{[c.kind for c in mine]} -> {status} {body[:300]!r}"  # no retry storm
        for case in mine:
            record = dev.deps.store.get_outcome("", event_record_id(case.event))
            why = f"{case.kind} {schema} ({case.note})"
            assert record is not None and record.detail.strip(), why
            assert record.outcome is (Outcome.IGNORED if case.hostile else Outcome.PLANNED), f"{why}: {record.detail}"
    if refused is not None:  # what the host refuses before any function: 400, which Event Grid does not retry
        status, body = dev.deliver(refused.body)
        assert status == 400 and body.strip(), f"{refused.kind} ({refused.note}) -> {status}"
    assert dev.failures.seen == []


def test_devhost_webhook_refuses_deliveries_without_a_known_event_kind(dev):
    valid = json.dumps([hostile.gallery_event(hostile.version_id(), schema="eventgrid")]).encode()
    for kind in ("", "Notify", "Validation"):
        assert dev.deliver(valid, kind)[0] == 400
    assert dev.deliver(json.dumps([{"id": "v", "data": {}}]).encode(), "SubscriptionValidation")[0] == 400
    status, body = dev.deliver(
        json.dumps([{"id": "v", "data": {"validationCode": "c0de"}}]).encode(), "SubscriptionValidation"
    )
    assert status == 200 and json.loads(body) == {"validationResponse": "c0de"}


def test_devhost_still_builds_after_the_fuzz_and_nothing_is_left_claimed(dev):
    """The loop never died: a request after all of the above goes to a finished, published build."""
    request_id = f"after-fuzz-{time.monotonic_ns()}"
    dev.send(base64.b64encode(json.dumps({"template": "fuzz-base", "id": request_id}).encode()).decode())

    def finished():
        return [
            r
            for r in dev.deps.store.list_runs("fuzz-base", limit=50)
            if request_id in r.request_ids and r.is_terminal and r.published
        ]

    [run] = wait_for(finished, "the build after the fuzz", timeout=120)
    assert run.state is RunState.SUCCEEDED, run.message
    wait_for(lambda: not dev.deps.store.list_claims(), "every claim to be released", timeout=120)
    assert all(r.is_terminal and r.published for r in dev.deps.store.list_runs(limit=200))
    assert dev.failures.seen == []
