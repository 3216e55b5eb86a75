"""Distribution-only recovery (issue 14, item 4): a run that failed while distributing waits for the
gallery, ends Succeeded late or Failed with why, within its bounds, and never runs the template again."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from aibtrigger.domain import distribution as rules
from aibtrigger.domain.distribution import Recovery
from aibtrigger.domain.model import BuildStatus, RunOutput, RunState, RunSubState
from aibtrigger.errors import BackendError
from aibtrigger.names import POLLS_QUEUE
from aibtrigger.service_layer.reconciler import reconcile
from tests.fakes import Clock, Outage
from tests.unit.test_flow import drain, pending, request

FIXTURES = Path(__file__).parent.parent / "fixtures" / "distribution"
IMAGE = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i"
VERSION = f"{IMAGE}/versions/1.0.4"
# Written for these tests in the shape AIB gives a distribution failure (tests/fixtures/distribution/SOURCES.md)
TIMED_OUT_DISTRIBUTING = (
    f"Failed in distributing 1 images out of total 1: {{[Error 0] [Distribute 0] Error publishing to {IMAGE}: "
    "Error waiting on the gallery: context deadline exceeded}"
)
REGION_FAILED = "Failed in distributing 1 images out of total 1: {[Error 0] [Distribute 0] replication failed}"


def arm_to_port(body: dict) -> dict:
    """What the Azure gallery adapter makes of an ARM GalleryImageVersion (expand=ReplicationStatus)."""
    status = body["properties"].get("replicationStatus") or {}
    aggregated = {"InProgress": "Replicating"}.get(status.get("aggregatedState"), status.get("aggregatedState"))
    return {
        "id": VERSION,
        "name": body["name"],
        "provisioningState": body["properties"]["provisioningState"],
        "tags": body.get("tags") or {},
        "replication": {
            "state": aggregated or "Unknown",
            "regions": {r["region"]: r["state"] for r in status.get("summary") or []},
        },
    }


def fixture(name: str) -> dict:
    return arm_to_port(json.loads((FIXTURES / f"gallery_image_version_replication_{name}.json").read_text()))


# --- the decision, pure ----------------------------------------------------------------------------------
CLOCK = Clock()
T0 = CLOCK()


def decide(documents, *, after=timedelta(minutes=10), retries=0, unreadable=None):
    return rules.decide(
        documents,
        Recovery(failed_at=T0, versions=tuple(documents), retries=retries),
        now=T0 + after,
        patience=timedelta(hours=1),
        max_retries=2,
        unreadable=unreadable,
    )


def test_a_version_replicated_everywhere_is_a_late_success():
    decision = decide({VERSION: fixture("completed")})
    assert decision.action == rules.SUCCEEDED_LATE and "i/1.0.4 replicated" in decision.why


def test_a_failed_region_is_retried_within_the_bound_then_the_run_fails_saying_where():
    retry = decide({VERSION: fixture("failed")}, retries=1)
    assert (retry.action, retry.retry) == (rules.RETRY, (VERSION,)) and "East US Failed" in retry.why
    spent = decide({VERSION: fixture("failed")}, retries=2)
    assert spent.action == rules.FAILED and "after 2 retries" in spent.why and "East US Failed" in spent.why
    late = decide({VERSION: fixture("failed")}, after=timedelta(hours=2))
    assert late.action == rules.FAILED and "after 60 min" in late.why


def test_still_replicating_is_waited_for_within_the_patience_only():
    assert decide({VERSION: fixture("in_progress")}).action == rules.WAIT
    gave_up = decide({VERSION: fixture("in_progress")}, after=timedelta(hours=1))
    assert (
        gave_up.action == rules.FAILED
        and "still replicating 60 min" in gave_up.why
        and "East US Replicating" in gave_up.why
    )


def test_a_completed_replication_of_a_version_still_updating_is_not_done():
    document = {**fixture("completed"), "provisioningState": "Updating"}
    assert decide({VERSION: document}).action == rules.WAIT


def test_nothing_to_recover_fails_at_once():
    assert decide({}).action == rules.FAILED
    missing = decide({VERSION: None})
    assert missing.action == rules.FAILED and "does not exist" in missing.why


def test_an_unreadable_gallery_is_waited_out_within_the_patience_then_named():
    assert decide({}, unreadable="BackendError: 403 AuthorizationFailed").action == rules.WAIT
    final = decide({}, after=timedelta(hours=1), unreadable="BackendError: 403 AuthorizationFailed")
    assert final.action == rules.FAILED and "403 AuthorizationFailed" in final.why


@pytest.mark.parametrize(
    ("state", "message", "sub_state", "expected"),
    [
        (RunState.FAILED, REGION_FAILED, None, True),
        (RunState.TIMED_OUT, TIMED_OUT_DISTRIBUTING, RunSubState.CUSTOMIZING, True),  # the message says so
        (RunState.FAILED, "Failed while waiting for packerizer", RunSubState.DISTRIBUTING, True),  # last seen there
        (RunState.FAILED, "Failed while waiting for packerizer", RunSubState.CUSTOMIZING, False),
        (RunState.CANCELED, REGION_FAILED, RunSubState.DISTRIBUTING, False),
        (RunState.SUCCEEDED, "", RunSubState.DISTRIBUTING, False),
    ],
)
def test_what_counts_as_a_failure_while_distributing(state, message, sub_state, expected):
    assert rules.failed_in_distribution(state, message, sub_state) is expected


def test_a_recovery_survives_its_record():
    recovery = Recovery(failed_at=T0, versions=(VERSION,), retries=1, seen="replicating")
    assert Recovery.from_dict(json.loads(json.dumps(recovery.to_dict()))) == recovery


# --- through the poll chain: ScriptedBackend + FakeGallery --------------------------------------------------
def distributing(deps, clock, *, message=TIMED_OUT_DISTRIBUTING, outputs=(VERSION,)):
    """A build that reached Distributing (seen by a poll), then failed there."""
    request(deps)
    start = deps.backend.status["base"].start_time
    deps.backend.status["base"] = BuildStatus(RunState.RUNNING, RunSubState.DISTRIBUTING, start)
    assert drain(deps, clock, POLLS_QUEUE) == ["polling"]
    deps.backend.finish("base", RunState.FAILED, message=message, outputs=[RunOutput("out", v) for v in outputs])


def replication(deps, state, **regions):
    deps.gallery.versions[VERSION.lower()]["replication"] = {"state": state, "regions": regions}


def the_run(deps):
    [run] = deps.store.list_runs("base")
    return run


def test_still_replicating_waits_then_succeeds_late_without_a_second_run(deps, clock):
    deps.gallery.add(VERSION, replication={"state": "Replicating", "regions": {"westeurope": "Replicating"}})
    distributing(deps, clock)
    assert drain(deps, clock, POLLS_QUEUE) == ["polling"]
    waiting = the_run(deps)
    assert not waiting.is_terminal and waiting.sub_state is RunSubState.DISTRIBUTING
    assert "still replicating" in waiting.recovery.seen and deps.publisher.events == []
    assert deps.store.get_claim("base").state == "running"  # the template stays claimed meanwhile
    replication(deps, "Completed", westeurope="Completed")
    assert drain(deps, clock, POLLS_QUEUE) == ["finished"]
    run = the_run(deps)
    assert run.state is RunState.SUCCEEDED and run.artifact_ids == (VERSION,) and run.excerpt is None
    assert run.message.startswith("Succeeded late:") and any("recovered without a rebuild" in n for n in run.notes)
    [event] = deps.publisher.events
    assert event["type"] == "aibtrigger.build.succeeded" and event["data"]["artifact_ids"] == [VERSION]
    assert deps.backend.runs_started == ["base"] and deps.gallery.replications == []
    assert deps.store.get_claim("base") is None


def test_a_failed_replication_is_retried_then_succeeds_late(deps, clock):
    deps.gallery.add(VERSION, replication={"state": "Failed", "regions": {"northeurope": "Failed"}})
    distributing(deps, clock, message=REGION_FAILED)
    assert drain(deps, clock, POLLS_QUEUE) == ["polling"]
    assert deps.gallery.replications == [VERSION] and the_run(deps).recovery.retries == 1
    assert "asked again" in the_run(deps).recovery.seen
    assert drain(deps, clock, POLLS_QUEUE) == ["polling"]  # FakeGallery.replicate: Replicating again
    replication(deps, "Completed", northeurope="Completed")
    assert drain(deps, clock, POLLS_QUEUE) == ["finished"]
    run = the_run(deps)
    assert run.state is RunState.SUCCEEDED and "after 1 replication retry" in run.message
    assert deps.backend.runs_started == ["base"]


def test_replication_failing_past_its_retries_is_recorded_failed_with_why(deps, clock):
    deps.distribution_retries = 2
    deps.gallery.add(VERSION, replication={"state": "Failed", "regions": {"northeurope": "Failed"}})
    distributing(deps, clock, message=REGION_FAILED)
    results = []
    for _ in range(3):
        results += drain(deps, clock, POLLS_QUEUE)
        replication(deps, "Failed", northeurope="Failed")  # every retry fails again
    assert results == ["polling", "polling", "finished"]
    run = the_run(deps)
    assert run.state is RunState.FAILED and run.message.startswith(REGION_FAILED)
    assert "distribution not recovered: replication failed after 2 retries: i/1.0.4 Failed (northeurope Failed)" in (
        run.message
    )
    assert deps.gallery.replications == [VERSION, VERSION] and deps.backend.runs_started == ["base"]
    assert deps.publisher.events[0]["type"] == "aibtrigger.build.failed"
    assert deps.store.get_claim("base") is None


@pytest.mark.parametrize(
    ("message", "state"),
    [(REGION_FAILED, RunState.FAILED), (TIMED_OUT_DISTRIBUTING, RunState.TIMED_OUT)],  # as the backend's message reads
)
def test_a_gallery_that_answers_403_forever_still_ends_the_run_within_the_patience(deps, clock, message, state):
    deps.gallery.add(VERSION, replication={"state": "Replicating", "regions": {}})
    deps.gallery = Outage(deps.gallery, BackendError("(AuthorizationFailed) The client does not have authorization"))
    deps.gallery.down = True
    distributing(deps, clock, message=message)
    results, polls = [], 0
    while "finished" not in results and polls < 200:
        results += drain(deps, clock, POLLS_QUEUE)
        polls += 1
    run = the_run(deps)
    assert run.state is state and run.message.startswith(message)
    assert "gallery still unreadable" in run.message and "AuthorizationFailed" in run.message
    assert run.ended_at - deps.backend.status["base"].end_time >= deps.distribution_patience
    assert deps.gallery.failures == polls and deps.backend.runs_started == ["base"]


def test_a_lost_poll_message_is_made_up_for_by_the_reconciler(deps, clock):
    deps.gallery.add(VERSION, replication={"state": "Replicating", "regions": {}})
    distributing(deps, clock)
    assert drain(deps, clock, POLLS_QUEUE) == ["polling"]
    deps.queue.sent = []  # the next poll is lost
    replication(deps, "Completed")
    clock.advance(hours=1)  # long past the chain's lease
    [line] = reconcile(deps)
    assert "taken over" in line and line.endswith("finished")
    assert the_run(deps).state is RunState.SUCCEEDED and deps.backend.runs_started == ["base"]


def test_the_version_is_found_by_its_provenance_when_the_run_lists_no_output(deps, clock):
    distributing(deps, clock, outputs=())
    run_id = the_run(deps).run_id
    deps.gallery.add(VERSION, tags={"aibtrigger.run": run_id}, replication={"state": "Completed", "regions": {}})
    deps.gallery.add(f"{IMAGE}/versions/1.0.3", tags={"aibtrigger.run": "base.other"})
    assert drain(deps, clock, POLLS_QUEUE) == ["finished"]
    assert the_run(deps).state is RunState.SUCCEEDED and the_run(deps).artifact_ids == (VERSION,)


def test_without_a_version_to_find_the_run_is_recorded_failed_at_once(deps, clock):
    distributing(deps, clock, message=REGION_FAILED, outputs=())
    assert drain(deps, clock, POLLS_QUEUE) == ["finished"]
    run = the_run(deps)
    assert run.state is RunState.FAILED and "no image version of this run found" in run.message


def test_without_a_gallery_the_run_is_recorded_as_the_backend_says(deps, clock):
    deps.gallery = None
    distributing(deps, clock, message=REGION_FAILED)
    assert drain(deps, clock, POLLS_QUEUE) == ["finished"]
    run = the_run(deps)
    assert (run.state, run.message, run.recovery) == (RunState.FAILED, REGION_FAILED, None)


def test_a_failure_before_distributing_is_not_waited_for(deps, clock):
    deps.gallery.add(VERSION, replication={"state": "Replicating", "regions": {}})
    request(deps)
    deps.backend.finish("base", RunState.FAILED, message="Failed while waiting for packerizer")
    assert drain(deps, clock, POLLS_QUEUE) == ["finished"]
    assert the_run(deps).state is RunState.FAILED and the_run(deps).recovery is None
    assert pending(deps, POLLS_QUEUE) == []


def test_people_see_a_run_waiting_for_the_gallery_as_distributing_and_its_recovery(deps, clock):
    from aibtrigger.console import run_dict
    from aibtrigger.status.model import _sub_state
    from aibtrigger.status.timeline import current_build

    deps.gallery.add(VERSION, replication={"state": "Replicating", "regions": {"westeurope": "Replicating"}})
    distributing(deps, clock)
    drain(deps, clock, POLLS_QUEUE)
    run, live = the_run(deps), deps.backend.get_status("base")
    assert live.run_state is RunState.FAILED  # the backend's word, which the views do not show for it
    assert _sub_state(run, live) == "Distributing"
    assert current_build(run.run_id, run, live, None, clock()).sub_state == "Distributing"
    shown = run_dict(run)
    assert shown["recovery"]["versions"] == [VERSION] and "still replicating" in shown["recovery"]["seen"]
