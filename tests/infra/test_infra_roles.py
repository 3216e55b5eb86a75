"""Least privilege: the custom roles hold exactly the documented actions, built-in roles are the
documented few, and every assignment sits at a resource or resource-group scope (the one
subscription-scope assignment is listed here with its reason). docs/deployment.md must explain
every action granted.
"""
from __future__ import annotations

from infra_bicep import REPO, body, render

DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"

# The custom roles (modules/roles.bicep), exactly. Change the Bicep, this list and the doc together.
CUSTOM_ROLES = {
    "templateOperator": {
        "actions": [
            "Microsoft.VirtualMachineImages/imageTemplates/read",
            "Microsoft.VirtualMachineImages/imageTemplates/run/action",
            "Microsoft.VirtualMachineImages/imageTemplates/cancel/action",
            "Microsoft.VirtualMachineImages/imageTemplates/runOutputs/read",
        ],
        "dataActions": [],
    },
    "galleryReader": {
        "actions": [
            "Microsoft.Compute/galleries/images/versions/read",
        ],
        "dataActions": [],
    },
    "stagingLogReader": {
        "actions": [
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.Resources/subscriptions/resourceGroups/resources/read",
            "Microsoft.Storage/storageAccounts/read",
        ],
        "dataActions": [
            "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
        ],
    },
    "marketplaceReader": {
        "actions": [
            "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read",
        ],
        "dataActions": [],
    },
}

# Built-in roles the infra may assign (id -> name), each on the service's own resources.
BUILTIN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "d5a91429-5739-47e2-a06b-3470a27159e7": "EventGrid Data Sender",
}

# Assignments without an explicit resource scope, and why that scope is the narrowest possible.
RESOURCE_GROUP_SCOPE = {
    ("modules/rg-role-assignment.bicep", "assignment"):
        "image template and AIB staging resource groups: templates are deleted and re-created to be "
        "changed, staging resources are created by AIB itself, so the resource group is the stable scope",
}
SUBSCRIPTION_SCOPE = {
    ("modules/roles.bicep", "marketplaceRead"):
        "marketplace image versions are listed at /subscriptions/{id}/providers/Microsoft.Compute/"
        "locations/...: not a resource in any group, authorized only at subscription scope; the role "
        "holds that single read action",
}
# Modules deployed at subscription scope from main.bicep, and why.
SUBSCRIPTION_MODULES = {"roles": "role definitions are subscription-level objects"}


def _role_assignments(bicep):
    for f in bicep.values():
        for symbol, spec in f.resources("Microsoft.Authorization/roleAssignments"):
            yield f, symbol, spec


def _role_ids(f, spec) -> list[str]:
    """Built-in role GUIDs assigned (a loop assigns each role of its list), else the expression."""
    role = body(spec)["properties"]["roleDefinitionId"]
    if isinstance(role, dict) and "function" in role and role["function"]["type"] == "subscription_resource_id":
        name = role["function"]["parameters"]["resource_name_1"]
        loop = spec["config"].get("loop_type") if isinstance(spec["config"], dict) else None
        if loop and loop["detail"].get("item_name") == name:
            return [f.resolve(item) for item in f.resolve(loop["detail"]["array_name"])]
        return [f.resolve(name)]
    return [render(role)]


def test_custom_roles_hold_exactly_the_documented_actions(bicep):
    roles = bicep["modules/roles.bicep"]
    assert roles.target_scope == "subscription"
    found = {symbol: body(spec) for symbol, spec in roles.resources("Microsoft.Authorization/roleDefinitions")}
    assert set(found) == set(CUSTOM_ROLES), f"custom roles: {sorted(found)}"
    for symbol, config in found.items():
        permissions, = config["properties"]["permissions"]
        actions = roles.resolve(permissions["actions"])
        data_actions = roles.resolve(permissions["dataActions"])
        assert actions == CUSTOM_ROLES[symbol]["actions"], symbol
        assert data_actions == CUSTOM_ROLES[symbol]["dataActions"], symbol
        assert permissions["notActions"] == [] and permissions["notDataActions"] == [], symbol
        assert not any("*" in action for action in actions + data_actions), f"{symbol}: no wildcards"
        assert config["properties"]["type"] == "customRole"


def test_only_documented_builtin_roles_are_assigned(bicep):
    for f, symbol, spec in _role_assignments(bicep):
        for guid in _role_ids(f, spec):
            if guid in BUILTIN_ROLES:
                continue
            assert not _looks_like_guid(guid), f"{f.name}:{symbol} assigns undocumented built-in role {guid}"
            assert guid in {"roleDefinitionId", "galleryReaderRoleId", "marketplaceReader.id"}, (
                f"{f.name}:{symbol}: role {guid} is neither a documented built-in nor a custom role")


def _looks_like_guid(value: str) -> bool:
    parts = value.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12]


def test_assignments_are_at_resource_scope_unless_explained(bicep):
    for f, symbol, spec in _role_assignments(bicep):
        scope = body(spec).get("scope")
        where = (f.name, symbol)
        if scope is None:
            if f.target_scope == "subscription":
                assert where in SUBSCRIPTION_SCOPE, f"{where}: subscription-scope assignment without a reason"
            else:
                assert f.target_scope == "resourceGroup", where
                assert where in RESOURCE_GROUP_SCOPE, f"{where}: resource-group-scope assignment without a reason"
            continue
        resources = {s for s, _ in f.resources()}
        assert isinstance(scope, str) and scope in resources, (
            f"{where}: scope {render(scope)} must be a resource of {f.name} (resource scope)")


def test_assignments_go_to_service_identities_only(bicep):
    for f, symbol, spec in _role_assignments(bicep):
        props = body(spec)["properties"]
        assert props["principalType"] == "ServicePrincipal", (f.name, symbol)
        assert props["principalId"] in {"appPrincipalId", "eventGridPrincipalId", "principalId", "publisherPrincipalId"}, (
            f"{f.name}:{symbol}: principal {render(props['principalId'])}")
        assert str(props.get("description", "")).startswith("aibtrigger: "), (f.name, symbol, "say why")


def test_main_wires_each_custom_role_to_its_own_scope(main):
    modules = main.modules()
    for symbol, spec in modules.items():
        scope = body(spec).get("scope")
        if scope is not None and render(scope) == "subscription()":
            assert symbol in SUBSCRIPTION_MODULES, f"module {symbol} deployed at subscription scope without a reason"
    expected = {
        "templateAccess": ("roles.outputs.templateOperatorRoleId", "resource_group(rgName)", "imageTemplateResourceGroupNames"),
        "stagingAccess": ("roles.outputs.stagingLogReaderRoleId", "resource_group(rgName)", "stagingResourceGroupNames"),
    }
    for symbol, (role, scope, over) in expected.items():
        config = body(modules[symbol])
        assert render(config["params"]["roleDefinitionId"]) == role, symbol
        assert render(config["scope"]) == scope, symbol
        assert modules[symbol]["config"]["loop_type"]["detail"]["array_name"] == over, symbol
    gallery = body(modules["gallery"])
    assert render(gallery["params"]["galleryReaderRoleId"]) == "roles.outputs.galleryReaderRoleId"
    assert render(gallery["scope"]) == "resource_group(galleryResourceGroupName)"


def test_deployment_doc_explains_every_permission():
    assert DEPLOYMENT_DOC.is_file(), "docs/deployment.md is missing"
    doc = DEPLOYMENT_DOC.read_text()
    granted = [a for role in CUSTOM_ROLES.values() for a in role["actions"] + role["dataActions"]]
    missing = [a for a in granted if f"`{a}`" not in doc] + [n for n in BUILTIN_ROLES.values() if n not in doc]
    assert not missing, f"docs/deployment.md does not explain: {missing}"
