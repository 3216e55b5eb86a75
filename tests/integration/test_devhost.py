"""The dev host against a real Azurite: queue, timer, HTTP and Event Grid functions of a test app."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from aibtrigger.devhost.host import DevHost, serve
from aibtrigger.devhost.hostjson import QueueOptions, function_timeout, load, parse_timespan
from aibtrigger.devhost.httpserver import route_pattern

try:  # tests may or may not be a package
    from .devhost_app import Recorder, make_app
except ImportError:
    from devhost_app import Recorder, make_app

pytestmark = pytest.mark.azurite
NEVER = "0 0 0 1 1 *"  # once a year: keeps the test app's timer quiet
# Short polling cap and no retry delay keep retries quick; maxDequeueCount 3 keeps them few.
FAST = {
    "version": "2.0",
    "extensions": {
        "queues": {"maxPollingInterval": "00:00:00.5", "visibilityTimeout": "00:00:00", "maxDequeueCount": 3}
    },
}


@pytest.fixture
def names(monkeypatch, unique):
    values = {"DEVHOST_QUEUE": f"work-{unique}", "DEVHOST_OUT": f"out-{unique}", "DEVHOST_TIMER": NEVER}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def start_host(azurite, names):
    started: list[DevHost] = []

    def start(host_json=FAST, *, run_on_startup=False, **kwargs) -> tuple[DevHost, Recorder]:
        rec = Recorder()
        host = DevHost(
            make_app(rec, run_on_startup=run_on_startup),
            connection_string=azurite.connection_string,
            host_json=host_json,
            **kwargs,
        )
        started.append(host.start())
        return host, rec

    yield start
    for host in started:
        host.stop(timeout=5)


def queue(azurite, name: str, *, base64_policy: bool = True) -> QueueClient:
    policy = TextBase64EncodePolicy() if base64_policy else None
    return QueueClient.from_connection_string(azurite.connection_string, name, message_encode_policy=policy)


def eventually(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def drained(client: QueueClient) -> bool:
    return client.get_queue_properties().approximate_message_count == 0


def call(host: DevHost, method: str, path: str, body=None, headers=None):
    parts = urlsplit(host.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    data = json.dumps(body).encode() if isinstance(body, (list, dict)) else body
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    result = response.status, dict(response.getheaders()), response.read()
    conn.close()
    return result


# ---- host.json and routing, no storage needed


def test_queue_options_defaults_and_overrides():
    assert QueueOptions.from_host_json({}) == QueueOptions(16, 8, 5, 0.0, 60.0, "base64")
    options = QueueOptions.from_host_json(
        {
            "extensions": {
                "queues": {
                    "batchSize": 4,
                    "maxPollingInterval": 2000,
                    "visibilityTimeout": "00:00:30",
                    "messageEncoding": "none",
                }
            }
        }
    )
    assert (options.batch_size, options.new_batch_threshold) == (4, 2)
    assert (options.max_polling_interval, options.visibility_timeout, options.message_encoding) == (2.0, 30.0, "none")
    assert parse_timespan("1.02:00:00.5") == 93600.5
    with pytest.raises(ValueError):
        QueueOptions.from_host_json({"extensions": {"queues": {"batchSize": 33}}})
    assert function_timeout({"functionTimeout": "00:05:00"}) == 300
    assert function_timeout({"functionTimeout": "-1"}) is None
    assert load(Path("/nonexistent/host.json")) == {}


def test_route_templates():
    assert route_pattern("items/{id:int}").fullmatch("/items/42").group("id") == "42"
    assert route_pattern("items/{id:int}").fullmatch("/items/abc") is None
    assert route_pattern("Items/{id?}").fullmatch("/items") is not None
    assert route_pattern("files/{*path}").fullmatch("/files/a/b.txt").group("path") == "a/b.txt"


# ---- queue triggers


def test_queue_message_is_decoded_invoked_and_deleted(start_host, azurite, names):
    host, rec = start_host()
    producer = queue(azurite, names["DEVHOST_QUEUE"])
    producer.send_message("hello")
    assert rec.wait_for(lambda: rec.of("work"))
    assert rec.of("work")[0]["body"] == b"hello" and rec.of("work")[0]["dequeue_count"] == 1
    assert eventually(lambda: drained(producer))


def test_failing_message_is_retried_then_poisoned_with_its_text(start_host, azurite, names):
    host, rec = start_host()
    producer = queue(azurite, names["DEVHOST_QUEUE"])
    producer.send_message("fail always")
    poison = queue(azurite, names["DEVHOST_QUEUE"] + "-poison", base64_policy=False)
    assert eventually(lambda: poison.peek_messages())
    assert [c["dequeue_count"] for c in rec.of("work")] == [1, 2, 3]
    assert poison.peek_messages()[0].content == base64.b64encode(b"fail always").decode()
    assert drained(producer)


def test_invalid_base64_goes_to_poison_at_once(start_host, azurite, names):
    host, rec = start_host()
    queue(azurite, names["DEVHOST_QUEUE"], base64_policy=False).send_message("not base64 !!")
    poison = queue(azurite, names["DEVHOST_QUEUE"] + "-poison", base64_policy=False)
    assert eventually(lambda: poison.peek_messages())
    assert poison.peek_messages()[0].content == "not base64 !!"
    assert rec.of("work") == []


def test_one_failure_in_a_batch_leaves_the_others_alone(start_host, azurite, names):
    host, rec = start_host()
    producer = queue(azurite, names["DEVHOST_QUEUE"])
    for body in ["ok-1", "ok-2", "fail-3", "ok-4", "ok-5"]:
        producer.send_message(body)
    poison = queue(azurite, names["DEVHOST_QUEUE"] + "-poison", base64_policy=False)
    assert eventually(lambda: poison.peek_messages() and drained(producer))
    ok = [c for c in rec.of("work") if c["body"].startswith(b"ok")]
    assert sorted(c["body"] for c in ok) == [b"ok-1", b"ok-2", b"ok-4", b"ok-5"]
    assert all(c["dequeue_count"] == 1 for c in ok)


def test_batches_run_concurrently_within_batch_size_plus_threshold(start_host, azurite, names):
    producer = queue(azurite, names["DEVHOST_QUEUE"])
    producer.create_queue()
    for _ in range(6):  # queued before the host starts, so the first fetch takes a full batch
        producer.send_message("sleep:0.3")
    host, rec = start_host(
        {"extensions": {"queues": {"batchSize": 2, "newBatchThreshold": 1, "maxPollingInterval": "00:00:00.5"}}}
    )
    assert rec.wait_for(lambda: len(rec.of("work")) == 6)
    assert eventually(lambda: drained(producer))
    # A new batch is fetched once in-flight drops to the threshold: at most 2 + 1 at once.
    assert 2 <= rec.max_active <= 3


def test_long_invocation_keeps_its_message_invisible(start_host, azurite, names):
    # Visible after 1 s unless renewed; the run takes 2.5 s: a second delivery would show.
    host, rec = start_host(message_visibility=1.0)
    producer = queue(azurite, names["DEVHOST_QUEUE"])
    producer.send_message("sleep:2.5")
    assert rec.wait_for(lambda: rec.of("work"))
    assert eventually(lambda: drained(producer))
    assert [c["dequeue_count"] for c in rec.of("work")] == [1]


def test_message_encoding_none_and_queue_output(start_host, azurite, names):
    host, rec = start_host({"extensions": {"queues": {"messageEncoding": "none", "maxPollingInterval": "00:00:00.5"}}})
    queue(azurite, names["DEVHOST_QUEUE"], base64_policy=False).send_message("plain text")
    assert rec.wait_for(lambda: rec.of("work"))
    assert rec.of("work")[0]["body"] == b"plain text"
    assert call(host, "POST", "/api/forward", b"to the queue")[0] == 200
    out = queue(azurite, names["DEVHOST_OUT"], base64_policy=False)
    assert [m.content for m in out.peek_messages()] == ["to the queue"]


# ---- timers


def test_timer_fires_on_a_seconds_schedule(start_host, monkeypatch):
    monkeypatch.setenv("DEVHOST_TIMER", "*/1 * * * * *")
    host, rec = start_host()
    assert host.skipped == {}
    assert rec.wait_for(lambda: len(rec.of("tick")) >= 2)
    first = rec.of("tick")[0]
    assert first.past_due is False and "Next" in first.schedule_status


def test_timer_run_on_startup_and_five_field_schedule_rejected(start_host, azurite, monkeypatch):
    host, rec = start_host(run_on_startup=True)
    assert rec.wait_for(lambda: rec.of("tick"))
    monkeypatch.setenv("DEVHOST_TIMER", "*/5 * * * *")
    host, rec = start_host()
    assert "6 fields" in host.skipped["tick"]


# ---- HTTP


def test_http_routes_params_methods_and_errors(start_host):
    host, rec = start_host()
    status, headers, body = call(host, "GET", "/api/items/42?q=x&code=anykey")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    payload = json.loads(body)
    assert payload["id"] == "42" and payload["q"] == "x" and payload["url"].startswith(host.base_url)
    assert call(host, "POST", "/api/items/42")[0] == 404  # methods filter
    assert call(host, "GET", "/api/items/abc")[0] == 404  # {item_id:int} constraint
    assert call(host, "GET", "/api/nowhere")[0] == 404
    status, headers, body = call(host, "POST", "/api/echo", b"ping")
    assert (status, headers["X-Echo"], body) == (201, "yes", b"ping")
    assert call(host, "GET", "/api/boom")[0] == 500
    assert call(host, "GET", "/api/items/7")[0] == 200  # the server survived the failure
    assert call(host, "GET", "/api/async/ann")[2] == b"hello ann"  # async def, optional param
    assert call(host, "GET", "/api/async")[2] == b"hello nobody"


def test_http_route_prefix_and_context(start_host):
    host, rec = start_host({"extensions": {"http": {"routePrefix": "v1"}}})
    assert call(host, "GET", "/v1/items/3")[0] == 200
    assert call(host, "GET", "/api/items/3")[0] == 404
    status, headers, _ = call(host, "POST", "/v1/echo", b"x")
    assert status == 201 and headers["X-Invocation"]


def test_unresolved_setting_skips_only_that_function(start_host, monkeypatch):
    monkeypatch.delenv("DEVHOST_QUEUE")
    host, rec = start_host()
    assert "DEVHOST_QUEUE" in host.skipped["work"]
    assert call(host, "GET", "/api/items/3")[0] == 200


# ---- Event Grid webhook

WEBHOOK = "/runtime/webhooks/EventGrid?functionName="


def grid_event(subject: str, **extra) -> dict:
    return {
        "id": f"id-{subject}",
        "topic": "/subscriptions/s",
        "subject": subject,
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": "2024-05-01T10:00:00.1234567Z",
        "data": {"operationName": "write"},
        "dataVersion": "1",
        **extra,
    }


def post_events(host, function, body, kind="Notification"):
    return call(host, "POST", WEBHOOK + function, body, {"aeg-event-type": kind, "Content-Type": "application/json"})


def test_event_grid_validation_and_notifications(start_host):
    host, rec = start_host()
    validation = [
        {
            "id": "v",
            "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
            "data": {"validationCode": "code-123"},
        }
    ]
    status, _, body = post_events(host, "on_event", validation, "SubscriptionValidation")
    assert status == 200 and json.loads(body) == {"validationResponse": "code-123"}

    assert post_events(host, "on_event", [grid_event("a"), grid_event("b")])[0] == 202
    events = rec.of("event")
    assert [e.subject for e in events] == ["a", "b"]
    assert events[0].event_type == "Microsoft.Resources.ResourceWriteSuccess"
    assert events[0].event_time.year == 2024 and events[0].get_json() == {"operationName": "write"}

    assert post_events(host, "on_event", [grid_event("c"), grid_event("fail")])[0] == 500
    assert len(rec.of("event")) == 4
    assert post_events(host, "on_event", [], "Unsubscribe")[0] == 202


def test_event_grid_cloud_events(start_host):
    host, rec = start_host()
    cloud = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "/subscriptions/s",
        "subject": "x",
        "type": "Microsoft.Resources.ResourceWriteSuccess",
        "time": "2024-05-01T10:00:00Z",
        "data": {"k": 1},
    }
    assert post_events(host, "on_event", cloud)[0] == 202  # one object, mapped onto EventGridEvent
    event = rec.of("event")[0]
    assert (event.topic, event.event_type, event.get_json()) == ("/subscriptions/s", cloud["type"], {"k": 1})
    assert post_events(host, "on_cloud_event", [cloud, {**cloud, "id": "ce-2"}])[0] == 202
    assert [e.id for e in rec.of("cloud_event")] == ["ce-1", "ce-2"]  # func.CloudEvent annotated
    status, headers, _ = call(
        host, "OPTIONS", WEBHOOK + "on_cloud_event", None, {"WebHook-Request-Origin": "eventgrid.azure.net"}
    )
    assert status == 200 and headers["WebHook-Allowed-Origin"] == "eventgrid.azure.net"


def test_event_grid_bad_requests(start_host):
    host, rec = start_host()
    assert post_events(host, "nope", [grid_event("a")])[0] == 404
    assert post_events(host, "on_event", [grid_event("a")], "Bogus")[0] == 400
    assert call(host, "POST", WEBHOOK + "on_event", b"[]")[0] == 400  # no aeg-event-type
    status, _, body = post_events(host, "on_event", b"{not json")
    assert status == 400 and b"not valid JSON" in body
    assert rec.of("event") == []


# ---- lifecycle


def test_stop_is_prompt_and_leaves_no_thread(azurite, names):
    before = set(threading.enumerate())
    rec = Recorder()
    host = DevHost(make_app(rec), connection_string=azurite.connection_string, host_json=FAST).start()
    queue(azurite, names["DEVHOST_QUEUE"]).send_message("hello")
    assert call(host, "GET", "/api/items/1")[0] == 200
    assert rec.wait_for(lambda: rec.of("work"))
    started = time.monotonic()
    host.stop()
    assert time.monotonic() - started < 5  # generous: it must not wait out a polling back-off
    assert [t.name for t in set(threading.enumerate()) - before] == []


def test_serve_runs_until_sigterm(azurite, names, monkeypatch):
    monkeypatch.setenv("AzureWebJobsStorage", "restored after the test")
    with socket.socket() as probe:  # a free port for serve()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api/items/5"

    def answer_then_terminate():
        if eventually(lambda: _get_status(url) == 200):
            os.kill(os.getpid(), signal.SIGTERM)  # serve() handles it: a graceful stop

    helper = threading.Thread(target=answer_then_terminate)
    helper.start()
    serve(make_app(Recorder()), connection_string=azurite.connection_string, host_json_path=None, http_port=port)
    helper.join()
    assert os.environ["AzureWebJobsStorage"] == azurite.connection_string  # what functions see


def _get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except OSError:
        return None


def test_stop_abandons_an_overrunning_invocation(azurite, names):
    rec = Recorder()
    host = DevHost(
        make_app(rec), connection_string=azurite.connection_string, host_json=FAST, drain_timeout=0.5
    ).start()
    producer = queue(azurite, names["DEVHOST_QUEUE"])
    producer.send_message("block")
    assert rec.wait_for(lambda: rec.of("work"))
    host.stop()
    # Made visible again at once, for the next run to pick up.
    assert eventually(lambda: producer.peek_messages())
    rec.release.set()
