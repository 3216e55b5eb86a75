"""The deployments infra/ describes, as data: which files deploy together (a root and its modules),
at which scope each file lands, and which actions a deployer needs there. Scopes are labelled by
what they are, not by the parameter that names them in one file: `service` (the aibtrigger resource
group), `gallery` (the watched gallery's group), `distribution` (the groups of the galleries the
templates distribute to), `templates`, `staging`, `subscription`.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from infra_bicep import INFRA, BicepFile, body, render, walk

# The parameter naming a resource group, in any file, -> the label of that group.
SCOPE_LABELS = {
    "serviceResourceGroupName": "service",
    "galleryResourceGroupName": "gallery",
    "imageTemplateResourceGroupNames": "templates",
    "stagingResourceGroupNames": "staging",
    "distributionGalleries": "distribution",
}
DEPLOY = "Microsoft.Resources/deployments/write"
BUILTIN_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ASSIGN_IDENTITY = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action"
IDENTITY_KEYS = {"userAssignedIdentities", "userAssignedIdentity", "userAssignedIdentityResourceId"}
# Built-in roles infra/ grants the deployer, with their actions as Microsoft publishes them
# (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/privileged).
BUILTIN_ROLE_ACTIONS = {
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": [  # Role Based Access Control Administrator
        "Microsoft.Authorization/roleAssignments/write",
        "Microsoft.Authorization/roleAssignments/delete",
        "*/read",
        "Microsoft.Support/*",
    ],
}


@dataclass(frozen=True)
class Placed:
    file: BicepFile
    scope: str  # a label
    caller: BicepFile | None = None
    params: Any = None  # the caller's `params: {...}` for this module

    def value(self, expression: Any) -> Any:
        """An expression of this file with a module parameter replaced by what the caller passes."""
        if isinstance(expression, str) and self.caller is not None and expression in (self.params or {}):
            return _variables_resolved(self.caller, self.params[expression])
        return _variables_resolved(self.file, expression)


def _variables_resolved(f: BicepFile, expression: Any) -> Any:
    """A variable name -> its value; a parameter name stays a name (its value is the caller's)."""
    while isinstance(expression, str) and expression in f.variables():
        expression = f.variables()[expression]
    return expression


def roots(bicep: dict[str, BicepFile]) -> list[BicepFile]:
    """Files deployed by a command (`az deployment ... create -f`), not as a module of another."""
    used = {(f.path.parent / spec["detail"]["path"]).resolve() for f in bicep.values() for spec in f.modules().values()}
    return [f for f in bicep.values() if f.path.resolve() not in used]


def root_scope(f: BicepFile) -> str:
    return "subscription" if f.target_scope == "subscription" else "service"


def _module_scope(caller: BicepFile, caller_scope: str, spec: dict) -> str:
    scope = body(spec).get("scope")
    if scope is None:
        return caller_scope
    text = render(scope)
    if text == "subscription()":
        return "subscription"
    if text == "resource_group()":
        return caller_scope
    if text.startswith("resource_group(") and text.endswith(")"):
        name = text[len("resource_group(") : -1]
        loop = spec["config"].get("loop_type") if isinstance(spec["config"], dict) else None
        item = loop["detail"].get("item_name") if loop else None
        if item and (name == item or name.startswith(f"{item}.")):  # each item, or a field of it
            name = render(loop["detail"]["array_name"])
        return SCOPE_LABELS.get(name, name)
    raise AssertionError(f"{caller.name}: module scope {text} has no label (add it to SCOPE_LABELS)")


def placements(bicep: dict[str, BicepFile], root: BicepFile) -> list[Placed]:
    """The root and every module it deploys, each with the scope it lands in."""
    found, stack = [], [Placed(root, root_scope(root))]
    while stack:
        placed = stack.pop()
        found.append(placed)
        f = placed.file
        for spec in f.modules().values():
            target = (f.path.parent / spec["detail"]["path"]).resolve().relative_to(INFRA.resolve()).as_posix()
            stack.append(Placed(bicep[target], _module_scope(f, placed.scope, spec), f, body(spec).get("params") or {}))
    return found


def required_actions(bicep: dict[str, BicepFile], root: BicepFile) -> dict[str, set[str]]:
    """scope label -> the actions `az deployment` of this root needs there."""
    needed: dict[str, set[str]] = {}
    for placed in placements(bicep, root):
        actions = needed.setdefault(placed.scope, set())
        actions.add(DEPLOY)
        for _, spec in placed.file.resources():
            if spec["existing"]:
                continue
            actions.add(f"{spec['type']}/write")
            if any(node in IDENTITY_KEYS for node in walk(body(spec)) if isinstance(node, str)):
                needed.setdefault("service", set()).add(ASSIGN_IDENTITY)
    return needed


def covers(granted: set[str], action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in granted)


def role_key(expression: Any) -> str | None:
    """The `aibtrigger-...` constant inside a role definition's guid(), which names the role."""
    keys = [node for node in walk(expression) if isinstance(node, str) and node.startswith("aibtrigger-")]
    return keys[0] if len(keys) == 1 else None


def custom_roles(bicep: dict[str, BicepFile]) -> dict[str, dict]:
    """role key -> role definition body, across all files."""
    return {
        role_key(body(spec)["name"]): body(spec)
        for f in bicep.values()
        for _, spec in f.resources("Microsoft.Authorization/roleDefinitions")
        if not spec["existing"]
    }


def role_assignments(bicep: dict[str, BicepFile], root: BicepFile) -> Iterator[tuple[Placed, dict]]:
    """(where, assignment body) of every role assignment a root deploys."""
    for placed in placements(bicep, root):
        for _, spec in placed.file.resources("Microsoft.Authorization/roleAssignments"):
            yield placed, body(spec)


def granted_actions(bicep: dict[str, BicepFile], principal_param: str) -> dict[str, set[str]]:
    """scope label -> actions of the custom roles any root assigns to the principal `principal_param`
    (a parameter name, or an expression as render() writes it: `serviceIdentity.outputs.principalId`)."""
    granted: dict[str, set[str]] = {}
    for root in roots(bicep):
        for placed, assignment in role_assignments(bicep, root):
            props = assignment["properties"]
            if render(placed.value(props["principalId"])) != principal_param:
                continue
            granted.setdefault(placed.scope, set()).update(role_actions(bicep, placed, assignment))
    return granted


def builtin_role_ids(placed: Placed, assignment: dict) -> list[str]:
    """The built-in role GUIDs an assignment grants (each role of its loop); [] for a custom role."""
    value = placed.value(assignment["properties"]["roleDefinitionId"])
    if not (
        isinstance(value, dict) and "function" in value and value["function"]["type"] == "subscription_resource_id"
    ):
        return []
    name = value["function"]["parameters"]["resource_name_1"]
    for f in (placed.caller, placed.file):  # the expression may come from the module's caller
        if f is not None:
            name = _variables_resolved(f, name)
    candidates = [name]
    for _, spec in placed.file.resources("Microsoft.Authorization/roleAssignments"):
        loop = spec["config"].get("loop_type") if isinstance(spec["config"], dict) else None
        if loop and loop["detail"]["item_name"] == name and body(spec) is assignment:
            candidates = [placed.file.resolve(v) for v in placed.file.resolve(loop["detail"]["array_name"])]
    ids = [c for c in candidates if isinstance(c, str) and BUILTIN_ID.match(c)]
    return ids if len(ids) == len(candidates) else []


def role_actions(bicep: dict[str, BicepFile], placed: Placed, assignment: dict) -> set[str]:
    """The actions of the role an assignment grants: a custom role of infra/, or a listed built-in."""
    actions = {a for guid in builtin_role_ids(placed, assignment) for a in BUILTIN_ROLE_ACTIONS.get(guid, [])}
    role = custom_roles(bicep).get(role_key(placed.value(assignment["properties"]["roleDefinitionId"])))
    if role is not None:
        actions |= {
            a for permission in role["properties"]["permissions"] for a in _actions(bicep, permission["actions"])
        }
    return actions


def _actions(bicep: dict[str, BicepFile], value: Any) -> list[str]:
    if isinstance(value, list):
        return value
    for f in bicep.values():
        if value in f.variables():
            return f.variables()[value]
    raise AssertionError(f"cannot resolve the actions {render(value)}")
