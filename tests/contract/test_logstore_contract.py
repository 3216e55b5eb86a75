"""One contract for the LogStore port: memory and blob storage (Azurite)."""

import pytest

from aibtrigger.adapters.logstore import BlobLogStore, InMemoryLogStore


@pytest.fixture(params=["memory", "blob"])
def logs(request):
    if request.param == "memory":
        return InMemoryLogStore()
    from azure.storage.blob import BlobServiceClient

    service = BlobServiceClient.from_connection_string(request.getfixturevalue("azurite").connection_string)
    return BlobLogStore(service, container=f"logs{request.getfixturevalue('unique')}")


def test_saved_logs_load_back_and_missing_ones_are_none(logs):
    text = "[x] PACKER OUT line one\n[x] PACKER ERR ünïcode\n" * 1000
    location = logs.save("base.20261122T080000Z.aaaaaa", text)
    assert "base.20261122T080000Z.aaaaaa" in location and "sig=" not in location
    assert logs.load("base.20261122T080000Z.aaaaaa") == text
    assert logs.load("base.nope") is None
    logs.save("base.20261122T080000Z.aaaaaa", "replaced")
    assert logs.load("base.20261122T080000Z.aaaaaa") == "replaced"
