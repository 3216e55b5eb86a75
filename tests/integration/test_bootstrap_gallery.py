"""bootstrap gives the service a gallery: the local one (telling the dev host's webhook about each
change, as Azure's Event Grid does) or Azure's, through the ARM clients the aib backend shares."""

from __future__ import annotations

from pathlib import Path

import pytest

from aibtrigger import bootstrap
from aibtrigger.config import load_settings
from tests.fakearm import FakeArm, FakeTokenCredential
from tests.fakearm.fixtures import FAST_RETRIES, arm_tls  # noqa: F401 - arm_tls is a fixture
from tests.integration.test_local_sources import _artifact, _Webhook

CATALOG = Path(__file__).resolve().parents[2] / "examples" / "catalog.yaml"


@pytest.mark.azurite
def test_the_local_backend_gets_the_local_gallery_with_the_event_webhook(azurite, unique, tmp_path, monkeypatch):
    from aibtrigger.adapters.local.gallery import LocalGallery

    webhook = _Webhook()
    try:
        for name, value in {
            "AzureWebJobsStorage": azurite.connection_string,
            "AIBTRIGGER_CATALOG_PATH": str(CATALOG),
            "AIBTRIGGER_BACKEND": "local",
            "AIBTRIGGER_LOCAL_WORKDIR": str(tmp_path / "work"),
            "AIBTRIGGER_LOCAL_EVENT_WEBHOOK": webhook.url,
        }.items():
            monkeypatch.setenv(name, value)
        deps = bootstrap.build_deps(load_settings())
        assert isinstance(deps.gallery, LocalGallery)
        image = f"/subscriptions/sub-{unique}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/b"
        version_id = deps.gallery.create_version(image, "1.0.0", _artifact(tmp_path, "b"), {})
        deps.gallery.update_version(version_id, exclude_from_latest=True)
    finally:
        webhook.close()
    assert [batch[0]["subject"] for batch in webhook.received] == [version_id, version_id]


def test_the_aib_backend_gets_azures_gallery_over_the_shared_arm_clients(arm_tls, monkeypatch):  # noqa: F811
    from aibtrigger.adapters.aib.clients import ArmClients
    from aibtrigger.adapters.aib.gallery import AzureGallery

    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("AIBTRIGGER_CATALOG_PATH", str(CATALOG))
    monkeypatch.setenv("AIBTRIGGER_BACKEND", "aib")
    monkeypatch.setenv("AIBTRIGGER_SUBSCRIPTION_ID", "00000000-0000-4000-8000-00000000a1b0")
    settings = load_settings()
    with FakeArm(arm_tls) as arm:
        clients = ArmClients(
            FakeTokenCredential(), arm_endpoint=arm.endpoint, options={"connection_verify": arm_tls.ca, **FAST_RETRIES}
        )
        gallery = bootstrap._gallery(settings, bootstrap.StorageClients(settings), clients)
        assert isinstance(gallery, AzureGallery)
        version_id = (
            f"/subscriptions/{arm.world.subscription}/resourceGroups/rg-gallery/providers/Microsoft.Compute/"
            "galleries/golden/images/web/versions/1.0.0"
        )
        arm.world.add_gallery_version(version_id)
        assert gallery.get_version(version_id)["name"] == "1.0.0"
        assert arm.count("GET", "galleryVersion") == 1  # through the clients it was given
