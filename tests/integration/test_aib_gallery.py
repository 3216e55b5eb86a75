"""AzureGallery against the fake ARM: the PATCH and DELETE long-running operations as the SDK drives
them, what goes on the wire, and how Azure's refusals come out (the gallery contract covers the rest)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from aibtrigger.errors import BackendError
from tests.fakearm import FakeArm, Fault, Timeline
from tests.fakearm.fixtures import (  # noqa: F401 - arm_clock, arm_credential, arm_tls, fake_arm, staging_storage are fixtures
    arm_clock,
    arm_credential,
    arm_tls,
    catalog_of,
    fake_arm,
    make_backend,
    make_gallery,
    staging_storage,
)
from tests.fakearm.logs import SUCCESS_LOG


@pytest.fixture
def arm(arm_tls):  # noqa: F811 - the fixture
    with FakeArm(arm_tls) as fake:  # no staging storage: gallery calls need none
        yield fake


@pytest.fixture
def gallery(arm, arm_tls, arm_credential):  # noqa: F811 - fixtures
    return make_gallery(arm, arm_tls, arm_credential)


def _image(arm, name="web") -> str:
    return (
        f"/subscriptions/{arm.world.subscription}/resourceGroups/rg-gallery/providers/Microsoft.Compute/"
        f"galleries/golden/images/{name}"
    )


def test_a_patch_carries_only_the_change_and_is_polled_to_its_end(arm, gallery):
    version_id = _image(arm) + "/versions/1.0.0"
    arm.world.add_gallery_version(version_id, tags={"by": "aib"})
    arm.world.operation_polls = 2  # the operation says InProgress twice
    arm.reset_counts()
    document = gallery.update_version(version_id, exclude_from_latest=True)
    assert document["excludeFromLatest"] is True and document["provisioningState"] == "Succeeded"
    assert arm.bodies("PATCH", "galleryVersion") == [{"properties": {"publishingProfile": {"excludeFromLatest": True}}}]
    assert arm.count("GET", "galleryOperation") == 3  # InProgress, InProgress, Succeeded
    assert arm.count("GET", "galleryVersion") == 1  # the SDK's final read of the version

    end = datetime(2027, 6, 30, tzinfo=UTC)
    gallery.update_version(version_id, end_of_life=end, tags={"aibtrigger.run": "web.1"})
    assert arm.bodies("PATCH", "galleryVersion")[1] == {
        "properties": {"publishingProfile": {"endOfLifeDate": "2027-06-30T00:00:00Z"}},
        "tags": {"by": "aib", "aibtrigger.run": "web.1"},  # ARM replaces tags: the merge is sent whole
    }


def test_delete_is_a_long_running_operation_and_a_missing_version_is_fine(arm, gallery):
    version_id = _image(arm) + "/versions/1.0.0"
    arm.world.add_gallery_version(version_id)
    arm.reset_counts()
    gallery.delete_version(version_id)
    assert arm.count("DELETE", "galleryVersion", status=202) == 1 and arm.count("GET", "galleryOperation") == 2
    assert gallery.get_version(version_id) is None
    gallery.delete_version(version_id)  # 204
    arm.faults.add(Fault("galleryVersion", "DELETE", 404, "ResourceNotFound", "The Resource was not found."))
    gallery.delete_version(version_id)  # some RPs answer 404: gone all the same


def test_a_403_forever_is_a_backend_error_naming_the_version_and_authorization_failed(arm, gallery):
    version_id = _image(arm) + "/versions/1.0.0"
    arm.world.add_gallery_version(version_id)
    arm.faults.add(Fault.authorization_failed(times=1000))
    with pytest.raises(BackendError) as caught:
        gallery.update_version(version_id, exclude_from_latest=False)
    message = str(caught.value)
    assert "AuthorizationFailed" in message and version_id in message and "role assignments" in message
    assert arm.count("PATCH", "galleryVersion") == 1  # a 403 is never retried
    assert gallery.get_version(version_id)["excludeFromLatest"] is False  # nothing changed


def test_a_409_while_replicating_is_a_plain_backend_error(arm, gallery):
    version_id = _image(arm) + "/versions/1.0.0"
    arm.world.add_gallery_version(version_id)
    arm.faults.add(Fault.gallery_conflict())
    with pytest.raises(BackendError) as caught:
        gallery.update_version(version_id, exclude_from_latest=True)
    assert type(caught.value) is BackendError  # not a build's "already active" refusal
    assert "HTTP 409 OperationNotAllowed" in str(caught.value) and version_id in str(caught.value)
    assert gallery.update_version(version_id, exclude_from_latest=True)["excludeFromLatest"] is True  # later: fine


def test_a_change_refused_while_another_runs_and_a_failed_operation(arm, gallery):
    version_id = _image(arm) + "/versions/1.0.0"
    arm.world.add_gallery_version(version_id)
    arm.world.operation_polls = 5
    started = arm.world.change_gallery_version(version_id, {"tags": {"a": "b"}})  # someone else's PATCH
    assert started is not None
    with pytest.raises(BackendError, match="Updating"):
        gallery.update_version(version_id, exclude_from_latest=True)
    for _ in range(6):
        arm.world.gallery_operation_json(started[0])  # theirs ends
    arm.world.operation_polls = 0
    arm.world.operation_error = {
        "code": "GalleryImageVersionUpdateFailed",
        "message": "Replication to 'northeurope' failed.",
    }
    with pytest.raises(BackendError, match="GalleryImageVersionUpdateFailed") as caught:
        gallery.update_version(version_id, exclude_from_latest=True)
    assert version_id in str(caught.value)


def test_replication_status_is_read_and_listings_follow_next_links(arm, gallery):
    image = _image(arm, "multi")
    arm.world.page_size = 2
    for version in ("1.0.4", "1.0.10", "1.0.0", "1.0.2", "1.0.3"):
        arm.world.add_gallery_version(
            f"{image}/versions/{version}", replication={"westeurope": "Completed", "northeurope": "Replicating"}
        )
    document = gallery.get_version(f"{image}/versions/1.0.2")
    assert document["replication"] == {
        "state": "Replicating",
        "regions": {"westeurope": "Completed", "northeurope": "Replicating"},
    }
    assert document["sizeBytes"] == 30 * 2**30
    arm.reset_counts()
    listed = gallery.list_versions(image)
    assert [v["name"] for v in listed] == ["1.0.0", "1.0.2", "1.0.3", "1.0.4", "1.0.10"]
    assert arm.count("GET", "galleryVersions") == 3  # three pages
    assert listed[0]["replication"]["state"] == "Unknown"  # a listing carries no replication status
    assert gallery.list_versions(_image(arm, "none")) == []


# --- provenance: the service tags what an AIB run distributed (AIB's artifactTags are per template) ------
@pytest.mark.azurite  # the build's log is read from a staging Azurite
@pytest.mark.parametrize("refusing", [False, True], ids=["tagged", "403-forever"])
def test_a_runs_gallery_version_gets_its_provenance_or_a_note_when_azure_refuses(
    fake_arm, arm_clock, arm_tls, arm_credential, refusing
):
    from aibtrigger.domain.provenance import provenance_of
    from tests.fakearm.service import build_once, service_deps

    fake_arm.world.add_template("base", timeline=Timeline.minutes(20, log=SUCCESS_LOG))
    gallery = make_gallery(fake_arm, arm_tls, arm_credential)
    backend = make_backend(fake_arm, arm_tls, arm_credential)
    deps = service_deps(catalog_of(fake_arm), backend, arm_clock, gallery=gallery)
    if refusing:
        fake_arm.faults.add(Fault.authorization_failed(times=1000))
    build_once(deps, arm_clock, "base", "first")
    [run] = deps.store.list_runs("base")
    [version_id] = run.artifact_ids
    assert run.state.value == "Succeeded" and run.published
    version = gallery.get_version(version_id)
    assert version["tags"]["by"] == "aibtrigger"  # the template's artifactTags stay
    if refusing:
        assert provenance_of(version) is None
        [note] = run.notes
        assert "AuthorizationFailed" in note and version_id in note
        assert fake_arm.count("PATCH", "galleryVersion") == 1
    else:
        assert provenance_of(version)["run_id"] == run.run_id and run.notes == ()
        assert fake_arm.bodies("PATCH", "galleryVersion")[0]["tags"]["aibtrigger.run"] == run.run_id


def test_a_runs_version_reports_the_replication_state_the_world_sets(arm, gallery):
    """What distribution-only recovery (issue 14) reads: a region that failed, then completed."""
    arm.world.add_template("base")
    arm.world.start_run("base")
    [version_id] = [entry["id"] for entry in arm.world.gallery.values()]
    arm.clock.advance(seconds=10**5)  # the build is over
    arm.world.set_replication(version_id, {"westeurope": "Completed", "northeurope": "Failed"})
    assert gallery.get_version(version_id)["replication"] == {
        "state": "Failed",
        "regions": {"westeurope": "Completed", "northeurope": "Failed"},
    }
    arm.world.set_replication(version_id, {"westeurope": "Completed", "northeurope": "Completed"})
    assert gallery.get_version(version_id)["replication"]["state"] == "Completed"
