"""Least privilege: the custom roles (the service's and the deployer's) hold exactly the documented
actions, built-in roles are the documented few, and every assignment sits at a resource or
resource-group scope (the one subscription-scope assignment is listed here with its reason). Gallery
image versions are changed only in the galleries the templates distribute to, and deleted only by an
instance that applies retention. docs/deployment.md must explain every action granted. (That the
deployer's roles suffice for what main.bicep does is test_infra_deployment_rules.py's job.)
"""

from __future__ import annotations

import json

from deployment_graph import covers, granted_actions, placements, role_actions, roots
from infra_bicep import INFRA, REPO, body, is_conditional, render

DEPLOYMENT_DOC = REPO / "docs" / "deployment.md"
# Example parameters (copied and filled in by whoever deploys), per template.
EXAMPLE_PARAMETERS = {
    "grants.bicep": INFRA / "grants.parameters.example.json",
    "main.bicep": INFRA / "main.parameters.example.json",
}

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
    "galleryVersionEditor": {
        "actions": [
            "Microsoft.Compute/galleries/images/versions/read",
            "Microsoft.Compute/galleries/images/versions/write",
        ],
        "dataActions": [],
    },
    "galleryVersionPruner": {
        "actions": [
            "Microsoft.Compute/galleries/images/versions/delete",
        ],
        "dataActions": [],
    },
    "galleryOperationReader": {
        "actions": [
            "Microsoft.Compute/locations/capsOperations/read",
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
    "serviceDeployer": {
        "actions": [
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.ManagedIdentity/userAssignedIdentities/read",
            "Microsoft.ManagedIdentity/userAssignedIdentities/write",
            "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
            "Microsoft.Storage/storageAccounts/read",
            "Microsoft.Storage/storageAccounts/write",
            "Microsoft.Storage/storageAccounts/blobServices/read",
            "Microsoft.Storage/storageAccounts/blobServices/write",
            "Microsoft.Storage/storageAccounts/blobServices/containers/read",
            "Microsoft.Storage/storageAccounts/blobServices/containers/write",
            "Microsoft.Storage/storageAccounts/queueServices/read",
            "Microsoft.Storage/storageAccounts/queueServices/write",
            "Microsoft.Storage/storageAccounts/queueServices/queues/read",
            "Microsoft.Storage/storageAccounts/queueServices/queues/write",
            "Microsoft.Storage/storageAccounts/tableServices/read",
            "Microsoft.Storage/storageAccounts/tableServices/write",
            "Microsoft.Storage/storageAccounts/tableServices/tables/read",
            "Microsoft.Storage/storageAccounts/tableServices/tables/write",
            "Microsoft.OperationalInsights/workspaces/read",
            "Microsoft.OperationalInsights/workspaces/write",
            "Microsoft.Insights/components/read",
            "Microsoft.Insights/components/write",
            "Microsoft.EventGrid/topics/read",
            "Microsoft.EventGrid/topics/write",
            "Microsoft.Web/serverfarms/read",
            "Microsoft.Web/serverfarms/write",
            "Microsoft.Web/sites/*",
        ],
        "dataActions": [],
    },
    "galleryEventsDeployer": {
        "actions": [
            "Microsoft.Resources/deployments/*",
            "Microsoft.Resources/subscriptions/resourceGroups/read",
            "Microsoft.EventGrid/systemTopics/read",
            "Microsoft.EventGrid/systemTopics/write",
            "Microsoft.EventGrid/systemTopics/eventSubscriptions/read",
            "Microsoft.EventGrid/systemTopics/eventSubscriptions/write",
        ],
        "dataActions": [],
    },
}
# The only wildcards: a deployer's own nested deployments, and the Function App it deploys (the
# site, its config, its code publishing and function keys).
ALLOWED_WILDCARDS = {"Microsoft.Resources/deployments/*", "Microsoft.Web/sites/*"}

# Built-in roles the infra may assign (id -> name), each on the service's own resources.
BUILTIN_ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
    "d5a91429-5739-47e2-a06b-3470a27159e7": "EventGrid Data Sender",
    # The deployer's (grants.bicep), on the aibtrigger resource group only.
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "de139f84-1756-47ae-9be6-808fbbe84772": "Website Contributor",
}

# Assignments without an explicit resource scope, and why that scope is the narrowest possible.
RESOURCE_GROUP_SCOPE = {
    (
        "modules/rg-role-assignment.bicep",
        "assignment",
    ): "image template and AIB staging resource groups: templates are deleted and re-created to be "
    "changed, staging resources are created by AIB itself, so the resource group is the stable scope",
    (
        "modules/gallery-versions-access.bicep",
        "operationReader",
    ): "a gallery version's PATCH and DELETE are tracked at /subscriptions/{id}/providers/Microsoft.Compute/"
    "locations/{region}/capsOperations/{id}, under no gallery; ARM authorizes tracking an asynchronous "
    "operation at resource-group level. The role holds that single read",
}
SUBSCRIPTION_SCOPE = {
    (
        "grants.bicep",
        "marketplaceRead",
    ): "marketplace image versions are listed at /subscriptions/{id}/providers/Microsoft.Compute/"
    "locations/...: not a resource in any group, authorized only at subscription scope; the role "
    "holds that single read action",
}
# Principals that receive roles: the service's identities (main.bicep passes them to modules as
# these parameters), the deployer and the code publisher (grants.bicep).
PRINCIPALS = {
    "appPrincipalId",
    "eventGridPrincipalId",
    "principalId",
    "publisherPrincipalId",
    "serviceIdentity.outputs.principalId",
}


# The names under which a module receives the id of a custom role of modules/roles.bicep.
CUSTOM_ROLE_PARAMETERS = {
    "roleDefinitionId",
    "galleryReaderRoleId",
    "galleryVersionEditorRoleId",
    "galleryVersionPrunerRoleId",
    "galleryOperationReaderRoleId",
    "marketplaceReaderRoleId",
}


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
        (permissions,) = config["properties"]["permissions"]
        actions = roles.resolve(permissions["actions"])
        data_actions = roles.resolve(permissions["dataActions"])
        assert actions == CUSTOM_ROLES[symbol]["actions"], symbol
        assert data_actions == CUSTOM_ROLES[symbol]["dataActions"], symbol
        assert permissions["notActions"] == [] and permissions["notDataActions"] == [], symbol
        wildcards = {action for action in actions + data_actions if "*" in action}
        assert wildcards <= ALLOWED_WILDCARDS, f"{symbol}: wildcards {wildcards - ALLOWED_WILDCARDS}"
        assert config["properties"]["type"] == "customRole"


def test_only_documented_builtin_roles_are_assigned(bicep):
    for f, symbol, spec in _role_assignments(bicep):
        for guid in _role_ids(f, spec):
            if guid in BUILTIN_ROLES:
                continue
            assert not _looks_like_guid(guid), f"{f.name}:{symbol} assigns undocumented built-in role {guid}"
            assert guid in CUSTOM_ROLE_PARAMETERS, (
                f"{f.name}:{symbol}: role {guid} is neither a documented built-in nor a custom role"
            )


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
            f"{where}: scope {render(scope)} must be a resource of {f.name} (resource scope)"
        )


def test_assignments_go_to_service_identities_only(bicep):
    for f, symbol, spec in _role_assignments(bicep):
        props = body(spec)["properties"]
        assert props["principalType"] in {"ServicePrincipal", "principalType"}, (f.name, symbol)
        assert render(props["principalId"]) in PRINCIPALS, (
            f"{f.name}:{symbol}: principal {render(props['principalId'])}"
        )
        assert str(props.get("description", "")).startswith("aibtrigger: "), (f.name, symbol, "say why")


def test_grants_wire_each_custom_role_to_its_own_scope(bicep):
    grants = bicep["grants.bicep"]
    assert grants.target_scope == "subscription"
    modules = grants.modules()
    expected = {
        "templateAccess": ("templateOperatorRoleId", "resource_group(rgName)", "imageTemplateResourceGroupNames"),
        "stagingAccess": ("stagingLogReaderRoleId", "resource_group(rgName)", "stagingResourceGroupNames"),
    }
    for symbol, (role, scope, over) in expected.items():
        config = body(modules[symbol])
        assert config["params"]["roleDefinitionId"] == role, symbol
        assert render(config["scope"]) == scope, symbol
        assert modules[symbol]["config"]["loop_type"]["detail"]["array_name"] == over, symbol
    gallery = body(modules["galleryAccess"])
    assert gallery["params"]["galleryReaderRoleId"] == "galleryReaderRoleId"
    assert render(gallery["scope"]) == "resource_group(galleryResourceGroupName)"
    for symbol, role, scope in (
        ("serviceDeployer", "serviceDeployerRoleId", "serviceResourceGroupName"),
        ("galleryDeployer", "galleryEventsDeployerRoleId", "galleryResourceGroupName"),
    ):
        config = body(modules[symbol])
        assert config["params"]["roleDefinitionId"] == role and config["params"]["principalId"] == "deployerPrincipalId"
        assert render(config["scope"]) == f"resource_group({scope})", symbol


def test_grants_compute_the_role_ids_bootstrap_defines(bicep):
    """grants.bicep names each custom role by the same guid() as modules/roles.bicep."""
    grants, roles = bicep["grants.bicep"], bicep["modules/roles.bicep"]
    defined = {
        render(body(spec)["name"]).replace("instance", "INSTANCE")
        for _, spec in roles.resources("Microsoft.Authorization/roleDefinitions")
    }
    computed = {
        render(value["function"]["parameters"]["resource_name_1"]).replace("instance", "INSTANCE")
        for name, value in grants.variables().items()
        if name.endswith("RoleId")
    }
    assert defined == computed
    assert (
        render(grants.variables()["instance"])
        == render(roles.variables()["instance"])
        == "to_lower(serviceResourceGroupName)"
    )


def test_deployment_doc_explains_every_permission():
    assert DEPLOYMENT_DOC.is_file(), "docs/deployment.md is missing"
    doc = DEPLOYMENT_DOC.read_text()
    granted = [a for role in CUSTOM_ROLES.values() for a in role["actions"] + role["dataActions"]]
    missing = [a for a in granted if f"`{a}`" not in doc] + [n for n in BUILTIN_ROLES.values() if n not in doc]
    assert not missing, f"docs/deployment.md does not explain: {missing}"


# --- gallery image versions: changed where the templates distribute, deleted only with retention --

VERSION_READ = "Microsoft.Compute/galleries/images/versions/read"
VERSION_WRITE = "Microsoft.Compute/galleries/images/versions/write"
VERSION_DELETE = "Microsoft.Compute/galleries/images/versions/delete"
SERVICE = "serviceIdentity.outputs.principalId"
# What the service never does to a gallery: change or delete the gallery or its image definitions.
GALLERY_STRUCTURE = [
    "Microsoft.Compute/galleries/write",
    "Microsoft.Compute/galleries/delete",
    "Microsoft.Compute/galleries/share/action",
    "Microsoft.Compute/galleries/images/write",
    "Microsoft.Compute/galleries/images/delete",
]


def _service_assignments(bicep):
    """(placement, symbol, spec, the role's actions) of every role assignment to the service identity."""
    for root in roots(bicep):
        for placed in placements(bicep, root):
            for symbol, spec in placed.file.resources("Microsoft.Authorization/roleAssignments"):
                if render(placed.value(body(spec)["properties"]["principalId"])) == SERVICE:
                    yield placed, symbol, spec, role_actions(bicep, placed, body(spec))


def _gallery_resources(f) -> set[str]:
    return {s for s, spec in f.resources("Microsoft.Compute/galleries") if spec["existing"]}


def test_the_service_changes_gallery_versions_only_where_its_templates_distribute(bicep):
    granted = granted_actions(bicep, SERVICE)
    writes = {scope for scope, actions in granted.items() if covers(actions, VERSION_WRITE)}
    deletes = {scope for scope, actions in granted.items() if covers(actions, VERSION_DELETE)}
    assert writes == {"distribution"}, f"version write granted at {sorted(writes)}, not the distribution galleries"
    assert deletes == {"distribution"}, f"version delete granted at {sorted(deletes)}"
    assert covers(granted["gallery"], VERSION_READ), "the watched gallery's versions must stay readable"
    assert covers(granted["distribution"], VERSION_READ), "changing a version starts from reading it"
    for placed, symbol, spec, actions in _service_assignments(bicep):
        where = f"{placed.file.name}:{symbol}"
        assert not [a for a in GALLERY_STRUCTURE if covers(actions, a)], f"{where} may change a gallery itself"
        if covers(actions, VERSION_WRITE) or covers(actions, VERSION_DELETE):
            assert body(spec).get("scope") in _gallery_resources(placed.file), (
                f"{where}: version write and delete are assigned on the gallery resource, not its group"
            )


def test_gallery_version_delete_is_granted_only_with_retention(bicep):
    retention = bicep["grants.bicep"].params()["galleryVersionRetention"]
    assert retention["type"] == "bool" and retention.get("default") is False, "no delete unless asked for"
    deleting = [
        (placed, symbol, spec, actions)
        for placed, symbol, spec, actions in _service_assignments(bicep)
        if any(a.endswith("/delete") or "*" in a for a in actions)
    ]
    assert deleting, "no assignment lets the service delete a version: retention could not work"
    for placed, symbol, spec, actions in deleting:
        where = f"{placed.file.name}:{symbol}"
        assert actions == {VERSION_DELETE}, f"{where}: delete comes in a role of its own, not with {actions}"
        assert is_conditional(spec), f"{where} grants delete whether or not the instance applies retention"
        condition = render(placed.value(spec["config"]["condition"]))
        assert condition == "galleryVersionRetention", f"{where} is granted when {condition}"


def test_distribution_galleries_default_to_the_watched_gallery(bicep):
    grants = bicep["grants.bicep"]
    galleries = grants.params()["distributionGalleries"]
    assert galleries["type"] == "array"
    assert galleries["default"] == [{"resourceGroupName": "galleryResourceGroupName", "galleryName": "galleryName"}]
    module = grants.modules()["distributionAccess"]
    loop = module["config"]["loop_type"]["detail"]
    item = loop["item_name"]
    assert loop["array_name"] == "distributionGalleries"
    config = body(module)
    assert render(config["scope"]) == f"resource_group({item}.resourceGroupName)"
    assert render(config["params"]["galleryName"]) == f"{item}.galleryName"
    assert config["params"]["prune"] == "galleryVersionRetention"
    for part in ("serviceResourceGroupName", f"{item}.resourceGroupName", f"{item}.galleryName"):
        assert part in config["name"], f"the nested deployment's name must be unique per instance and gallery: {part}"
    # Galleries sharing a resource group share its operation-status assignment: deployed one at a time.
    assert {"type": "batchSize", "argument": 1} in module.get("decorators", [])


def test_example_parameters_are_declared_and_complete(bicep):
    for template, path in EXAMPLE_PARAMETERS.items():
        declared = bicep[template].params()
        given = json.loads(path.read_text())["parameters"]
        assert set(given) <= set(declared), f"{path.name} sets undeclared {sorted(set(given) - set(declared))}"
        required = {name for name, spec in declared.items() if "default" not in spec}
        assert required <= set(given), f"{path.name} lacks the required {sorted(required - set(given))}"
    grants = json.loads(EXAMPLE_PARAMETERS["grants.bicep"].read_text())["parameters"]
    galleries = grants["distributionGalleries"]["value"]
    assert galleries and all(set(g) == {"resourceGroupName", "galleryName"} for g in galleries)
    assert grants["galleryVersionRetention"]["value"] in (True, False)
