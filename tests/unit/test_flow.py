"""The request -> start -> poll -> collect -> publish flow, on in-memory fakes with an explicit clock."""

import json

import pytest

from aibtrigger.domain.model import RunOutput, RunState
from aibtrigger.domain.records import Outcome
from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE
from aibtrigger.service_layer.intake import MAX_DEQUEUE_COUNT, handle_poll_message, handle_request_message
from aibtrigger.service_layer.reconciler import reconcile

FAILED_LOG = """\
[1a2b] PACKER OUT ==> azure-arm: (telemetry) Starting provisioner shell
[1a2b] PACKER OUT ==> azure-arm: Provisioning with shell script: /tmp/script_1.sh
[1a2b] PACKER ERR     azure-arm: E: Unable to locate package nginx-fancy
[1a2b] PACKER OUT ==> azure-arm: Script exited with non-zero exit status: 100. Allowed exit codes are: [0]
[1a2b] PACKER OUT ==> azure-arm: (telemetry) ending shell
[1a2b] PACKER OUT Build 'azure-arm' errored after 1 minute: Script exited with non-zero exit status: 100. Allowed exit codes are: [0]
"""  # noqa: E501 (a real log, verbatim)


def request(deps, template="base", *, msg_id="m1", reason="manual", by="alice", **extra):
    body = json.dumps({"template": template, "reason": reason, "requested_by": by, **extra}).encode()
    return handle_request_message(body, message_id=msg_id, dequeue_count=1, deps=deps)


def pending(deps, queue):
    return [m for m in deps.queue.sent if m.queue == queue]


def drain(deps, clock, queue):
    """Deliver every message sent to `queue` so far (once), advancing the clock by each delay."""
    results = []
    messages = pending(deps, queue)
    deps.queue.sent = [m for m in deps.queue.sent if m.queue != queue]
    handler = handle_poll_message if queue == POLLS_QUEUE else handle_request_message
    for index, message in enumerate(messages):
        clock.advance(seconds=message.delay_seconds)
        results.append(
            handler(
                message.text.encode(), message_id=f"{queue}-{index}-{clock().timestamp()}", dequeue_count=1, deps=deps
            )
        )
    return results


def test_request_starts_one_build_and_schedules_a_delayed_poll(deps):
    assert request(deps) == "started"
    assert deps.backend.runs_started == ["base"]
    [poll] = pending(deps, POLLS_QUEUE)
    assert poll.delay_seconds >= deps.poll_min_seconds
    [run] = deps.store.list_runs("base")
    assert run.state is RunState.RUNNING and run.reasons == ("manual",) and run.requested_by == ("alice",)
    assert deps.store.get_claim("base").state == "running"


def test_success_is_collected_recorded_published_and_released(deps, clock):
    request(deps)
    assert drain(deps, clock, POLLS_QUEUE) == ["polling"]
    artifact = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.1"
    deps.backend.finish(
        "base", RunState.SUCCEEDED, log="[x] PACKER OUT all good\n", outputs=[RunOutput("out", artifact)]
    )
    assert drain(deps, clock, POLLS_QUEUE) == ["finished"]
    [run] = deps.store.list_runs("base")
    assert run.state is RunState.SUCCEEDED and run.artifact_ids == (artifact,) and run.published
    assert deps.logs.load(run.run_id) == "[x] PACKER OUT all good\n"
    [event] = deps.publisher.events
    assert event["type"] == "aibtrigger.build.succeeded" and event["id"] == f"{run.run_id}/finished"
    assert event["data"]["artifact_ids"] == [artifact]
    assert deps.store.get_claim("base") is None
    assert pending(deps, POLLS_QUEUE) == []


def test_failure_excerpt_reaches_the_record_and_the_event(deps, clock):
    request(deps)
    deps.backend.finish("base", RunState.FAILED, message="Failed while waiting for packerizer", log=FAILED_LOG)
    drain(deps, clock, POLLS_QUEUE)
    [run] = deps.store.list_runs("base")
    assert run.state is RunState.FAILED
    assert run.excerpt.exit_status == 100
    assert any("Unable to locate package" in line for line in run.excerpt.lines)
    assert deps.publisher.events[0]["data"]["failure"]["exit_status"] == 100


def test_duplicate_delivery_of_a_request_runs_once(deps):
    assert request(deps, msg_id="m1") == "started"
    assert request(deps, msg_id="m1") == "started"
    assert deps.backend.runs_started == ["base"]
    assert len(deps.store.list_outcomes("base")) == 1


def test_requests_during_a_build_coalesce_into_one_follow_up(deps, clock):
    request(deps, msg_id="m1", reason="first")
    assert request(deps, msg_id="m2", reason="second", by="bob") == "coalesced"
    assert request(deps, msg_id="m3", reason="third", by="carol") == "coalesced"
    assert request(deps, msg_id="m3", reason="third", by="carol") == "coalesced"  # redelivered
    assert deps.backend.runs_started == ["base"]
    deps.backend.finish("base", RunState.SUCCEEDED)
    assert drain(deps, clock, POLLS_QUEUE) == ["finished"]  # and handed over: no message in between
    assert deps.backend.runs_started == ["base", "base"]
    first, follow_up = sorted(deps.store.list_runs("base"), key=lambda r: r.created_at)
    assert follow_up.reasons == ("second", "third") and set(follow_up.requested_by) == {"bob", "carol"}
    assert deps.store.get_claim("base").run_id == follow_up.run_id


def test_the_last_poll_delivered_twice_starts_one_follow_up(deps, clock):
    request(deps, msg_id="m1")
    request(deps, msg_id="m2")
    deps.backend.finish("base", RunState.SUCCEEDED)
    [last_poll] = pending(deps, POLLS_QUEUE)
    for attempt in range(2):
        handle_poll_message(last_poll.text.encode(), message_id="p", dequeue_count=attempt + 1, deps=deps)
    assert deps.backend.runs_started == ["base", "base"]
    assert len(deps.publisher.events) == 1


@pytest.mark.parametrize(
    "body, reason",
    [
        (b"{not json", "not a JSON message"),
        (b'["a list"]', "expected a JSON object"),
        (b'{"template": "base", "script": "rm -rf /"}', "script"),
        (b'{"template": "../../etc"}', "template"),
        (b'{"template": "nope"}', "not in the catalog"),
    ],
)
def test_bad_messages_are_rejected_recorded_and_kept(deps, body, reason):
    result = handle_request_message(body, message_id="bad-1", dequeue_count=1, deps=deps)
    assert result == "rejected"
    [outcome] = deps.store.list_outcomes()
    assert outcome.outcome is Outcome.REJECTED and reason in outcome.detail and outcome.raw == body.decode()
    [kept] = pending(deps, REQUESTS_QUEUE + "-poison")
    assert kept.text == body.decode()
    assert deps.backend.runs_started == []


def test_paused_template_is_skipped_with_reason(deps):
    assert request(deps, "idle") == "skipped"
    [outcome] = deps.store.list_outcomes("idle")
    assert outcome.detail == "template is paused"
    assert deps.backend.runs_started == []


def test_crash_after_run_accepted_is_adopted_not_run_twice(deps, clock):
    original = deps.store.save_run
    calls = []

    def crash_once(run):
        if not calls:
            calls.append(run)
            raise RuntimeError("worker killed")
        return original(run)

    deps.store.save_run = crash_once
    with pytest.raises(RuntimeError):
        request(deps, msg_id="m1")
    clock.advance(seconds=30)
    assert request(deps, msg_id="m1") == "started"  # redelivery
    assert deps.backend.runs_started == ["base"]
    assert deps.store.list_runs("base")[0].message == "adopted a build that was already running"


def test_stale_poll_chain_does_nothing(deps, clock):
    request(deps)
    [poll] = pending(deps, POLLS_QUEUE)
    stale = json.loads(poll.text) | {"token": "old-token"}
    assert handle_poll_message(json.dumps(stale).encode(), message_id="p", dequeue_count=1, deps=deps) == "stale"


def test_overdue_build_is_cancelled_and_recorded_timed_out(deps, clock):
    request(deps)
    clock.advance(minutes=60 + 15 + 1)  # timeout 60 min + 15 min grace
    drain(deps, clock, POLLS_QUEUE)
    assert deps.backend.cancels == ["base"]
    deps.backend.finish("base", RunState.CANCELED, message="The build was canceled")
    drain(deps, clock, POLLS_QUEUE)
    [run] = deps.store.list_runs("base")
    assert run.state is RunState.TIMED_OUT and "timeout is 60 min" in run.message
    assert deps.publisher.events[0]["type"] == "aibtrigger.build.timedout"


def test_last_failed_attempt_is_recorded_before_the_host_poisons_it(deps):
    def broken(claim):
        raise RuntimeError("table storage down for claims")

    deps.store.create_claim = broken
    body = json.dumps({"template": "base"}).encode()
    with pytest.raises(RuntimeError):
        handle_request_message(body, message_id="m9", dequeue_count=MAX_DEQUEUE_COUNT, deps=deps)
    [outcome] = deps.store.list_outcomes("base")
    assert outcome.outcome is Outcome.REJECTED and "gave up after 5 attempts" in outcome.detail


def test_a_last_attempt_whose_request_a_claim_holds_is_left_to_the_claim(deps, clock):
    def broken(template):
        raise RuntimeError("ARM unreachable")

    deps.backend.get_status = broken
    body = json.dumps({"template": "base"}).encode()
    assert handle_request_message(body, message_id="m9", dequeue_count=MAX_DEQUEUE_COUNT, deps=deps) == "pending"
    assert deps.store.list_outcomes("base") == [] and deps.store.get_claim("base").request_id == "m9"


def test_consecutive_failures_disable_a_template_once_and_a_manual_success_lifts_it(deps, clock):
    from aibtrigger.service_layer.intake import handle_request_message as handle

    for attempt in range(5):
        body = json.dumps({"template": "base", "signal": "source", "upstream": f"up{attempt}"}).encode()
        handle(body, message_id=f"s{attempt}", dequeue_count=1, deps=deps)
        deps.backend.finish("base", RunState.FAILED, message="Script exited")
        drain(deps, clock, POLLS_QUEUE)
    summary = deps.store.get_summary("base")
    assert summary.disabled and summary.consecutive_failures == 5 and summary.last_upstream == "up4"
    disabled = [e for e in deps.publisher.events if e["type"] == "aibtrigger.template.disabled"]
    assert len(disabled) == 1 and disabled[0]["data"]["consecutive_failures"] == 5
    request(deps, msg_id="manual-fix")
    deps.backend.source_versions["base"] = "22.04.202411050"
    deps.backend.finish("base", RunState.SUCCEEDED)
    drain(deps, clock, POLLS_QUEUE)
    summary = deps.store.get_summary("base")
    assert not summary.disabled and summary.consecutive_failures == 0
    assert summary.last_success_source_version == "22.04.202411050"
    assert deps.store.list_runs("base")[0].source_version == "22.04.202411050"


def test_a_build_stuck_canceling_is_surfaced_and_its_claim_released(deps, clock):
    request(deps)
    clock.advance(minutes=5)
    deps.backend.cancel_run("base")
    drain(deps, clock, POLLS_QUEUE)  # first seen Canceling
    clock.advance(minutes=16)  # past the 15-minute grace, still Canceling
    drain(deps, clock, POLLS_QUEUE)
    [run] = deps.store.list_runs("base")
    assert run.state is RunState.STUCK_CANCELING and "released" in run.message
    assert deps.publisher.events[-1]["type"] == "aibtrigger.build.stuckcanceling"
    assert deps.store.get_claim("base") is None
    # The build still canceling cannot include a new request: it waits, and is not used up by adopting it.
    assert request(deps, msg_id="after") == "pending"
    assert "Canceling" in deps.store.get_claim("base").waiting_for and deps.backend.runs_started == ["base"]
    deps.backend.finish("base", RunState.CANCELED, message="The build was canceled")
    clock.advance(minutes=2)
    reconcile(deps)
    assert deps.backend.runs_started == ["base", "base"]
    assert deps.store.get_claim("base").state == "running"


def test_a_storm_of_requests_during_a_build_keeps_the_follow_up_bounded(deps):
    request(deps, msg_id="first")
    for index in range(300):
        assert request(deps, msg_id=f"m{index}", reason=f"reason {index % 40} " + "x" * 900) == "coalesced"
    followup = deps.store.get_claim("base").followup
    stored = json.dumps([followup.request_ids, followup.reasons, followup.requested_by])
    assert len(stored) < 32_000  # one Azure Tables string property
    assert followup.reasons[0].startswith("reason 0")
    assert request(deps, msg_id="m299") == "coalesced"  # beyond the bound: the outcome record dedupes it
    assert deps.backend.runs_started == ["base"]


def test_a_message_cannot_forge_a_hand_off(deps):
    body = json.dumps({"template": "base", "follows_run": "base.20261122T080000Z.000000"}).encode()
    assert handle_request_message(body, message_id="f", dequeue_count=1, deps=deps) == "rejected"
    assert deps.backend.runs_started == []


def test_a_request_redelivered_after_its_run_ended_does_not_build_again(deps, clock):
    original = deps.store.add_outcome

    def crash_on_started(outcome):
        if outcome.outcome.value == "started" and outcome.detail == "Run invoked":
            raise RuntimeError("worker killed before the outcome was written")
        return original(outcome)

    deps.store.add_outcome = crash_on_started
    with pytest.raises(RuntimeError):
        request(deps, msg_id="m1")
    deps.store.add_outcome = original
    deps.backend.finish("base", RunState.FAILED, message="Script exited")
    drain(deps, clock, POLLS_QUEUE)  # the run ends and releases the template
    assert request(deps, msg_id="m1") == "started"  # the redelivery finds its outcome
    assert deps.backend.runs_started == ["base"]


def test_a_redelivered_final_poll_counts_the_failure_once(deps, clock):
    request(deps)
    deps.backend.finish("base", RunState.FAILED, message="Script exited")
    [poll] = pending(deps, POLLS_QUEUE)
    original = deps.store.save_run

    def crash_on_terminal(run):
        if run.is_terminal:
            raise RuntimeError("worker killed before the terminal record")
        return original(run)

    deps.store.save_run = crash_on_terminal
    with pytest.raises(RuntimeError):
        handle_poll_message(poll.text.encode(), message_id="p", dequeue_count=1, deps=deps)
    deps.store.save_run = original
    handle_poll_message(poll.text.encode(), message_id="p", dequeue_count=2, deps=deps)
    assert deps.store.get_summary("base").consecutive_failures == 1
