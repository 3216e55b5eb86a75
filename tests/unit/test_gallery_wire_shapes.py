"""The gallery image version documents: the recorded examples of the REST specs (tests/fixtures/arm/
gallery) map onto the gallery port's document, and the fake ARM renders nothing they do not show."""

from __future__ import annotations

import json
from pathlib import Path

from aibtrigger.adapters.aib.gallery import version_document
from tests.fakearm import shapes

EXAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "arm" / "gallery"
# Updatable fields of GalleryImageVersionPublishingProfile the examples leave out (the spec defines them).
_DOCUMENTED = {"excludeFromLatest", "endOfLifeDate"}


def _example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text())["responses"]["200"]["body"]


def _keys_outside(rendered, recorded, path="") -> list[str]:
    """Keys of `rendered` (recursively) that `recorded` does not have."""
    if isinstance(rendered, dict) and isinstance(recorded, dict):
        found = []
        for key, value in rendered.items():
            if key not in recorded:
                if key not in _DOCUMENTED:
                    found.append(path + key)
            else:
                found += _keys_outside(value, recorded[key], path + key + ".")
        return found
    if isinstance(rendered, list) and isinstance(recorded, list) and rendered and recorded:
        return _keys_outside(rendered[0], recorded[0], path + "[].")
    return []


def test_the_recorded_get_with_replication_status_maps_onto_the_port_document():
    document = version_document(_example("GalleryImageVersion_Get_WithReplicationStatus.json"))
    assert document["name"] == "1.0.0" and document["provisioningState"] == "Succeeded"
    assert document["publishedDate"] == "2018-01-01T00:00:00Z" and document["endOfLifeDate"] is None
    assert document["excludeFromLatest"] is False and document["tags"] == {}
    assert document["sizeBytes"] == 20 * 2**30  # the OS disk and one data disk, 10 GB each
    assert document["replication"] == {
        "state": "Completed",
        "regions": {"West US": "Completed", "East US": "Completed"},
    }


def test_a_listed_version_has_no_replication_status_and_an_updating_one_says_so():
    listed = _example("GalleryImageVersion_ListByGalleryImage.json")["value"][0]
    assert version_document(listed)["replication"] == {"state": "Unknown", "regions": {}}
    updating = version_document(_example("GalleryImageVersion_Update.json"), "/x/versions/1.0.0")
    assert updating["provisioningState"] == "Updating" and updating["id"] == "/x/versions/1.0.0"


def test_the_fake_renders_only_what_the_recorded_examples_show():
    rendered = shapes.gallery_image_version(
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0",
        "Succeeded",
        "2026-12-01T00:00:00.0000000Z",
        exclude_from_latest=True,
        end_of_life="2027-01-01T00:00:00Z",
        tags={"a": "b"},
        replication={"westeurope": "Completed"},
    )
    recorded = _example("GalleryImageVersion_Get_WithReplicationStatus.json")
    assert _keys_outside(rendered["properties"], recorded["properties"], "properties.") == []
    listed = _example("GalleryImageVersion_ListByGalleryImage.json")["value"][0]
    plain = shapes.gallery_image_version(rendered["id"], "Succeeded", "2026-12-01T00:00:00Z")
    assert "replicationStatus" not in plain["properties"] and "replicationStatus" not in listed["properties"]
