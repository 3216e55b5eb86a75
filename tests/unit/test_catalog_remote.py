"""Catalog entries compared with their templates in Azure: definitions for resource_id-only entries,
drift where both are given. Pure: Azure is a dict of resources here (tests/integration/test_catalog_azure.py
reads them from the fake ARM)."""

import copy

import pytest

from aibtrigger.catalog import parse_catalog
from aibtrigger.catalog_remote import check_against_azure, definition_drift, definition_from_azure
from aibtrigger.errors import TemplateNotFoundError
from tests.unit.test_template_rules import SHOWN, template

TEMPLATE_ID = SHOWN["id"]


def reader(resources):
    def read(name):
        if name not in resources:
            raise TemplateNotFoundError(f"read image template {name!r}: (ResourceNotFound)")
        return resources[name]

    return read


def test_what_azure_fills_in_is_no_drift():
    azure = copy.deepcopy(SHOWN)
    for step in azure["properties"]["customize"]:
        step.update(sha256Checksum="")  # AIB's default, shown by GET
    azure["properties"].update(buildTimeoutInMinutes=0, vmProfile={"vmSize": "", "osDiskSizeGB": 0})
    azure["properties"]["distribute"][0]["galleryImageId"] = azure["properties"]["distribute"][0][
        "galleryImageId"
    ].lower()
    assert definition_drift(definition_from_azure(SHOWN), definition_from_azure(azure)) == []


def test_every_difference_is_named_by_its_path():
    azure = copy.deepcopy(SHOWN)
    azure["properties"]["customize"][0]["inline"] = ["apt-get upgrade"]
    azure["properties"]["distribute"].append({"type": "VHD", "runOutputName": "vhd"})
    azure["properties"]["buildTimeoutInMinutes"] = 90
    assert definition_drift(definition_from_azure(SHOWN), definition_from_azure(azure)) == [
        "customize[0].inline[0]: catalog 'apt-get update', Azure 'apt-get upgrade'",
        "distribute[1]: catalog (absent), Azure {'type': 'VHD', 'runOutputName': 'vhd'}",
        "buildTimeoutInMinutes: catalog (absent), Azure 90",
    ]


def test_resource_id_only_entries_take_their_definition_and_the_others_are_compared():
    catalog = parse_catalog(
        {
            "templates": [
                {"name": "remote", "resource_id": TEMPLATE_ID},
                {"name": "both", "resource_id": TEMPLATE_ID + "2", "definition": template(buildTimeoutInMinutes=60)},
                {"name": "gone", "resource_id": TEMPLATE_ID + "3"},
                {"name": "local", "definition": template()},
            ]
        }
    )
    found = check_against_azure(catalog, reader({"remote": SHOWN, "both": SHOWN}))
    assert list(found.definitions) == ["remote"]
    assert found.definitions["remote"] == definition_from_azure(SHOWN)
    assert found.drift == ["both: buildTimeoutInMinutes: catalog 60, Azure (absent)"]
    assert found.unreadable == ["gone: read image template 'gone': (ResourceNotFound)"]
    assert check_against_azure(catalog, reader({"remote": SHOWN}), compare=False).unreadable == [
        "gone: read image template 'gone': (ResourceNotFound)"
    ]  # `both` is not read at all


def test_a_definition_azure_has_that_the_catalog_cannot_read_is_unreadable_not_a_crash():
    newer = copy.deepcopy(SHOWN)
    newer["properties"]["futureProperty"] = {"x": 1}
    catalog = parse_catalog({"templates": [{"name": "remote", "resource_id": TEMPLATE_ID}]})
    found = check_against_azure(catalog, reader({"remote": newer}))
    assert found.definitions == {}
    assert found.unreadable == [
        "remote: its definition in Azure does not fit the catalog schema: futureProperty: "
        "Extra inputs are not permitted"
    ]


def test_definitions_from_azure_join_the_lineage():
    child = copy.deepcopy(SHOWN)
    child["properties"]["source"] = {
        "type": "SharedImageVersion",
        "imageVersionId": SHOWN["properties"]["distribute"][0]["galleryImageId"] + "/versions/latest",
    }
    child["properties"]["distribute"] = [
        {
            **SHOWN["properties"]["distribute"][0],
            "galleryImageId": SHOWN["properties"]["distribute"][0]["galleryImageId"] + "-child",
        }
    ]
    catalog = parse_catalog(
        {
            "templates": [
                {"name": "base", "resource_id": TEMPLATE_ID},
                {"name": "child", "resource_id": TEMPLATE_ID + "-child"},
            ]
        }
    )
    filled = catalog.with_definitions(check_against_azure(catalog, reader({"base": SHOWN, "child": child})).definitions)
    from aibtrigger.domain.lineage import LineageGraph

    assert LineageGraph.from_catalog(filled).children("base") == {"child"}
    assert catalog.get("base").definition is None  # the catalog itself is not changed


def test_a_definition_from_azure_that_breaks_a_policy_is_a_catalog_error_naming_the_entry():
    """A gated promotion whose template in Azure does not exclude its versions from latest: a clear
    CatalogError (bootstrap then runs without Azure's definitions), never a crash of every function."""
    from aibtrigger.errors import CatalogError

    catalog = parse_catalog(
        {"templates": [{"name": "base", "resource_id": TEMPLATE_ID, "policy": {"promotion": {"mode": "manual"}}}]}
    )
    definitions = check_against_azure(catalog, reader({"base": SHOWN})).definitions
    with pytest.raises(CatalogError, match=r"templates\[0\] \(base\): .*excludeFromLatest.*read from Azure"):
        catalog.with_definitions(definitions)
