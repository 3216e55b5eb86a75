"""Sequences an adversarial review of issue 10 found (on 8357894 + 97ff0ff); each failed before its fix."""

import json
from datetime import timedelta

import pytest

from aibtrigger.domain.model import BuildStatus, RunState
from aibtrigger.domain.records import Outcome
from aibtrigger.errors import BackendError, BuildAlreadyActiveError, TemplateNotFoundError
from aibtrigger.names import POLLS_QUEUE
from aibtrigger.service_layer.intake import MAX_DEQUEUE_COUNT, handle_request_message
from aibtrigger.service_layer.reconciler import reconcile
from tests.fakes import Outage
from tests.unit.conftest import make_catalog
from tests.unit.test_flow import drain, pending, request

KEY = "platform|westeurope|canonical|ubuntu|22_04"


def test_1_abandon_with_a_stale_claim_snapshot_builds_a_template_outside_the_catalog(deps, clock):
    request(deps, "web", msg_id="m1")
    snapshot = deps.store.list_claims()  # the reconciler lists claims at the start of its pass...
    request(deps, "web", msg_id="m2")  # ...a request coalesces meanwhile (etag changes)
    deps.backend.finish("web", RunState.SUCCEEDED)
    deps.catalog = make_catalog("base")  # web leaves the catalog
    deps.store.list_claims = lambda: snapshot
    reconcile(deps)
    assert deps.backend.runs_started == ["web"], "Run invoked on a template that is not in the catalog"


def test_1b_abandon_records_a_build_the_backend_reports_succeeded_as_failed(deps, clock):
    request(deps, "web", msg_id="m1")
    deps.backend.finish("web", RunState.SUCCEEDED)  # distributed an image version
    deps.catalog = make_catalog("base")
    reconcile(deps)
    [run] = deps.store.list_runs("web")
    assert run.state is RunState.SUCCEEDED, f"recorded {run.state}: {run.message}"


def test_2_a_manual_request_reported_rejected_and_poisoned_is_built_anyway(deps, clock):
    deps.backend = Outage(deps.backend, BackendError("ARM: 503"))
    deps.backend.down = True
    body = json.dumps({"template": "base", "reason": "patch now", "requested_by": "alice"}).encode()
    for attempt in range(1, MAX_DEQUEUE_COUNT):
        with pytest.raises(BackendError):
            handle_request_message(body, message_id="q1", dequeue_count=attempt, deps=deps)
        clock.advance(seconds=30)
    # The last attempt finds the claim holding the request: the message is done, the claim carries it on.
    assert handle_request_message(body, message_id="q1", dequeue_count=MAX_DEQUEUE_COUNT, deps=deps) == "pending"
    deps.backend.down = False
    clock.advance(minutes=5)
    reconcile(deps)
    assert deps.backend.runs_started == ["base"]
    deps.backend.finish("base", RunState.SUCCEEDED)
    drain(deps, clock, POLLS_QUEUE)
    assert deps.store.get_outcome("base", "q1").outcome is Outcome.STARTED  # was: REJECTED (and poisoned), yet built


def test_3_a_start_that_keeps_raising_is_retried_every_minute_forever_and_never_given_up(deps, clock):
    def gone(template):
        raise TemplateNotFoundError("base")  # the AIB template resource was deleted / 403 on it

    deps.backend.get_status = gone
    with pytest.raises(TemplateNotFoundError):
        request(deps)
    lines = []
    for _ in range(48 * 60):  # two days of minute-by-minute passes
        clock.advance(minutes=1)
        lines += reconcile(deps)
    assert len(lines) < 100, f"{len(lines)} reconciler errors, one every minute"
    assert deps.store.get_claim("base") is None, "claim never given up: every request coalesces forever"


def test_4_abandoning_a_starting_claim_loses_its_pending_request(deps, clock):
    deps.backend.status["web"] = BuildStatus(RunState.RUNNING, None, clock() - timedelta(minutes=20))
    assert request(deps, "web", msg_id="m1") == "pending"  # the message is completed: no redelivery
    deps.catalog = make_catalog("base")
    reconcile(deps)
    assert deps.store.get_claim("web") is None
    assert deps.store.get_outcome("web", "m1") is not None, "accepted request vanished without an outcome"


def test_5_a_given_up_start_leaves_the_owed_build_unowed_for_ever(deps, clock):
    deps.store.put_summary(
        deps.store.get_summary("base").evolve(last_success_at=clock(), last_success_source_version="22.04.1")
    )
    deps.store.put_observed(KEY, "22.04.2", at=clock() - timedelta(hours=1))
    real_start = deps.backend.start_run

    def refused(template):
        raise BuildAlreadyActiveError("OperationNotAllowed: provisioning state Updating")

    deps.backend.start_run = refused
    for _ in range(12):  # ~2 h of 'Updating': the start is given up (surfaced)
        clock.advance(minutes=10)
        reconcile(deps)
    assert deps.store.list_runs("base")[0].state is RunState.FAILED
    deps.backend.start_run = real_start  # the fault has ended
    for _ in range(60):
        clock.advance(minutes=1)
        reconcile(deps)
    assert deps.backend.runs_started == ["base"], "the planner still owed 22.04.2, but nobody ever built it"


def test_6_a_redelivered_request_whose_outcome_write_failed_doubles_the_poll_chain_for_good(deps, clock):
    from aibtrigger.errors import StorageError

    real = deps.store.add_outcome
    deps.store.add_outcome = lambda o: (_ for _ in ()).throw(StorageError("blip"))  # first poll already sent
    with pytest.raises(StorageError):
        request(deps, msg_id="m1")
    deps.store.add_outcome = real
    request(deps, msg_id="m1")  # the host redelivers: 'one more poll with the same token'
    for _ in range(5):
        drain(deps, clock, POLLS_QUEUE)
    assert len(pending(deps, POLLS_QUEUE)) == 1, "two live poll chains with one token, both re-queuing for ever"


def test_7_a_build_started_by_someone_else_just_before_the_claim_is_adopted(deps, clock):
    deps.backend.status["base"] = BuildStatus(RunState.RUNNING, None, clock() - timedelta(minutes=4))  # portal
    assert request(deps) == "pending", "someone else's build served the request (adopted)"


def test_8_fifty_starts_that_keep_failing_starve_every_other_template(deps, clock):
    names = [f"a{i:02d}" for i in range(50)]
    deps.catalog = make_catalog(*names, "zz")
    deps.backend.templates |= {*names, "zz"}
    healthy = deps.backend.get_status

    def broken(template):  # 50 templates whose status read fails (RBAC, deleted)
        if template != "zz":
            raise BackendError("AuthorizationFailed (403)")
        return healthy(template)

    deps.backend.get_status = broken
    for name in names:
        with pytest.raises(BackendError):
            request(deps, name, msg_id=f"m-{name}")
    request(deps, "zz", msg_id="m-zz")
    deps.queue.sent.clear()  # zz's poll chain lost
    deps.backend.finish("zz", RunState.SUCCEEDED)
    for _ in range(60):
        clock.advance(minutes=1)
        reconcile(deps)
    assert deps.store.get_claim("zz") is None, "zz's finished build never got a turn in an hour"


def test_9_an_unreadable_log_poisons_the_poll_and_raises_a_false_alarm_on_every_such_build(deps, clock):
    from aibtrigger.service_layer.poisoned import drain_poison_queues

    def forbidden(template):
        raise BackendError("AuthorizationFailed (403)")

    deps.backend.read_log = forbidden
    request(deps)
    deps.backend.finish("base", RunState.FAILED, message="Failed")
    for _ in range(40):  # 40 polls of the chain, 10 s apart: past the 5-minute patience
        assert set(drain(deps, clock, POLLS_QUEUE)) <= {"polling", "finished"}  # never a failed delivery
    drain_poison_queues(deps)
    assert deps.store.list_runs("base")[0].published and "log unavailable" in deps.store.list_runs("base")[0].notes[0]
    kinds = [e["type"] for e in deps.publisher.events]
    assert "aibtrigger.request.poisoned" not in kinds, f"a poisoned alarm too: {kinds}"


@pytest.mark.parametrize(
    "body",
    [
        b'{"template": "base", "reason": ""}',  # malformed: rejected at once
        b'{"template": "nope", "id": "source-1-nope", "signal": "source"}',
    ],
)
def test_10_a_message_intake_rejected_at_once_is_recorded_twice_with_a_false_reason(deps, clock, body):
    from aibtrigger.service_layer.poisoned import drain_poison_queues

    assert handle_request_message(body, message_id="q1", dequeue_count=1, deps=deps) == "rejected"
    drain_poison_queues(deps)  # the poison copy has a new message id
    rejected = deps.store.list_outcomes()
    assert len(rejected) == 1, [(o.request_id, o.detail[:60]) for o in rejected]
