"""Platform rules the resource types do not encode (tests/infra/platform_rules.py, each with its
public source), applied to the parsed Bicep: what a Flex Consumption site must not set or carry.
"""

from __future__ import annotations

import pytest
from infra_bicep import BicepFile, body, property_paths, render
from platform_rules import (
    FLEX_POINTLESS_CHILDREN,
    FLEX_REJECTED_APP_SETTINGS,
    FLEX_REJECTED_SITE_PROPERTIES,
    is_flex_plan,
)
from resource_types import TypeLibrary


def _flex_sites(bicep: dict[str, BicepFile]):
    """(file, symbol, body) of every Microsoft.Web/sites on a Flex Consumption plan of the same file."""
    found = []
    for f in bicep.values():
        plans = {symbol for symbol, spec in f.resources("Microsoft.Web/serverfarms") if is_flex_plan(body(spec))}
        for symbol, spec in f.resources("Microsoft.Web/sites"):
            farm = render((body(spec).get("properties") or {}).get("serverFarmId"))
            if farm.split(".")[0] in plans:
                found.append((f, symbol, body(spec)))
    return found


def _app_setting_names(bicep, f: BicepFile, site: dict) -> set[str]:
    """Names in siteConfig.appSettings: a literal list, or `[for s in items(param)]` fed by main.bicep's var."""
    settings = ((site.get("properties") or {}).get("siteConfig") or {}).get("appSettings") or []
    if isinstance(settings, list):
        return {item["name"] for item in settings}
    source = render(settings["loop_type"]["detail"]["array_name"])
    assert source.startswith("items(") and source.endswith(")"), f"{f.name}: cannot follow appSettings from {source}"
    param = source[len("items(") : -1]
    main = bicep["main.bicep"]
    calls = [body(spec) for spec in main.modules().values() if spec["detail"]["path"] == f.name]
    assert calls, f"main.bicep does not use {f.name}"
    names = set()
    for call in calls:
        value = main.resolve(call["params"][param])
        assert isinstance(value, dict), f"main.bicep passes {param} to {f.name} as {render(value)}: not followable"
        names |= set(value)
    return names


def test_the_site_is_on_flex_consumption(bicep):
    assert _flex_sites(bicep), "no Microsoft.Web/sites on an FC1 plan: these rules would check nothing"


def test_flex_site_sets_no_property_flex_rejects(bicep):
    rejected = {name.lower(): reason for name, reason in FLEX_REJECTED_SITE_PROPERTIES.items()}
    found = []
    for f, symbol, site in _flex_sites(bicep):
        for path in property_paths(site):
            parts = path.split(".")
            at_site = len(parts) == 2 and parts[0] == "properties"
            at_config = len(parts) == 3 and parts[:2] == ["properties", "siteConfig"]
            if (at_site or at_config) and parts[-1].lower() in rejected:
                found.append(f"{f.name}:{symbol} {path} ({rejected[parts[-1].lower()]})")
    assert not found, "Flex Consumption rejects these site properties:\n" + "\n".join(found)


def test_flex_site_writes_no_app_setting_flex_rejects(bicep):
    rejected = {name.lower(): name for name in FLEX_REJECTED_APP_SETTINGS}
    for f, symbol, site in _flex_sites(bicep):
        names = _app_setting_names(bicep, f, site)
        assert names, f"{f.name}:{symbol}: no app settings found (the check would be empty)"
        bad = sorted(n for n in names if n.lower() in rejected)
        assert not bad, f"{f.name}:{symbol}: " + "; ".join(
            f"{n}: {FLEX_REJECTED_APP_SETTINGS[rejected[n.lower()]]}" for n in bad
        )


def test_flex_site_has_no_child_without_anything_to_act_on(bicep):
    flex = {(f.name, symbol) for f, symbol, _ in _flex_sites(bicep)}
    found = []
    for f in bicep.values():
        for symbol, spec in f.resources():
            config = body(spec)
            key = (spec["type"], config.get("name"))
            if isinstance(key[1], str) and key in FLEX_POINTLESS_CHILDREN and (f.name, config.get("parent")) in flex:
                found.append(f"{f.name}:{symbol} {key[1]}: {FLEX_POINTLESS_CHILDREN[key]}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("name", sorted(FLEX_REJECTED_SITE_PROPERTIES))
def test_every_rejected_property_is_a_real_site_property(name):
    """A rule naming a property the type does not have would guard nothing (a typo in the list)."""
    web = TypeLibrary().resource("Microsoft.Web/sites", "2024-04-01")
    site = web.node(web.body_type["properties"]["properties"]["type"])
    site_config = web.node(site["properties"]["siteConfig"]["type"])
    known = {p.lower() for p in site["properties"]} | {p.lower() for p in site_config["properties"]}
    assert name.lower() in known, (
        f"{name} is neither a site nor a site-config property of Microsoft.Web/sites@2024-04-01"
    )


def test_the_checks_catch_a_rejected_property_and_setting(bicep):
    """The same walk over a site that sets ftpsState and FUNCTIONS_WORKER_RUNTIME reports both."""
    from infra_bicep import INFRA
    from pycep import BicepParser

    text = """
resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: 'p'
  location: 'westeurope'
  sku: { name: 'FC1', tier: 'FlexConsumption' }
}
resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: 's'
  location: 'westeurope'
  properties: {
    serverFarmId: plan.id
    siteConfig: {
      ftpsState: 'Disabled'
      appSettings: [ { name: 'FUNCTIONS_WORKER_RUNTIME', value: 'python' } ]
    }
  }
}"""
    snippet = {"snippet.bicep": BicepFile(INFRA / "snippet.bicep", BicepParser().parse(text=text), text)}
    with pytest.raises(AssertionError, match=r"siteConfig\.ftpsState"):
        test_flex_site_sets_no_property_flex_rejects(snippet)
    with pytest.raises(AssertionError, match="FUNCTIONS_WORKER_RUNTIME"):
        test_flex_site_writes_no_app_setting_flex_rejects(snippet)
