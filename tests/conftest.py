"""Shared fixtures. Azurite is started once per test session, in memory, on free ports."""

from __future__ import annotations

import os
import uuid

import pytest

# Local builds in tests start from the busybox image (a second to make, cached per machine); the
# default Debian image is for people, and for the tests that ask for it by name.
os.environ.setdefault("AIBTRIGGER_LOCAL_IMAGE", "busybox")


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def azurite():
    """A running Azurite; set AIBTRIGGER_TEST_AZURITE to a connection string to use one of yours."""
    from aibtrigger.devhost.azurite import Azurite, start_azurite

    given = os.environ.get("AIBTRIGGER_TEST_AZURITE")
    if given:
        parts = dict(p.split("=", 1) for p in given.split(";") if p)
        instance = Azurite(
            parts["BlobEndpoint"].rsplit("/", 1)[0],
            parts["QueueEndpoint"].rsplit("/", 1)[0],
            parts["TableEndpoint"].rsplit("/", 1)[0],
        )
        yield instance
        return
    instance = start_azurite()
    yield instance
    instance.stop()


@pytest.fixture
def unique():
    """A short unique suffix for queue, table and container names, so tests never share state."""
    return uuid.uuid4().hex[:10]
