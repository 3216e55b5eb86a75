import pytest

from aibtrigger.adapters.logstore import InMemoryLogStore
from aibtrigger.adapters.publisher import InMemoryPublisher
from aibtrigger.adapters.queues import InMemoryQueue
from aibtrigger.adapters.state_store import InMemoryStateStore
from aibtrigger.catalog import parse_catalog
from aibtrigger.service_layer.deps import Deps
from tests.fakes import Clock, FakeGallery, FakeSources, ScriptedBackend

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
    counter = iter(range(10**6))
    sources = FakeSources()
    return Deps(
        catalog=catalog,
        store=InMemoryStateStore(),
        backend=ScriptedBackend(clock, {"base", "web", "idle"}),
        queue=InMemoryQueue(),
        publisher=InMemoryPublisher(),
        logs=InMemoryLogStore(),
        sources=sources,
        gallery=FakeGallery(sources.gallery, clock),
        clock=clock,
        entropy=lambda: f"{next(counter):06x}{0:06x}",
        poll_min_seconds=10,
        poll_max_seconds=300,
    )
