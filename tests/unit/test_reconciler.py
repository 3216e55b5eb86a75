"""No template stays blocked: faults that outlast every retry, poisoned messages, forbidden logs,
races with a live chain. On the in-memory fakes with an explicit clock; the reconciler is what
brings each case back within minutes of the fault's end."""

import json
import threading

import pytest

from aibtrigger.domain.model import BuildStatus, RunOutput, RunState
from aibtrigger.domain.records import Outcome
from aibtrigger.errors import BackendError, BuildAlreadyActiveError, StorageError
from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE
from aibtrigger.service_layer.intake import MAX_DEQUEUE_COUNT, handle_poll_message, handle_request_message
from aibtrigger.service_layer.reconciler import reconcile
from tests.fakes import Outage
from tests.unit.test_flow import drain, pending, request

RETRY_BUDGET_MINUTES = MAX_DEQUEUE_COUNT * 0.5  # host.json: 5 attempts, visibilityTimeout 30 s


def deliver_until_poisoned(deps, clock, message, handler):
    """Every attempt the host makes, each failing; then the host moves the message to the poison queue."""
    deps.queue.sent.remove(message)
    for attempt in range(1, MAX_DEQUEUE_COUNT + 1):
        with pytest.raises(Exception):  # noqa: B017 (any failure: the host retries whatever it is)
            handler(message.text.encode(), message_id="poisoned", dequeue_count=attempt, deps=deps)
        clock.advance(seconds=30)


def idle(deps, template="base"):
    """Building or idle with nothing owed: no claim, the last run ended and was published."""
    runs = deps.store.list_runs(template)
    return deps.store.get_claim(template) is None and all(r.is_terminal and r.published for r in runs)


def test_a_storage_outage_longer_than_the_retries_after_a_build_ends_does_not_block_its_follow_up(deps, clock):
    store = deps.store
    deps.store = Outage(store, StorageError("table storage failed: ServiceUnavailable"))
    request(deps, msg_id="m1")
    request(deps, msg_id="m2", reason="second")
    deps.backend.finish("base", RunState.SUCCEEDED)
    [poll] = pending(deps, POLLS_QUEUE)
    clock.advance(seconds=poll.delay_seconds)
    deps.store.down = True
    deliver_until_poisoned(deps, clock, poll, handle_poll_message)
    clock.advance(minutes=6 - RETRY_BUDGET_MINUTES)  # the outage lasts 6 minutes in all
    assert reconcile(deps)[0].startswith("listing claims: error")  # the reconciler fails too, harmlessly
    deps.store.down = False
    clock.advance(minutes=1)
    reconcile(deps)
    first, follow_up = sorted(store.list_runs("base"), key=lambda r: r.created_at)
    assert first.state is RunState.SUCCEEDED and first.published
    assert follow_up.reasons == ("second",) and deps.backend.runs_started == ["base", "base"]
    assert store.get_claim("base").run_id == follow_up.run_id


def test_an_outage_right_after_publishing_neither_republishes_a_new_id_nor_blocks(deps, clock):
    store, publisher = deps.store, deps.publisher
    deps.store = Outage(store, StorageError("table storage failed: ServiceUnavailable"))
    original = publisher.publish

    def publish_then_fail(event):
        original(event)
        deps.store.down = True  # the mark "published" cannot be written

    publisher.publish = publish_then_fail
    request(deps)
    deps.backend.finish("base", RunState.SUCCEEDED)
    [poll] = pending(deps, POLLS_QUEUE)
    deliver_until_poisoned(deps, clock, poll, handle_poll_message)
    publisher.publish = original
    clock.advance(minutes=10)
    deps.store.down = False
    reconcile(deps)
    assert idle(deps) and {e["id"] for e in publisher.events} == {f"{store.list_runs('base')[0].run_id}/finished"}


def test_a_poisoned_start_is_resumed_by_the_reconciler_under_the_same_request(deps, clock):
    deps.backend = Outage(deps.backend, BackendError("ARM: 503 Service Unavailable"))
    body = json.dumps(
        {"template": "base", "id": "source-0123456789abcdef-base", "signal": "source", "upstream": "platform/x@1"}
    ).encode()
    deps.backend.down = True
    for attempt in range(1, MAX_DEQUEUE_COUNT):
        with pytest.raises(BackendError):
            handle_request_message(body, message_id="q1", dequeue_count=attempt, deps=deps)
    assert handle_request_message(body, message_id="q1", dequeue_count=MAX_DEQUEUE_COUNT, deps=deps) == "pending"
    deps.backend.down = False
    clock.advance(minutes=5)
    assert reconcile(deps) == [f"base: start of {deps.store.get_claim('base').run_id} resumed: Run invoked"]
    assert deps.backend.runs_started == ["base"]
    assert handle_request_message(body, message_id="q2", dequeue_count=1, deps=deps) == "started"  # a redelivery
    assert deps.backend.runs_started == ["base"]


def test_an_internal_request_rejected_after_its_retries_can_still_be_served_under_its_id(deps, clock):
    create_claim = deps.store.create_claim
    body = json.dumps(
        {"template": "base", "id": "source-0123456789abcdef-base", "signal": "source", "upstream": "platform/x@1"}
    ).encode()
    deps.store.create_claim = lambda claim: (_ for _ in ()).throw(StorageError("claims table unavailable"))
    for attempt in range(1, MAX_DEQUEUE_COUNT + 1):
        with pytest.raises(StorageError):
            handle_request_message(body, message_id="q1", dequeue_count=attempt, deps=deps)
    [rejected] = deps.store.list_outcomes("base")
    assert rejected.outcome is Outcome.REJECTED and rejected.request_id.startswith(
        "source-0123456789abcdef-base:rejected"
    )
    deps.store.create_claim = create_claim
    # The sweep (or the reconciler) asks again under the same id: the rejection beside it is no verdict on it.
    assert handle_request_message(body, message_id="q2", dequeue_count=1, deps=deps) == "started"
    assert deps.backend.runs_started == ["base"]


@pytest.mark.parametrize("reader", ["read_log", "run_outputs"])
def test_a_forbidden_log_or_output_never_keeps_a_finished_build_running(deps, clock, reader):
    def forbidden(template):
        raise BackendError("AuthorizationFailed (403): the identity has no access to the staging storage")

    setattr(deps.backend, reader, forbidden)
    request(deps)
    deps.backend.finish(
        "base",
        RunState.SUCCEEDED if reader == "run_outputs" else RunState.FAILED,
        message="Failed while waiting for packerizer",
    )
    # Within the patience the chain collects again shortly: no failed delivery, no poisoned message.
    assert drain(deps, clock, POLLS_QUEUE) == ["polling"]
    assert deps.store.list_runs("base")[0].state is RunState.RUNNING
    clock.advance(minutes=10)
    reconcile(deps)
    [run] = deps.store.list_runs("base")
    what = "log" if reader == "read_log" else "run outputs"
    assert run.is_terminal and run.published and idle(deps)
    assert run.notes[0].startswith(f"{what} unavailable: BackendError: AuthorizationFailed (403)")
    assert deps.publisher.events[0]["data"]["notes"] == list(run.notes)


def test_a_huge_non_ascii_failure_fits_its_record_and_its_event(deps, clock):
    from aibtrigger.domain.limits import QUEUE_BUDGET_BYTES, TABLE_BUDGET_UNITS, json_bytes, utf16_units

    line = "[1a2b] PACKER ERR     azure-arm: ошибка установки пакета 😀 " * 20
    log = "\n".join(f"{line}{i}" for i in range(2_000)) + "\nScript exited with non-zero exit status: 1\n"
    request(deps)
    deps.backend.finish("base", RunState.FAILED, message="Failed: " + "ü" * 70_000, log=log)
    drain(deps, clock, POLLS_QUEUE)
    [run] = deps.store.list_runs("base")
    assert utf16_units(json.dumps(run.excerpt.to_dict(), ensure_ascii=False)) <= TABLE_BUDGET_UNITS
    assert run.message.endswith("more characters]") and utf16_units(run.message) <= 4_000
    [event] = deps.publisher.events
    assert json_bytes(event) <= QUEUE_BUDGET_BYTES and event["data"]["failure"]["lines"]


def test_run_refused_for_the_templates_provisioning_state_is_retried_then_surfaced_never_adopted(deps, clock):
    week_ago = clock() - __import__("datetime").timedelta(days=7)
    deps.backend.status["base"] = BuildStatus(RunState.SUCCEEDED, None, week_ago, week_ago, "")
    deps.backend.outputs["base"] = [RunOutput("out", "/subscriptions/s/.../versions/1.0.0")]

    def refused(template, *, provenance=None):
        raise BuildAlreadyActiveError(
            "OperationNotAllowed: Run is not allowed in provisioning state Updating, run state Succeeded"
        )

    deps.backend.start_run = refused
    assert request(deps) == "pending"
    assert deps.publisher.events == [] and deps.store.list_runs("base") == []
    for _ in range(12):
        clock.advance(minutes=10)
        reconcile(deps)
    [run] = deps.store.list_runs("base")
    assert run.state is RunState.FAILED and run.artifact_ids == () and "provisioning state Updating" in run.message
    assert "not started after 7 attempts" in run.message and idle(deps)
    assert deps.publisher.events[0]["type"] == "aibtrigger.build.failed"


def test_someone_elses_running_build_does_not_use_up_the_request(deps, clock):
    earlier = clock() - __import__("datetime").timedelta(minutes=20)
    deps.backend.status["base"] = BuildStatus(RunState.RUNNING, None, earlier)  # started in the portal
    assert request(deps) == "pending"
    assert deps.backend.runs_started == [] and "did not start" in deps.store.get_claim("base").waiting_for
    deps.backend.finish("base", RunState.SUCCEEDED)
    clock.advance(minutes=1)
    reconcile(deps)
    assert deps.backend.runs_started == ["base"]  # our own build, for our request


def test_one_templates_fault_never_skips_another(deps, clock):
    request(deps, "base")
    request(deps, "web")
    deps.queue.sent.clear()  # both poll chains lost
    healthy = deps.backend.get_status

    def web_broken(template):
        if template == "web":
            raise RuntimeError("unexpected: a bug for this template only")
        return healthy(template)

    deps.backend.finish("base", RunState.SUCCEEDED)
    deps.backend.finish("web", RunState.SUCCEEDED)
    deps.backend.get_status = web_broken
    clock.advance(minutes=10)
    lines = reconcile(deps)
    assert any(line.startswith("web: error: RuntimeError") for line in lines)
    assert idle(deps, "base") and not idle(deps, "web")
    deps.backend.get_status = healthy
    clock.advance(minutes=4)  # the failed take-over holds a fresh lease (3 min): the next pass after it
    reconcile(deps)
    assert idle(deps, "web")


def test_a_template_removed_from_the_catalog_mid_build_is_released(deps, clock):
    from tests.unit.conftest import make_catalog

    request(deps, "web")
    deps.catalog = make_catalog("base")
    [line] = reconcile(deps)
    assert "no longer in the catalog" in line and deps.store.get_claim("web") is None
    [run] = deps.store.list_runs("web")
    assert run.state is RunState.FAILED and run.published
    assert deps.publisher.events[0]["type"] == "aibtrigger.build.failed"


def test_the_reconciler_leaves_a_live_chain_alone(deps, clock):
    request(deps)
    assert reconcile(deps) == []  # its lease runs: nothing to do
    clock.advance(minutes=30)
    [line] = reconcile(deps)
    assert "taken over from its chain: polling" in line
    [old_poll, new_poll] = pending(deps, POLLS_QUEUE)
    assert handle_poll_message(old_poll.text.encode(), message_id="o", dequeue_count=1, deps=deps) == "stale"


@pytest.mark.parametrize("round_", range(25))
def test_the_reconciler_racing_a_live_chain_finishes_the_run_once(deps, clock, round_):
    request(deps, msg_id="m1")
    request(deps, msg_id="m2")  # a follow-up waits: it must start exactly once
    deps.backend.finish("base", RunState.SUCCEEDED, outputs=[RunOutput("out", "/x/versions/1.0.1")])
    [poll] = pending(deps, POLLS_QUEUE)
    deps.queue.sent.remove(poll)
    clock.advance(minutes=10)  # the lease has run out while the poll was late
    barrier = threading.Barrier(2)
    errors = []

    def run(step):
        barrier.wait()
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - a lost race may raise: the message is then retried
            errors.append(exc)

    threads = [
        threading.Thread(
            target=run,
            args=(lambda: handle_poll_message(poll.text.encode(), message_id="p", dequeue_count=1, deps=deps),),
        ),
        threading.Thread(target=run, args=(lambda: reconcile(deps),)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    clock.advance(minutes=10)
    reconcile(deps)  # whatever a lost race left behind
    first, follow_up = sorted(deps.store.list_runs("base"), key=lambda r: r.created_at)
    assert first.state is RunState.SUCCEEDED and first.published
    assert deps.backend.runs_started == ["base", "base"]
    assert {e["id"] for e in deps.publisher.events} == {f"{first.run_id}/finished"}
    assert deps.store.get_claim("base").run_id == follow_up.run_id


def test_poisoned_messages_are_recorded_kept_and_published(deps, clock):
    from aibtrigger.adapters.queues import SentMessage
    from aibtrigger.service_layer.poisoned import drain_poison_queues

    deps.queue.sent.append(SentMessage(REQUESTS_QUEUE + "-poison", "this is not base64 !!!", 0, encoded=False))
    deps.queue.send_raw(POLLS_QUEUE + "-poison", json.dumps({"template": "base", "run_id": "r", "token": "t"}))
    lines = drain_poison_queues(deps)
    assert len(lines) == 2 and pending(deps, REQUESTS_QUEUE + "-poison") == []
    kinds = {e["data"]["queue"]: e for e in deps.publisher.events}
    assert {e["type"] for e in deps.publisher.events} == {"aibtrigger.request.poisoned"}
    assert "not base64" in kinds[REQUESTS_QUEUE]["data"]["reason"]
    assert "maxDequeueCount" in kinds[POLLS_QUEUE]["data"]["reason"]
    assert {o.outcome for o in deps.store.list_outcomes()} == {Outcome.REJECTED}
    assert b"this is not base64 !!!" in deps.logs.kept.values()


@pytest.mark.parametrize("first", ["schedule check", "reconciler"])
def test_a_due_tick_seen_by_both_the_schedule_check_and_the_reconciler_builds_once(deps, clock, first):
    from datetime import timedelta

    from aibtrigger.catalog import parse_catalog
    from aibtrigger.service_layer.planning import tick_schedules
    from tests.unit.conftest import DEFINITION

    deps.catalog = parse_catalog(
        {"templates": [{"name": "base", "definition": DEFINITION, "policy": {"schedule": "0 0 3 * * *"}}]}
    )
    deps.store.set_schedule_tick("base", clock() - timedelta(days=1))
    steps = [lambda: tick_schedules(deps), lambda: reconcile(deps)]
    for step in steps if first == "schedule check" else reversed(steps):
        step()
    drain(deps, clock, REQUESTS_QUEUE)  # the schedule check's request, if it queued one
    deps.backend.finish("base", RunState.SUCCEEDED)
    drain(deps, clock, POLLS_QUEUE)
    clock.advance(minutes=10)
    reconcile(deps)
    assert deps.backend.runs_started == ["base"] and idle(deps)


def test_the_reconciler_gives_the_events_their_time_then_builds_what_they_missed(deps, clock):
    key = "platform|westeurope|canonical|ubuntu|22_04"
    deps.store.put_summary(
        deps.store.get_summary("base").evolve(last_success_at=clock(), last_success_source_version="22.04.1")
    )
    deps.store.put_observed(key, "22.04.2", at=clock())  # a sweep saw it; its request is lost
    assert reconcile(deps) == []  # the request may still be on its way
    clock.advance(seconds=deps.lease_margin.total_seconds())
    [line] = reconcile(deps)
    assert line.startswith("base: build requested (started)") and "22.04.1 -> 22.04.2" in line
    run = deps.store.list_runs("base")[0]
    assert run.upstream == "platform/westeurope/canonical/ubuntu/22_04@22.04.2"


def test_plan_says_what_the_next_reconciler_pass_does(deps, clock):
    """`aibtrigger plan` (the dry run) and the reconciler read the same sweep: every template the plan
    says `build` is requested by the next pass (once the events had their time), and no other."""
    from aibtrigger.domain.planner_types import BUILD
    from aibtrigger.domain.records import TemplateSummary
    from aibtrigger.service_layer.planning import dry_run
    from tests.unit.conftest import make_catalog

    deps.catalog = make_catalog("owed", "current", "failed", "never", "busy", "paused", paused=("paused",))
    deps.backend.templates |= {"owed", "current", "failed", "never", "busy", "paused"}
    deps.store.put_observed("platform|westeurope|canonical|ubuntu|22_04", "22.04.2", at=clock())
    for name, used in (("owed", "22.04.1"), ("current", "22.04.2"), ("paused", "22.04.1"), ("busy", "22.04.1")):
        deps.store.put_summary(TemplateSummary(name, last_success_at=clock(), last_success_source_version=used))
    deps.store.put_summary(
        TemplateSummary(
            "failed", consecutive_failures=2, last_upstream="platform/westeurope/canonical/ubuntu/22_04@22.04.2"
        )
    )
    request(deps, "busy", msg_id="b1")
    clock.advance(seconds=deps.lease_margin.total_seconds())
    plan = {d.template: d for d in dry_run(deps)}
    assert {n: d.action for n, d in plan.items()} == {
        "owed": "build",
        "current": "skip",
        "failed": "skip",
        "never": "skip",
        "busy": "wait",
        "paused": "skip",
    }
    assert plan["busy"].reasons[0].startswith("building now")
    assert plan["never"].reasons[-1].endswith("`aibtrigger request never` builds it")
    before = set(deps.backend.runs_started)
    reconcile(deps)
    assert sorted(deps.backend.runs_started) == sorted(["busy", "owed"])
    assert {n for n, d in plan.items() if d.action == BUILD} == set(deps.backend.runs_started) - before
