import pytest

from aibtrigger.catalog import parse_catalog
from tests.fakes import Clock, memory_deps

DEFINITION = {
    "source": {
        "type": "PlatformImage",
        "publisher": "Canonical",
        "offer": "ubuntu",
        "sku": "22_04",
        "version": "latest",
    },
    "customize": [{"type": "Shell", "name": "hello", "inline": ["echo hello"]}],
    "distribute": [
        {
            "type": "SharedImage",
            "runOutputName": "out",
            "galleryImageId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i",
        }
    ],
    "buildTimeoutInMinutes": 60,
}


def make_catalog(*names, paused=()):
    return parse_catalog(
        {"templates": [{"name": n, "definition": DEFINITION, "policy": {"paused": n in paused}} for n in names]}
    )


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def deps(clock):
    catalog = make_catalog("base", "web", "idle", paused=("idle",))
    return memory_deps(catalog, clock)
