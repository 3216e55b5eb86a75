"""Distribution-only recovery through the aib backend against the fake ARM (issue 14, item 4): a build
that AIB fails while distributing is recovered from the gallery, without a second Run.

The gallery is the in-memory FakeGallery, seeded with the version the fake ARM's run made (its
runOutputs name it); the Azure gallery adapter reads the same documents from ARM."""

from __future__ import annotations

import pytest

from aibtrigger.adapters.logstore import InMemoryLogStore
from aibtrigger.adapters.publisher import InMemoryPublisher
from aibtrigger.adapters.queues import InMemoryQueue
from aibtrigger.adapters.state_store import InMemoryStateStore
from aibtrigger.domain.model import RunState
from aibtrigger.names import POLLS_QUEUE
from aibtrigger.service_layer.deps import Deps
from tests.fakearm import Timeline
from tests.fakearm.fixtures import (  # noqa: F401 - the first five are fixtures
    arm_clock,
    arm_credential,
    arm_tls,
    catalog_of,
    fake_arm,
    make_backend,
    make_gallery,
    make_sources,
    staging_storage,
)
from tests.fakearm.logs import SUCCESS_LOG
from tests.fakes import FakeGallery
from tests.unit.test_flow import drain, request

pytestmark = pytest.mark.azurite
PHASES = (("Queued", 60), ("Building", 300), ("Customizing", 1200), ("Distributing", 600))
# Written for the fake, in the shape AIB gives a distribution failure (tests/fixtures/distribution/SOURCES.md)
DISTRIBUTION_FAILED = (
    "Failed in distributing 1 images out of total 1: {[Error 0] [Distribute 0] replication of the image "
    "version to northeurope failed}"
)


@pytest.fixture
def deps(fake_arm, arm_tls, arm_credential, arm_clock):
    fake_arm.world.add_template(
        "base",
        timeline=Timeline(
            PHASES, outcome="Failed", message=DISTRIBUTION_FAILED, log=SUCCESS_LOG, failed_distributing=True
        ),
    )
    counter = iter(range(10**6))
    return Deps(
        catalog=catalog_of(fake_arm),
        store=InMemoryStateStore(),
        backend=make_backend(fake_arm, arm_tls, arm_credential),
        queue=InMemoryQueue(),
        publisher=InMemoryPublisher(),
        logs=InMemoryLogStore(),
        sources=make_sources(fake_arm, arm_tls, arm_credential),
        gallery=FakeGallery(clock=arm_clock),
        clock=arm_clock,
        entropy=lambda: f"{next(counter):06x}{0:06x}",
        poll_min_seconds=30,
        poll_max_seconds=300,
    )


def poll_until_ended(deps, clock, arm) -> list[str]:
    """Poll the build through its timeline until a poll has seen the fake ARM report it failed."""
    results = []
    while arm.world.current_run("base").state(clock()) == "Running":
        results += drain(deps, clock, POLLS_QUEUE)
    return results + drain(deps, clock, POLLS_QUEUE)


def started(deps, arm, **replication) -> str:
    """Start the build; the gallery version its distribution makes (named by the fake's runOutputs)
    reads as `replication` once the run has failed."""
    assert request(deps) == "started"
    version = arm.world.current_run("base").outputs[0]["properties"]["artifactId"]
    deps.gallery.add(version, replication=replication)
    return version


def test_a_replication_failure_is_recovered_without_a_second_run(deps, fake_arm, arm_clock):
    version = started(deps, fake_arm, state="Failed", regions={"westeurope": "Completed", "northeurope": "Failed"})
    assert set(poll_until_ended(deps, arm_clock, fake_arm)) == {"polling"}
    assert deps.backend.get_status("base").run_state is RunState.FAILED
    assert [o.artifact_id for o in deps.backend.run_outputs("base")] == [version]  # listed though it failed
    assert deps.sources.get_version(version)["provisioningState"] == "Succeeded"  # and it exists in the gallery
    assert deps.gallery.replications == [version]  # the replication was asked again
    [run] = deps.store.list_runs("base")
    assert not run.is_terminal and run.recovery.retries == 1 and deps.publisher.events == []

    assert drain(deps, arm_clock, POLLS_QUEUE) == ["polling"]  # replicating
    deps.gallery.versions[version.lower()]["replication"] = {
        "state": "Completed",
        "regions": {"westeurope": "Completed", "northeurope": "Completed"},
    }
    assert drain(deps, arm_clock, POLLS_QUEUE) == ["finished"]

    [run] = deps.store.list_runs("base")
    assert run.state is RunState.SUCCEEDED and run.artifact_ids == (version,)
    assert run.message.startswith("Succeeded late:") and "after 1 replication retry" in run.message
    assert any(DISTRIBUTION_FAILED in note for note in run.notes)
    [event] = deps.publisher.events
    assert event["type"] == "aibtrigger.build.succeeded"
    assert fake_arm.count("POST", "run") == 1 and len(fake_arm.world.runs["base"]) == 1
    assert deps.store.get_claim("base") is None


def test_an_unrecovered_replication_failure_is_recorded_failed_with_the_backend_message(deps, fake_arm, arm_clock):
    deps.distribution_retries = 1
    version = started(deps, fake_arm, state="Failed", regions={"northeurope": "Failed"})
    poll_until_ended(deps, arm_clock, fake_arm)
    assert deps.gallery.replications == [version]
    deps.gallery.versions[version.lower()]["replication"] = {"state": "Failed", "regions": {"northeurope": "Failed"}}
    assert drain(deps, arm_clock, POLLS_QUEUE) == ["finished"]
    [run] = deps.store.list_runs("base")
    assert run.state is RunState.FAILED and run.message.startswith(DISTRIBUTION_FAILED)
    assert "distribution not recovered: replication failed after 1 retry" in run.message
    assert deps.publisher.events[0]["type"] == "aibtrigger.build.failed"
    assert fake_arm.count("POST", "run") == 1


def test_a_replication_failure_is_recovered_through_azure_gallery_on_the_fake_arm(
    deps, fake_arm, arm_tls, arm_credential, arm_clock
):
    """The same recovery with the production AzureGallery: the version read with its replication
    status, replication asked again by a PATCH of its target regions, Run still posted once."""
    deps.gallery = make_gallery(fake_arm, arm_tls, arm_credential)
    assert request(deps) == "started"
    version = fake_arm.world.current_run("base").outputs[0]["properties"]["artifactId"]
    fake_arm.world.set_replication(version, {"westeurope": "Completed", "northeurope": "Failed"})
    poll_until_ended(deps, arm_clock, fake_arm)
    [patch] = fake_arm.bodies("PATCH", "galleryVersion")
    assert [r["name"] for r in patch["properties"]["publishingProfile"]["targetRegions"]]  # the regions it lists
    [run] = deps.store.list_runs("base")
    assert not run.is_terminal and run.recovery.retries == 1

    fake_arm.world.set_replication(version, {"westeurope": "Completed", "northeurope": "Completed"})
    assert drain(deps, arm_clock, POLLS_QUEUE) == ["finished"]
    [run] = deps.store.list_runs("base")
    assert run.state is RunState.SUCCEEDED and run.message.startswith("Succeeded late:")
    assert fake_arm.count("POST", "run") == 1 and len(fake_arm.world.runs["base"]) == 1
