"""Pytest fixtures for tests that drive the aib backend against the fake ARM. Import them by name into
a test module (they live here, not in a conftest, so only the modules that want them pay for them)."""

from __future__ import annotations

import pytest

from tests.fakearm.azurite_tls import start_staging_azurite
from tests.fakearm.clock import FakeClock
from tests.fakearm.credential import FakeTokenCredential
from tests.fakearm.server import FakeArm
from tests.fakearm.tls import make_tls

# Fast retries for tests; production keeps azure-core's back-off (clients.DEFAULT_OPTIONS).
FAST_RETRIES = {"retry_total": 3, "retry_backoff_factor": 0.01, "retry_backoff_max": 0.2}


@pytest.fixture(scope="session")
def arm_tls(tmp_path_factory):
    return make_tls(tmp_path_factory.mktemp("fakearm-tls"))


@pytest.fixture(scope="session")
def staging_storage(arm_tls):
    storage = start_staging_azurite(arm_tls)
    yield storage
    storage.stop()


@pytest.fixture
def arm_clock():
    return FakeClock()


@pytest.fixture
def fake_arm(arm_tls, staging_storage, arm_clock):
    with FakeArm(arm_tls, clock=arm_clock, staging=staging_storage) as arm:
        yield arm


@pytest.fixture
def arm_credential():
    return FakeTokenCredential()


def catalog_of(arm: FakeArm, *, extra: list[dict] | None = None):
    """A catalog naming every template of the fake's world by its resource id."""
    from aibtrigger.catalog import parse_catalog

    entries = [
        {"name": t["name"], "resource_id": t["id"], "location": t["location"]} for t in arm.world.templates.values()
    ]
    return parse_catalog({"templates": entries + (extra or [])})


def make_backend(arm: FakeArm, tls, credential, *, extra: list[dict] | None = None, **options):
    """The production AibBackend; only the credential, the endpoint and the trusted CA differ."""
    from aibtrigger.adapters.aib.backend import AibBackend

    return AibBackend(
        catalog_of(arm, extra=extra),
        credential=credential,
        arm_endpoint=arm.endpoint,
        client_options={"connection_verify": tls.ca, **FAST_RETRIES, **options},
    )


def make_sources(arm: FakeArm, tls, credential, **options):
    from aibtrigger.adapters.aib.sources import AzureSources

    return AzureSources(
        credential=credential,
        subscription_id=arm.world.subscription,
        arm_endpoint=arm.endpoint,
        client_options={"connection_verify": tls.ca, **FAST_RETRIES, **options},
    )


def make_gallery(arm: FakeArm, tls, credential, **options):
    """The production AzureGallery; it polls the fake's operations without waiting between reads."""
    from aibtrigger.adapters.aib.gallery import AzureGallery

    return AzureGallery(
        credential=credential,
        arm_endpoint=arm.endpoint,
        client_options={"connection_verify": tls.ca, **FAST_RETRIES, **options},
        polling_interval=0,
    )


__all__ = [
    "arm_tls",
    "staging_storage",
    "arm_clock",
    "fake_arm",
    "arm_credential",
    "catalog_of",
    "make_backend",
    "make_sources",
    "make_gallery",
    "FAST_RETRIES",
]
