"""Whole builds through `aibtrigger dev` on Azurite: queue message -> local build -> log -> published result."""

import base64
import json
import uuid

import pytest

from aibtrigger.adapters.local.gallery import LocalGallery
from aibtrigger.domain.model import RunState
from aibtrigger.domain.records import Outcome
from aibtrigger.names import REQUESTS_QUEUE, RESULTS_QUEUE

pytestmark = pytest.mark.e2e


def request(stack, template, reason="e2e", request_id=None):
    request_id = request_id or f"e2e-{uuid.uuid4().hex[:10]}"
    stack.deps.queue.send(
        REQUESTS_QUEUE, {"template": template, "reason": reason, "requested_by": "pytest", "id": request_id}
    )
    return request_id


def published(stack, run_id):
    from azure.storage.queue import QueueClient

    client = QueueClient.from_connection_string(stack.azurite.connection_string, RESULTS_QUEUE)
    events = [json.loads(base64.b64decode(m.content)) for m in client.peek_messages(max_messages=32)]
    return [e for e in events if e["data"]["run_id"] == run_id]


def test_ubuntu_base_builds_a_gallery_version_whose_lineage_names_the_marketplace_version(stack):
    marketplace_version = stack.cli("marketplace", "list", "--json")
    latest = json.loads(marketplace_version.stdout)[-1]
    run = stack.run_for("ubuntu-base", request(stack, "ubuntu-base"))
    assert run.state is RunState.SUCCEEDED, run
    [artifact] = run.artifact_ids
    from azure.storage.blob import BlobServiceClient

    version = LocalGallery(BlobServiceClient.from_connection_string(stack.azurite.connection_string)).get_version(
        artifact
    )
    assert version["provisioningState"] == "Succeeded"
    assert version["lineage"][0]["version"] == latest
    assert "PACKER OUT" in stack.deps.logs.load(run.run_id)
    [event] = stack.wait(lambda: published(stack, run.run_id), what="the published event")
    assert event["type"] == "aibtrigger.build.succeeded" and event["data"]["artifact_ids"] == [artifact]


def test_broken_example_fails_with_the_customizer_error_and_exit_status(stack):
    run = stack.run_for("broken-example", request(stack, "broken-example"))
    assert run.state is RunState.FAILED
    assert run.excerpt.exit_status == 100
    assert any("Unable to locate package nginx-extras-does-not-exist" in line for line in run.excerpt.lines)
    shown = stack.cli("show", run.run_id)
    assert "Unable to locate package" in shown.stdout and "exit status 100" in shown.stdout
    [event] = stack.wait(lambda: published(stack, run.run_id), what="the published event")
    assert event["data"]["failure"]["exit_status"] == 100


def test_request_wait_follows_a_build_and_exits_non_zero_when_it_fails(stack):
    result = stack.cli("request", "broken-example", "--wait", "--timeout", "120", check=False)
    assert result.returncode == 1
    assert "[Failed]" in result.stdout and "exit status 100" in result.stdout


def test_a_build_is_cancelled(stack):
    request_id = request(stack, "slow-example")
    stack.wait(
        lambda: (
            stack.deps.backend.read_log("slow-example") and "working" in stack.deps.backend.read_log("slow-example")
        ),
        what="the slow build to start working",
    )
    stack.cli("cancel", "slow-example")
    run = stack.run_for("slow-example", request_id)
    assert run.state is RunState.CANCELED


def test_a_build_exceeding_its_timeout_ends_timed_out(stack):
    run = stack.run_for("stuck-example", request(stack, "stuck-example"))
    assert run.state is RunState.TIMED_OUT
    assert "context deadline exceeded" in run.excerpt.reason


def test_requests_during_a_build_give_exactly_one_follow_up(stack):
    first = request(stack, "steady-example", reason="first")
    stack.run_for("steady-example", first, finished=False)
    second, third = request(stack, "steady-example", "second"), request(stack, "steady-example", "third")
    follow_up = stack.run_for("steady-example", second)
    assert third in follow_up.request_ids and set(follow_up.reasons) == {"second", "third"}
    runs = [r for r in stack.deps.store.list_runs("steady-example") if {first, second} & set(r.request_ids)]
    assert len(runs) == 2
    outcomes = {o.request_id: o.outcome for o in stack.deps.store.list_outcomes("steady-example")}
    assert outcomes[second] is Outcome.COALESCED and outcomes[third] is Outcome.COALESCED


def test_malformed_and_unknown_template_messages_are_rejected_and_kept(stack):
    from azure.storage.queue import QueueClient, TextBase64EncodePolicy

    queue = QueueClient.from_connection_string(
        stack.azurite.connection_string, REQUESTS_QUEUE, message_encode_policy=TextBase64EncodePolicy()
    )
    malformed, unknown = '{"template": "ubuntu-base", "reason": ', '{"template": "no-such-template"}'
    queue.send_message(malformed)
    queue.send_message(unknown)
    plain = QueueClient.from_connection_string(stack.azurite.connection_string, REQUESTS_QUEUE)
    plain.send_message("this is not base64 !!!")
    from azure.storage.blob import BlobServiceClient

    from aibtrigger.names import LOGS_CONTAINER

    logs = BlobServiceClient.from_connection_string(stack.azurite.connection_string).get_container_client(
        LOGS_CONTAINER
    )

    def kept():
        """The poison-queue watcher keeps each one verbatim (and says so in an event), then clears the queue."""
        texts = {
            logs.download_blob(b.name).readall().decode("utf-8", "replace")
            for b in logs.list_blobs(name_starts_with=f"poisoned/{REQUESTS_QUEUE}-poison/")
        }
        return texts if {malformed, unknown, "this is not base64 !!!"} <= texts else None

    stack.wait(kept, what="the three messages kept by the poison-queue watcher")
    rejected = {o.raw: o.detail for o in stack.deps.store.list_outcomes("") if o.outcome is Outcome.REJECTED}
    assert "not a JSON message" in rejected[malformed]
    assert "'no-such-template' is not in the catalog" in rejected[unknown]
    assert "not base64" in rejected["this is not base64 !!!"]  # the host never called a function for it
    listing = stack.cli("outcomes", "--json")
    assert any(o["outcome"] == "rejected" and o["message"] == unknown for o in json.loads(listing.stdout))


@pytest.mark.parametrize(
    "body, status, says",
    [
        ({"template": "no-such-template"}, 400, "not in the catalog"),
        ({"template": "broken-example", "signal": "schedule"}, 400, "signal: internal"),
        ({"template": "broken-example", "upstream": "x", "signal": "source"}, 400, "signal, upstream: internal"),
    ],
)
def test_http_requests_are_validated_and_internal_fields_refused(stack, body, status, says):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{stack.url}/api/requests",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == status and says in json.loads(refused.value.read())["error"]
