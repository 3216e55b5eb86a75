"""The local marketplace and gallery on Azurite, and the pure helpers they rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aibtrigger.adapters.local.distribute import DistributeError, next_gallery_version
from aibtrigger.adapters.local.gallery import LocalGallery
from aibtrigger.adapters.local.layout import GALLERY_CONTAINER, blob_service, split_gallery_id
from aibtrigger.adapters.local.marketplace import LocalMarketplace, next_version
from aibtrigger.adapters.local.rootfs import archive_from_files, read_member
from aibtrigger.catalog import Versioning
from aibtrigger.domain.versions import version_key

pytestmark = pytest.mark.azurite


# --- pure helpers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "older, newer",
    [
        ("22.04.202410020", "22.04.202411050"),
        ("1.9", "1.10"),
        ("1.0.9", "1.0.10"),
        ("1.0.0", "1.0.0-beta"),  # not semver: a tolerant, total order is what matters
        ("1", "rc"),  # the one rule of aibtrigger.domain.versions: numbers before text
    ],
)
def test_version_key_compares_parts_as_numbers(older, newer):
    assert version_key(older) < version_key(newer)
    assert sorted([newer, older], key=version_key) == [older, newer]


def test_version_key_never_raises_on_odd_versions():
    assert sorted(["2.x", "", "1..2", "a.b"], key=version_key)


def test_next_marketplace_version_is_dated_and_always_newer():
    from datetime import datetime

    day = datetime(2024, 10, 2)
    assert next_version([], "22_04-lts-gen2", day) == "22.04.202410020"
    assert next_version(["22.04.202410020"], "x", day) == "22.04.202410021"
    assert next_version(["22.04.202411050"], "x", day) == "22.04.202411051"  # one from the future
    for existing in (["5"], ["1.9"], ["24.04.202410029"]):
        assert version_key(next_version(existing, "24_04", day)) > version_key(existing[0])


@pytest.mark.parametrize(
    "existing, versioning, source, expected",
    [
        ([], None, "22.04.1", "1.0.0"),
        (["1.0.0", "1.0.9", "1.0.10"], None, "x", "1.0.11"),
        (["1.0.3", "2.1.7"], None, "x", "2.1.8"),
        (["1.0.3", "2.1.7"], Versioning(scheme="Latest", major=1), "x", "1.0.4"),
        (["1.0.3"], Versioning(scheme="Latest", major=3), "x", "3.0.0"),
        (["1.0.3", "2.1.7"], Versioning(scheme="Latest", major=-1), "x", "2.1.8"),  # -1: as unset (the API's default)
        (["9.9.9"], Versioning(scheme="Source"), "22.04.202410020", "22.04.202410020"),
    ],
)
def test_next_gallery_version(existing, versioning, source, expected):
    assert next_gallery_version(existing, versioning, source) == expected


@pytest.mark.parametrize("source", ["22.04", "1.0.x", "1.0.99999999999"])
def test_source_versioning_refuses_what_a_gallery_cannot_hold(source):
    with pytest.raises(DistributeError, match="not a valid gallery image version"):
        next_gallery_version([], Versioning(scheme="Source"), source)


def test_gallery_ids_are_parsed_tolerantly():
    base = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i"
    assert split_gallery_id(base + "/versions/1.0.0")["v"] == "1.0.0"
    assert split_gallery_id(base + "/imageVersions/1.0.1")["v"] == "1.0.1"
    assert split_gallery_id(base.lower())["v"] is None
    with pytest.raises(ValueError):
        split_gallery_id("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/images/x")


# --- marketplace -------------------------------------------------------------------------------------
@pytest.fixture
def service(azurite):
    return blob_service(azurite.connection_string)


def test_marketplace_lists_versions_in_numeric_order(service, unique, tmp_path):
    market = LocalMarketplace(service)
    sku = f"sku-{unique}"
    assert market.latest_version("westeurope", "Canonical", "ubuntu", sku) is None
    for version in ("22.04.202411050", "22.04.202410020", "22.04.202409300"):
        market.publish("westeurope", "Canonical", "ubuntu", sku, version)
    assert market.list_versions("westeurope", "Canonical", "ubuntu", sku) == [
        "22.04.202409300",
        "22.04.202410020",
        "22.04.202411050",
    ]
    assert market.latest_version("westeurope", "Canonical", "ubuntu", sku) == "22.04.202411050"
    # Other locations and skus are separate images.
    assert market.list_versions("northeurope", "Canonical", "ubuntu", sku) == []
    assert market.list_versions("westeurope", "Canonical", "ubuntu", sku + "-gen2") == []

    published = market.publish("westeurope", "Canonical", "ubuntu", sku)
    assert version_key(published) > version_key("22.04.202411050")
    assert market.latest_version("westeurope", "Canonical", "ubuntu", sku) == published
    with pytest.raises(ValueError, match="already exists"):
        market.publish("westeurope", "Canonical", "ubuntu", sku, published)

    archive = market.download("westeurope", "Canonical", "ubuntu", sku, published, tmp_path)
    assert f'IMAGE_VERSION="{published}"' in read_member(archive, "etc/os-release")
    assert published in read_member(archive, "etc/issue")
    with pytest.raises(LookupError):
        market.download("westeurope", "Canonical", "ubuntu", sku, "0.0.1", tmp_path)


def test_marketplace_orders_1_10_after_1_9(service, unique):
    market = LocalMarketplace(service)
    for version in ("1.10", "1.9", "1.2"):
        market.publish("westeurope", "Contoso", "tool", unique, version)
    assert market.list_versions("westeurope", "Contoso", "tool", unique) == ["1.2", "1.9", "1.10"]
    assert market.latest_version("westeurope", "Contoso", "tool", unique) == "1.10"


# --- gallery -----------------------------------------------------------------------------------------
def _artifact(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"{abs(hash(text))}.tar.gz"
    path.write_bytes(archive_from_files({"etc/marker": text}))
    return path


def test_gallery_versions_latest_and_exclude_from_latest(service, unique, tmp_path):
    gallery = LocalGallery(service)
    image = f"/subscriptions/sub-{unique}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/base"
    assert gallery.latest_version(image) is None and gallery.version_names(image) == []
    for version in ("1.0.2", "1.0.10", "1.0.9"):
        version_id = gallery.create_version(image, version, _artifact(tmp_path, version), {"template": "t"})
        assert version_id == f"{image}/versions/{version}"
    gallery.create_version(image, "2.0.0", _artifact(tmp_path, "2.0.0"), {"excludeFromLatest": True})

    assert gallery.version_names(image) == ["1.0.2", "1.0.9", "1.0.10", "2.0.0"]
    assert gallery.latest_version(image) == "1.0.10"  # 2.0.0 is excluded from latest

    document = gallery.get_version(f"{image}/versions/1.0.10")
    assert document["provisioningState"] == "Succeeded" and document["name"] == "1.0.10"
    assert document["id"] == f"{image}/versions/1.0.10" and document["template"] == "t"
    assert document["publishedDate"] and document["excludeFromLatest"] is False
    # The 2025-10-01 spelling and another casing name the same version.
    assert (
        gallery.get_version(f"{image}/imageversions/1.0.10".upper().replace("/VERSIONS", "/versions"))["id"]
        == document["id"]
    )
    assert gallery.get_version(f"{image}/versions/7.7.7") is None

    archive = gallery.download(f"{image}/versions/1.0.9", tmp_path / "dl")
    assert read_member(archive, "etc/marker") == "1.0.9"
    with pytest.raises(FileExistsError):
        gallery.create_version(image, "1.0.9", _artifact(tmp_path, "again"), {})


def test_a_version_still_being_created_is_not_usable(service, unique, tmp_path):
    """version.json in state Creating (a writer that crashed before uploading its artifact)."""
    gallery = LocalGallery(service)
    image = f"/subscriptions/sub-{unique}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/img"
    gallery.create_version(image, "1.0.0", _artifact(tmp_path, "1"), {})
    blobs = service.get_container_client(GALLERY_CONTAINER)
    blobs.upload_blob(
        f"sub-{unique}/rg/g/img/1.0.1/version.json",
        json.dumps({"provisioningState": "Creating"}),
        metadata={"provisioningstate": "Creating", "excludefromlatest": "false"},
    )
    assert gallery.version_names(image) == ["1.0.0"]
    assert gallery.version_names(image, include_pending=True) == ["1.0.0", "1.0.1"]
    assert gallery.latest_version(image) == "1.0.0"
    with pytest.raises(LookupError):
        gallery.download(f"{image}/versions/1.0.1", tmp_path)


def test_a_target_naming_its_version_gets_that_version_and_its_target_regions_recorded(service, unique, tmp_path):
    from aibtrigger.adapters.local.capture import artifact_of
    from aibtrigger.adapters.local.distribute import Distributor
    from aibtrigger.adapters.local.sources import ResolvedSource
    from aibtrigger.catalog import SharedImageDistributor

    image = f"/subscriptions/sub-{unique}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/base"
    target = SharedImageDistributor.model_validate(
        {
            "type": "SharedImage",
            "galleryImageId": image + "/versions/3.1.4",
            "runOutputName": "base",
            "targetRegions": [{"name": "westeurope", "replicaCount": 2}],
        }
    )
    source = ResolvedSource(
        ancestor={"type": "PlatformImage", "id": "p", "version": "1"}, exact_version="1", version="1"
    )
    gallery = LocalGallery(service)
    distributor = Distributor(service, gallery, template="t", build_id="b1", source=source)
    output = distributor.distribute(target, [artifact_of(_artifact(tmp_path, "built"), "rootfs-tar-gzip")])
    assert output["properties"]["artifactId"] == f"{image}/versions/3.1.4"
    assert gallery.get_version(f"{image}/versions/3.1.4")["targetRegions"] == [
        {"name": "westeurope", "replicaCount": 2}
    ]
    with pytest.raises(DistributeError, match="3.1.4"):  # as AIB: the version asked for exists already
        distributor.distribute(target, [artifact_of(_artifact(tmp_path, "again"), "rootfs-tar-gzip")])


# --- gallery changes (the gallery port: promotion, provenance, retention) --------------------------------
class _Webhook:
    """A local Event Grid subscriber: records every POSTed batch."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/api/events"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def test_an_update_posts_the_write_event_azure_sends_for_a_patch(service, unique, tmp_path):
    from aibtrigger.adapters.local.events import VERSION_WRITE, WRITE_SUCCESS

    webhook = _Webhook()
    try:
        gallery = LocalGallery(service, event_webhook=webhook.url)
        image = f"/subscriptions/sub-{unique}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/ev"
        version_id = gallery.create_version(image, "1.0.0", _artifact(tmp_path, "ev"), {})
        gallery.update_version(version_id, exclude_from_latest=True)
    finally:
        webhook.close()
    assert len(webhook.received) == 2  # the create, then the update
    event = webhook.received[1][0]
    assert event["eventType"] == WRITE_SUCCESS and event["subject"] == version_id
    assert event["data"]["operationName"] == VERSION_WRITE and event["data"]["resourceUri"] == version_id


def test_concurrent_updates_lose_no_change(service, unique, tmp_path):
    """Each writer merges its tag into what the other wrote (version.json is rewritten on its ETag)."""
    from concurrent.futures import ThreadPoolExecutor

    gallery = LocalGallery(service)
    image = f"/subscriptions/sub-{unique}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/cc"
    version_id = gallery.create_version(image, "1.0.0", _artifact(tmp_path, "cc"), {})
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: gallery.update_version(version_id, tags={f"writer{i}": str(i)}), range(8)))
    gallery.update_version(version_id, exclude_from_latest=True)
    document = gallery.get_version(version_id)
    assert document["tags"] == {f"writer{i}": str(i) for i in range(8)}
    assert gallery.latest_version(image) is None  # the listing's metadata moved with the document


def test_size_replication_and_delete_of_every_file(service, unique, tmp_path):
    gallery = LocalGallery(service)
    image = f"/subscriptions/sub-{unique}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/sz"
    artifact, disk = _artifact(tmp_path, "sz"), tmp_path / "disk.raw"
    disk.write_bytes(b"\0" * 4096)
    version_id = gallery.create_version(
        image,
        "1.0.0",
        artifact,
        {"targetRegions": [{"name": "westeurope"}, {"name": "northeurope"}]},
        extra_files={"disk.raw": disk},
    )
    document = gallery.get_version(version_id)
    assert document["sizeBytes"] == artifact.stat().st_size + 4096
    assert document["replication"] == {
        "state": "Completed",
        "regions": {"westeurope": "Completed", "northeurope": "Completed"},
    }
    gallery.delete_version(version_id)
    blobs = service.get_container_client(GALLERY_CONTAINER)
    assert list(blobs.list_blobs(name_starts_with=f"sub-{unique}/rg/g/sz/")) == []


def test_a_version_being_created_cannot_be_changed_and_a_half_deleted_one_is_finished(service, unique, tmp_path):
    gallery = LocalGallery(service)
    image = f"/subscriptions/sub-{unique}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/hd"
    blobs = service.get_container_client(GALLERY_CONTAINER)
    for version, state in (("1.0.0", "Creating"), ("1.0.1", "Deleting")):  # a crashed writer's leftovers
        blobs.upload_blob(
            f"sub-{unique}/rg/g/hd/{version}/version.json",
            json.dumps({"id": f"{image}/versions/{version}", "name": version, "provisioningState": state}),
            metadata={"provisioningstate": state, "excludefromlatest": "false"},
        )
    blobs.upload_blob(f"sub-{unique}/rg/g/hd/1.0.1/image.tar.gz", b"left behind")
    from aibtrigger.errors import BackendError

    with pytest.raises(BackendError, match="Creating"):
        gallery.update_version(f"{image}/versions/1.0.0", tags={"a": "b"})
    assert [v["provisioningState"] for v in gallery.list_versions(image)] == ["Creating", "Deleting"]
    gallery.delete_version(f"{image}/versions/1.0.1")
    assert list(blobs.list_blobs(name_starts_with=f"sub-{unique}/rg/g/hd/1.0.1/")) == []
    assert gallery.version_names(image, include_pending=True) == ["1.0.0"]
