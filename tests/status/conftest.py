import pytest

from aibtrigger.adapters.state_store import InMemoryStateStore
from aibtrigger.service_layer.deps import Deps
from aibtrigger.status.html_page import Links
from tests.fakes import Clock, FakeSources, memory_deps
from tests.status.population import NOW, catalog, populate


def make_deps(templates, *, populated: bool = True) -> Deps:
    clock, sources = Clock(NOW), FakeSources()
    store = InMemoryStateStore()
    if populated:
        populate(store, templates)
    return memory_deps(templates, clock, store=store, sources=sources)


@pytest.fixture(scope="module")
def catalog200():
    return catalog(200)


@pytest.fixture
def deps200(catalog200):
    return make_deps(catalog200)


@pytest.fixture
def links():
    return Links("/api/status", "key&1")
