"""Check the parsed Bicep against Azure's published resource types (tests/infra/azure_types).

The types are bicep-types' own JSON (what the Bicep compiler validates against), so this is the
offline stand-in for `az bicep build`'s type checks: every property path a resource body sets must
exist in its type, must not be read-only, and, where the Bicep gives a value that is known before
deployment (a literal, a parameter's `@allowed` values or default, a variable), that value must be
allowed (enum, pattern, length, range, JSON kind). Values only known at deployment time
(`plan.id`, `'${a}-${b}'`, function calls) are not judged.

pycep does not tell a string literal from an identifier: a plain string naming a parameter,
variable, resource, module or loop item of the file is treated as that identifier.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra_bicep import BicepFile, body

TYPES_DIR = Path(__file__).resolve().parent / "azure_types"

# bicep-types flags (ObjectTypePropertyFlags, ResourceType scopes).
REQUIRED, READ_ONLY = 1, 2
SCOPE_BITS = {"subscription": 4, "resourceGroup": 8, "extension": 16}
# Keys of a resource body that are Bicep syntax, not properties of the resource type.
BICEP_KEYWORDS = {"parent", "scope", "dependsOn"}
UNKNOWN = object()  # a value only known at deployment time


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class TypeLibrary:
    """Every `Type@version` in tests/infra/azure_types, with its type graph."""

    def __init__(self, directory: Path = TYPES_DIR):
        self._resources: dict[str, tuple[list[dict], dict]] = {}
        for path in sorted(directory.glob("*@*.json")):
            types = json.loads(path.read_text())["types"]
            for entry in types:
                if entry["$type"] == "ResourceType":
                    self._resources[entry["name"].lower()] = (types, entry)

    def names(self) -> set[str]:
        return set(self._resources)

    def resource(self, type_name: str, version: str) -> ResourceType | None:
        found = self._resources.get(f"{type_name}@{version}".lower())
        return ResourceType(*found) if found else None


@dataclass
class ResourceType:
    types: list[dict]
    entry: dict

    def node(self, ref: dict) -> dict:
        return self.types[int(ref["$ref"][2:])]

    @property
    def body_type(self) -> dict:
        return self.node(self.entry["body"])

    def writable_at(self, scope: str) -> bool:
        return bool(self.entry.get("writableScopes", 0) & SCOPE_BITS[scope])


class Checker:
    """Walks one resource body of one file against its type."""

    def __init__(self, bicep: BicepFile, resource_type: ResourceType, identifiers: set[str]):
        self.bicep = bicep
        self.rtype = resource_type
        self.identifiers = identifiers
        self.problems: list[Problem] = []

    def check_body(self, symbol: str, config: dict) -> list[Problem]:
        top = {k: v for k, v in config.items() if k not in BICEP_KEYWORDS}
        self._check_known(f"{self.bicep.name}:{symbol}", top, self.rtype.body_type)
        return self.problems

    # --- values ----------------------------------------------------------------------------

    def _candidates(self, value: Any) -> list[Any]:
        """The values an expression can take before deployment, or [UNKNOWN]."""
        if isinstance(value, str) and value in self.identifiers:
            variables, params = self.bicep.variables(), self.bicep.params()
            if value in variables:
                return self._candidates(variables[value])
            if value in params:
                allowed = next(
                    (d["argument"] for d in params[value].get("decorators", []) if d["type"] == "allowed"), None
                )
                if allowed:
                    return list(allowed)
                default = params[value].get("default")
                return [UNKNOWN] if default is None else self._candidates(default)
            return [UNKNOWN]
        if isinstance(value, str) and "${" in value:
            return [UNKNOWN]
        if isinstance(value, dict) and (set(value) in ({"operator"}, {"function"})):
            return [UNKNOWN]
        return [value]

    def _check(self, path: str, value: Any, type_node: dict) -> None:
        for candidate in self._candidates(value):
            if candidate is not UNKNOWN:
                self._check_known(path, candidate, type_node)

    def _check_known(self, path: str, value: Any, type_node: dict) -> None:
        kind = type_node["$type"]
        checker = getattr(self, "_" + kind, None)
        if checker is None:
            raise AssertionError(f"{path}: unhandled bicep type kind {kind}")
        checker(path, value, type_node)

    # --- one method per bicep-types kind -----------------------------------------------------

    def _AnyType(self, path, value, node):
        pass

    def _BooleanType(self, path, value, node):
        if not isinstance(value, bool):
            self._problem(path, f"expects a bool, the Bicep gives {value!r}")

    def _IntegerType(self, path, value, node):
        if isinstance(value, bool) or not isinstance(value, int):
            self._problem(path, f"expects an int, the Bicep gives {value!r}")
            return
        if "minValue" in node and value < node["minValue"] or "maxValue" in node and value > node["maxValue"]:
            self._problem(path, f"{value} is outside {node.get('minValue')}..{node.get('maxValue')}")

    def _StringType(self, path, value, node):
        if not isinstance(value, str):
            self._problem(path, f"expects a string, the Bicep gives {value!r}")
            return
        if len(value) < node.get("minLength", 0) or len(value) > node.get("maxLength", len(value)):
            self._problem(path, f"{value!r}: length outside {node.get('minLength')}..{node.get('maxLength')}")
        if "pattern" in node and not re.search(node["pattern"], value):
            self._problem(path, f"{value!r} does not match {node['pattern']}")

    def _StringLiteralType(self, path, value, node):
        if value != node["value"]:
            self._problem(path, f"{value!r} is not {node['value']!r}")

    def _UnionType(self, path, value, node):
        outcomes = []
        for ref in node["elements"]:
            trial = Checker(self.bicep, self.rtype, self.identifiers)
            trial._check_known(path, value, self.rtype.node(ref))
            if not trial.problems:
                return
            outcomes.append(trial.problems)
        literals = [
            self.rtype.node(r).get("value")
            for r in node["elements"]
            if self.rtype.node(r)["$type"] == "StringLiteralType"
        ]
        self._problem(path, f"{value!r} is not allowed; allowed: {literals}" if literals else outcomes[0][0].message)

    def _ArrayType(self, path, value, node):
        item_type = self.rtype.node(node["itemType"])
        if isinstance(value, dict) and "loop_type" in value:
            self._check(f"{path}[]", value["config"], item_type)
            return
        if not isinstance(value, list):
            self._problem(path, f"expects an array, the Bicep gives {value!r}")
            return
        for index, item in enumerate(value):
            self._check(f"{path}[{index}]", item, item_type)

    def _ObjectType(self, path, value, node, require=True):
        self._object(path, value, node, require=require)

    def _DiscriminatedObjectType(self, path, value, node):
        if not isinstance(value, dict):
            self._problem(path, f"expects an object, the Bicep gives {value!r}")
            return
        discriminator = node["discriminator"]
        properties = dict(node.get("baseProperties", {}))
        tag = [c for c in self._candidates(value.get(discriminator)) if c is not UNKNOWN]
        if discriminator not in value:
            self._problem(path, f"{discriminator} is required (one of {sorted(node['elements'])})")
            return
        if not tag:  # chosen at deployment time: accept any variant's properties
            for ref in node["elements"].values():
                properties.update(self.rtype.node(ref)["properties"])
            self._object(path, value, {"name": node["name"], "properties": properties}, require=False)
            return
        for choice in tag:
            if choice not in node["elements"]:
                self._problem(f"{path}.{discriminator}", f"{choice!r} is not one of {sorted(node['elements'])}")
                continue
            variant = self.rtype.node(node["elements"][choice])
            merged = {**properties, **variant["properties"]}
            self._object(path, value, {"name": variant["name"], "properties": merged}, require=True)

    # --- objects ------------------------------------------------------------------------------

    def _object(self, path: str, value: Any, node: dict, require: bool) -> None:
        if isinstance(value, dict) and "loop_type" in value:
            self._problem(path, "a loop where the type expects an object")
            return
        if not isinstance(value, dict):
            self._problem(path, f"expects an object ({node.get('name')}), the Bicep gives {value!r}")
            return
        properties = node.get("properties", {})
        by_lower = {name.lower(): name for name in properties}
        for key, item in value.items():
            if key.startswith("'"):
                key = key.strip("'")
            if "${" in key:
                if "additionalProperties" not in node:
                    self._problem(f"{path}.{key}", f"{node.get('name')} takes no free-form keys")
                else:
                    self._check(f"{path}.{key}", item, self.rtype.node(node["additionalProperties"]))
                continue
            name = by_lower.get(key.lower())
            if name is None:
                if "additionalProperties" in node:
                    self._check(f"{path}.{key}", item, self.rtype.node(node["additionalProperties"]))
                else:
                    self._problem(
                        f"{path}.{key}",
                        f"is not a property of {node.get('name')} (it has: {', '.join(sorted(properties))})",
                    )
                continue
            if name != key:
                self._problem(f"{path}.{key}", f"is spelled {name} in the type")
            flags = properties[name].get("flags", 0)
            if flags & READ_ONLY and not flags & REQUIRED:
                self._problem(f"{path}.{key}", "is read-only: ARM ignores or rejects it")
                continue
            self._check(f"{path}.{key}", item, self.rtype.node(properties[name]["type"]))
        if require:
            for name, spec in properties.items():
                if (
                    spec.get("flags", 0) & REQUIRED
                    and not spec.get("flags", 0) & READ_ONLY
                    and name.lower() not in {k.strip("'").lower() for k in value}
                ):
                    self._problem(f"{path}.{name}", f"is required by {node.get('name')}")

    def _problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))


def identifiers_of(bicep: BicepFile) -> set[str]:
    """Names a plain string in this file can refer to (pycep keeps identifiers as plain strings)."""
    names = set(bicep.params()) | set(bicep.variables()) | set(bicep.modules())
    names |= {symbol for symbol, _ in bicep.resources()}
    for node in _loops(bicep.tree):
        names.add(node["loop_type"]["detail"].get("item_name"))
        names.add(node["loop_type"]["detail"].get("index_name"))
    return {name for name in names if name}


def _loops(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        if isinstance(node.get("loop_type"), dict):
            yield node
        for value in node.values():
            yield from _loops(value)
    elif isinstance(node, list):
        for item in node:
            yield from _loops(item)


def check_resource(library: TypeLibrary, bicep: BicepFile, symbol: str, spec: dict) -> list[Problem]:
    where = f"{bicep.name}:{symbol}"
    rtype = library.resource(spec["type"], spec["api_version"])
    if rtype is None:
        return [
            Problem(
                where,
                f"{spec['type']}@{spec['api_version']} is not in tests/infra/azure_types "
                "(run tests/infra/azure_types/extract.py, see SOURCES.md)",
            )
        ]
    config = body(spec)
    scope = "extension" if "scope" in config else bicep.target_scope
    problems = []
    if not spec["existing"] and not rtype.writable_at(scope):
        problems.append(Problem(where, f"{spec['type']} cannot be deployed at {scope} scope"))
    if spec["existing"]:
        return problems
    return problems + Checker(bicep, rtype, identifiers_of(bicep)).check_body(symbol, config)
