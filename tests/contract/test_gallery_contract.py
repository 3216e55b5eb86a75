"""One contract for the gallery port (aibtrigger.adapters.gallery), run against every implementation:
the in-memory fake of the unit tests, LocalGallery on Azurite, AzureGallery on the fake ARM.

Each driver publishes versions the way its backend does (out of band, as a build would) and says what
`/versions/latest` resolves to there (LocalGallery.latest_version; the fake ARM's own rule)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from aibtrigger.adapters.gallery import GalleryVersions

_STATES = {"Creating", "Updating", "Succeeded", "Failed", "Deleting"}
_REPLICATION = {"Completed", "Replicating", "Failed", "Unknown"}


@dataclass
class Driver:
    port: GalleryVersions
    image: str  # a gallery image id
    publish: Callable[[str], str]  # version name -> the new version's id, published as a build would
    latest: Callable[[], str | None]  # the version `/versions/latest` resolves to


def _image(subscription: str, unique: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/rg-gallery/providers/Microsoft.Compute/"
        f"galleries/golden/images/img-{unique}"
    )


def _latest_of(port: GalleryVersions, image: str) -> str | None:
    """Azure's rule: the highest Succeeded version not excluded from latest."""
    usable = [v["name"] for v in port.list_versions(image) if v["provisioningState"] == "Succeeded"]
    usable = [name for name in usable if not port.get_version(f"{image}/versions/{name}")["excludeFromLatest"]]
    return usable[-1] if usable else None


def _fake_driver(request) -> Driver:
    from tests.fakes import FakeGallery

    fake, image = FakeGallery(clock=lambda: datetime(2026, 12, 1, tzinfo=UTC)), _image("sub", "fake")
    return Driver(
        fake,
        image,
        lambda version: fake.add(f"{image}/versions/{version}")["id"],
        lambda: _latest_of(fake, image),
    )


def _local_driver(request) -> Driver:
    from aibtrigger.adapters.local.gallery import LocalGallery
    from aibtrigger.adapters.local.layout import blob_service

    azurite, unique = request.getfixturevalue("azurite"), request.getfixturevalue("unique")
    tmp_path = request.getfixturevalue("tmp_path")
    gallery, image = LocalGallery(blob_service(azurite.connection_string)), _image(f"sub-{unique}", unique)

    def publish(version: str) -> str:
        artifact = tmp_path / f"{version}.tar.gz"
        artifact.write_bytes(b"rootfs " + version.encode())
        return gallery.create_version(image, version, artifact, {"targetRegions": [{"name": "westeurope"}]})

    return Driver(gallery, image, publish, lambda: gallery.latest_version(image))


def _aib_driver(request) -> Driver:
    from tests.contract.aib_driver import aib_gallery_fields

    return Driver(**aib_gallery_fields(request))


@pytest.fixture(params=["fake", pytest.param("local", marks=pytest.mark.azurite), "aib"])
def gallery(request) -> Driver:
    return {"fake": _fake_driver, "local": _local_driver, "aib": _aib_driver}[request.param](request)


def test_versions_are_listed_oldest_first_by_number_with_the_port_fields(gallery):
    assert gallery.port.list_versions(gallery.image) == []
    for version in ("1.0.10", "1.0.2", "1.0.9"):
        gallery.publish(version)
    listed = gallery.port.list_versions(gallery.image)
    assert [v["name"] for v in listed] == ["1.0.2", "1.0.9", "1.0.10"]
    for document in listed:
        assert document["id"].lower() == f"{gallery.image}/versions/{document['name']}".lower()
        assert document["provisioningState"] in _STATES
        assert document["excludeFromLatest"] is False and document["endOfLifeDate"] is None
        assert isinstance(document["tags"], dict) and document["replication"]["state"] in _REPLICATION
        assert "publishedDate" in document and "sizeBytes" in document
    read = gallery.port.get_version(f"{gallery.image}/versions/1.0.9")
    assert read["name"] == "1.0.9" and read["provisioningState"] == "Succeeded"
    assert read["replication"]["state"] == "Completed"
    assert gallery.port.get_version(f"{gallery.image}/versions/7.7.7") is None


def test_an_update_merges_tags_and_returns_the_new_document(gallery):
    version_id = gallery.publish("1.0.0")
    first = gallery.port.update_version(version_id, tags={"aibtrigger.run": "base.1", "owner": "alice"})
    assert first["tags"] == {"aibtrigger.run": "base.1", "owner": "alice"}
    second = gallery.port.update_version(version_id, tags={"owner": "bob", "aibtrigger.template": "base"})
    assert second["tags"] == {"aibtrigger.run": "base.1", "owner": "bob", "aibtrigger.template": "base"}
    assert gallery.port.get_version(version_id)["tags"] == second["tags"]
    assert second["provisioningState"] == "Succeeded" and second["excludeFromLatest"] is False


def test_excluding_and_including_a_version_moves_latest(gallery):
    gallery.publish("1.0.0")
    newest = gallery.publish("1.0.1")
    assert gallery.latest() == "1.0.1"
    assert gallery.port.update_version(newest, exclude_from_latest=True)["excludeFromLatest"] is True
    assert gallery.latest() == "1.0.0"  # a rollback: latest falls back
    assert gallery.port.get_version(newest)["excludeFromLatest"] is True
    gallery.port.update_version(newest, exclude_from_latest=False)  # a promotion
    assert gallery.latest() == "1.0.1"


def test_end_of_life_round_trips_and_other_fields_stay(gallery):
    version_id = gallery.publish("2.0.0")
    gallery.port.update_version(version_id, tags={"keep": "me"})
    end = datetime(2027, 3, 1, 12, 30, tzinfo=UTC)
    updated = gallery.port.update_version(version_id, end_of_life=end)
    read = gallery.port.get_version(version_id)
    for document in (updated, read):
        assert datetime.fromisoformat(document["endOfLifeDate"].replace("Z", "+00:00")) == end
        assert document["tags"] == {"keep": "me"} and document["excludeFromLatest"] is False


def test_delete_is_idempotent(gallery):
    gallery.publish("1.0.0")
    doomed = gallery.publish("1.0.1")
    gallery.port.delete_version(doomed)
    assert gallery.port.get_version(doomed) is None
    assert [v["name"] for v in gallery.port.list_versions(gallery.image)] == ["1.0.0"]
    assert gallery.latest() == "1.0.0"
    gallery.port.delete_version(doomed)  # already gone
    gallery.port.delete_version(f"{gallery.image}/versions/9.9.9")  # never existed


def test_updating_a_missing_version_is_a_lookup_error(gallery):
    gallery.publish("1.0.0")
    with pytest.raises(LookupError):
        gallery.port.update_version(f"{gallery.image}/versions/9.9.9", exclude_from_latest=True)
    with pytest.raises(LookupError):
        gallery.port.update_version(f"{gallery.image}/versions/9.9.9", tags={"a": "b"})


def test_replicating_again_keeps_the_version_and_its_settings(gallery):
    """Distribution-only recovery asks for it after a failed replication; nothing else may change."""
    version_id = gallery.publish("1.0.0")
    gallery.port.update_version(version_id, tags={"aibtrigger.run": "base.1"})
    document = gallery.port.replicate(version_id)
    assert document["id"].lower() == version_id.lower() and document["tags"] == {"aibtrigger.run": "base.1"}
    assert document["replication"]["state"] in ("Replicating", "Completed")
    assert gallery.latest() == "1.0.0"
    with pytest.raises(LookupError):
        gallery.port.replicate(f"{gallery.image}/versions/9.9.9")
