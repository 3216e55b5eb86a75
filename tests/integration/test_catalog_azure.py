"""Catalog entries and their image templates read from Azure through the production AibBackend (against
the fake ARM over HTTPS): a resource_id-only entry takes its definition (and lineage) from Azure; an
entry with both is compared, and what differs is drift."""

from __future__ import annotations

import pytest

from aibtrigger.adapters.aib.backend import AibBackend
from aibtrigger.catalog import parse_catalog
from aibtrigger.catalog_remote import check_against_azure
from aibtrigger.domain.lineage import LineageGraph
from tests.fakearm.fixtures import FAST_RETRIES, arm_clock, arm_credential, arm_tls, fake_arm, staging_storage  # noqa: F401 - fixtures

pytestmark = pytest.mark.azurite


def backend_for(arm, tls, credential, catalog):
    return AibBackend(
        catalog,
        credential=credential,
        arm_endpoint=arm.endpoint,
        client_options={"connection_verify": tls.ca, **FAST_RETRIES},
    )


@pytest.fixture
def world(fake_arm):
    world = fake_arm.world
    base_id = world.add_template("base")
    base_image = world.templates["base"]["distribute"][0]["galleryImageId"]
    web_id = world.add_template(
        "web", source={"type": "SharedImageVersion", "imageVersionId": base_image + "/versions/latest"}
    )
    return fake_arm, base_id, web_id, base_image


def test_resource_id_only_entries_take_their_definition_and_lineage_from_azure(world, arm_tls, arm_credential):
    arm, base_id, web_id, base_image = world
    catalog = parse_catalog(
        {"templates": [{"name": "base", "resource_id": base_id}, {"name": "web", "resource_id": web_id}]}
    )
    backend = backend_for(arm, arm_tls, arm_credential, catalog)
    found = check_against_azure(catalog, backend.read_template, compare=False)
    assert found.unreadable == [] and set(found.definitions) == {"base", "web"}
    filled = catalog.with_definitions(found.definitions)
    assert filled.get("web").definition.source.gallery_image_id == base_image
    assert LineageGraph.from_catalog(filled).children("base") == {"web"}


def test_a_definition_that_differs_from_azure_is_drift_and_a_missing_template_is_named(world, arm_tls, arm_credential):
    arm, base_id, _, _ = world
    shown = backend_for(
        arm, arm_tls, arm_credential, parse_catalog({"templates": [{"name": "base", "resource_id": base_id}]})
    ).read_template("base")
    assert shown["properties"]["provisioningState"] == "Succeeded"  # a real GET, read-only fields and all
    changed = {**shown["properties"], "customize": [{"type": "Shell", "name": "setup", "inline": ["apt-get upgrade"]}]}
    missing_id = base_id.rsplit("/", 1)[0] + "/gone"
    catalog = parse_catalog(
        {
            "templates": [
                {"name": "base", "resource_id": base_id, "definition": shown},  # pasted from Azure: no drift
                {"name": "drifted", "resource_id": base_id, "definition": changed},
                {"name": "gone", "resource_id": missing_id},
            ]
        }
    )
    found = check_against_azure(catalog, backend_for(arm, arm_tls, arm_credential, catalog).read_template)
    assert found.drift == ["drifted: customize[0].inline[0]: catalog 'apt-get upgrade', Azure 'apt-get update'"]
    [gone] = found.unreadable
    assert gone.startswith("gone: read image template 'gone'") and "ResourceNotFound" in gone
