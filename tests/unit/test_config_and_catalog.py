"""Settings and catalog validation: errors name the variable, or the entry and field."""

import json
from pathlib import Path

import pytest

from aibtrigger.catalog import load_catalog, parse_catalog
from aibtrigger.config import load_settings, setting_names
from aibtrigger.errors import CatalogError, ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_missing_and_wrong_settings_are_named(monkeypatch):
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIBTRIGGER_BACKEND", "cloud")
    monkeypatch.setenv("AIBTRIGGER_POLL_MIN_SECONDS", "soon")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert "AIBTRIGGER_CATALOG_PATH: Field required" in text
    assert "AIBTRIGGER_BACKEND" in text and "AIBTRIGGER_POLL_MIN_SECONDS" in text


def test_storage_must_be_configured_one_way_or_the_other(monkeypatch):
    for name in setting_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIBTRIGGER_CATALOG_PATH", "catalog.yaml")
    with pytest.raises(ConfigError, match="AzureWebJobsStorage"):
        load_settings()
    monkeypatch.setenv("AzureWebJobsStorage__accountName", "acct")
    assert load_settings().storage_account == "acct"


def test_the_shipped_example_catalog_is_valid_and_has_the_three_templates():
    catalog = load_catalog(ROOT / "examples" / "catalog.yaml")
    assert {"ubuntu-base", "web-tier", "broken-example"} <= set(catalog.by_name)
    base, web = catalog.get("ubuntu-base").definition, catalog.get("web-tier").definition
    assert base.source.type == "PlatformImage" and base.source.tracks_latest
    assert {c.type for c in base.customize} >= {"Shell", "File"} and base.validate_.inVMValidations
    assert web.source.type == "SharedImageVersion" and web.source.tracks_latest
    assert web.source.gallery_image_id == base.distribute[0].galleryImageId


@pytest.mark.parametrize(
    "entry, expected",
    [
        ({"name": "a"}, "templates[0] (a): Value error, an entry needs a 'definition'"),
        ({"name": "A_b", "resource_id": "x"}, "templates[0] (A_b).name: String should match pattern"),
        (
            {
                "name": "a",
                "definition": {
                    "source": {"type": "PlatformImage", "publisher": "p", "offer": "o", "sku": "s"},
                    "customise": [],
                    "distribute": [{"type": "VHD", "runOutputName": "x"}],
                },
            },
            "templates[0] (a).definition.customise: Extra inputs are not permitted",
        ),
        (
            {
                "name": "a",
                "definition": {
                    "source": {"type": "PlatformImage", "publisher": "p", "offer": "o", "sku": "s"},
                    "customize": [{"type": "Shell", "name": "both"}],
                    "distribute": [{"type": "VHD", "runOutputName": "x"}],
                },
            },
            "templates[0] (a).definition.customize[0]: a Shell step needs exactly one",
        ),
        (
            {
                "name": "a",
                "definition": {
                    "source": {"type": "PlatformImage", "publisher": "p", "offer": "o", "sku": "s"},
                    "distribute": [{"type": "SharedImage", "runOutputName": "x", "galleryImageId": "/x"}],
                },
            },
            "templates[0] (a).definition.distribute[0].galleryImageId: Value error, must look like",
        ),
        (
            {
                "name": "a",
                "definition": {
                    "source": {"type": "PlatformImage", "publisher": "p", "offer": "o", "sku": "s"},
                    "distribute": [{"type": "VHD", "runOutputName": "x"}],
                    "buildTimeoutInMinutes": 2000,
                },
            },
            "templates[0] (a).definition.buildTimeoutInMinutes: Input should be less than or equal to 960",
        ),
    ],
)
def test_catalog_errors_point_at_the_entry_and_field(entry, expected):
    with pytest.raises(CatalogError) as err:
        parse_catalog({"templates": [entry]})
    assert expected in str(err.value)


def test_duplicate_names_and_bad_files_are_reported(tmp_path):
    entry = {"name": "a", "resource_id": "/x"}
    with pytest.raises(CatalogError, match="duplicate template name 'a'"):
        parse_catalog({"templates": [entry, entry]})
    bad = tmp_path / "c.json"
    bad.write_text("{oops")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(bad)
    with pytest.raises(CatalogError, match="cannot read catalog"):
        load_catalog(tmp_path / "missing.yaml")
    good = tmp_path / "c2.json"
    good.write_text(json.dumps({"templates": [entry]}))
    assert load_catalog(good).get("a").resource_id == "/x"


def _gallery(image):
    return f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/{image}"


def _entry(name, source_image, output_image, **policy):
    return {
        "name": name,
        "policy": policy,
        "definition": {
            "source": {"type": "SharedImageVersion", "imageVersionId": _gallery(source_image) + "/versions/latest"},
            "distribute": [{"type": "SharedImage", "runOutputName": name, "galleryImageId": _gallery(output_image)}],
        },
    }


def test_a_lineage_cycle_is_rejected_with_the_cycle_named():
    with pytest.raises(CatalogError, match=r"lineage cycle: (a -> b -> a|b -> a -> b)"):
        parse_catalog({"templates": [_entry("a", "b-out", "a-out"), _entry("b", "a-out", "b-out")]})


@pytest.mark.parametrize(
    "policy, expected",
    [
        ({"schedule": "0 3 * * 0"}, "NCRONTAB needs 6 fields"),
        ({"schedule": "0 0 25 * * *"}, r"templates\[0\] \(a\)\.policy\.schedule: .*bad hour field '25'"),
        ({"only_if_changed": True}, "only_if_changed needs a schedule"),
        ({"maintenance_window": {"days": ["Caturday"], "start": "02:00", "end": "04:00"}}, "Caturday"),
    ],
)
def test_policies_are_validated(policy, expected):
    with pytest.raises(CatalogError, match=expected):
        parse_catalog({"templates": [_entry("a", "x", "a-out", **policy)]})
