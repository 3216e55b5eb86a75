"""Helpers of the offline infra checks: the Bicep is parsed with pycep-parser and inspected as data.

No Bicep compiler is needed (none is installable here). The parsed tree of a file is pycep's JSON:
`parameters`, `variables`, `resources`, `modules`, `outputs`, each keyed by symbolic name. Looped
or conditional resources wrap their body as {"loop_type"|"condition": ..., "config": body}; use
`body()` to get at it. pycep does not distinguish a string literal from an identifier (both are
plain strings); `render()` turns an expression back into Bicep-like text for assertions.

`make test` sets AIBTRIGGER_REQUIRE_INFRA_TOOLS=1: then a missing tool (pycep-parser, checkov) is a
failure, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
MAIN = INFRA / "main.bicep"
REQUIRE_TOOLS = os.environ.get("AIBTRIGGER_REQUIRE_INFRA_TOOLS") == "1"


def missing_tool(message: str):
    """Fail under `make test` (tools are installed there), otherwise skip, loudly."""
    if REQUIRE_TOOLS:
        pytest.fail(message + " (AIBTRIGGER_REQUIRE_INFRA_TOOLS=1: the tool must be installed)")
    pytest.skip("INFRA CHECK NOT RUN: " + message)


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@dataclass
class BicepFile:
    path: Path
    tree: dict[str, Any]
    text: str = field(repr=False)

    @property
    def name(self) -> str:
        return self.path.relative_to(INFRA).as_posix()

    @property
    def target_scope(self) -> str:
        scope = (self.tree.get("globals") or {}).get("scope") or {}
        return scope.get("value", "resourceGroup")

    def params(self) -> dict[str, Any]:
        return self.tree.get("parameters") or {}

    def variables(self) -> dict[str, Any]:
        return {name: spec["value"] for name, spec in (self.tree.get("variables") or {}).items()}

    def resources(self, type_: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        for symbol, spec in (self.tree.get("resources") or {}).items():
            if type_ is None or spec["type"].lower() == type_.lower():
                yield symbol, spec

    def modules(self) -> dict[str, Any]:
        return self.tree.get("modules") or {}

    def resolve(self, value: Any) -> Any:
        """A variable or parameter name -> its value (parameter: default); anything else as is."""
        if isinstance(value, str):
            variables = self.variables()
            if value in variables:
                return self.resolve(variables[value])
            if value in self.params():
                return self.params()[value].get("default")
        return value


def body(spec: dict[str, Any]) -> dict[str, Any]:
    """The resource or module body, unwrapped from loops and conditions."""
    config = spec["config"]
    while isinstance(config, dict) and ("loop_type" in config or "condition" in config) and "config" in config:
        config = config["config"]
    return config


def is_conditional(spec: dict[str, Any]) -> bool:
    config = spec["config"]
    return isinstance(config, dict) and config.get("condition") is not None


def dig(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def render(node: Any) -> str:
    """Bicep-like text of a pycep expression (identifiers and literals both come out bare)."""
    if isinstance(node, bool):
        return "true" if node else "false"
    if node is None:
        return "null"
    if isinstance(node, (int, float, str)):
        return str(node)
    if isinstance(node, list):
        return "[" + ", ".join(render(item) for item in node) + "]"
    if isinstance(node, dict) and set(node) == {"operator"}:
        operator = node["operator"]
        operands = operator.get("operands") or {}
        if operator["type"] == "property_accessor":
            return f"{render(operands['operand_1'])}.{render(operands['operand_2'])}"
        if operator["type"] == "conditional":
            condition, true_value = render(operands["condition"]), render(operands["true_value"])
            return f"{condition} ? {true_value} : {render(operands['false_value'])}"
        return f"{operator['type']}(" + ", ".join(render(v) for v in operands.values()) + ")"
    if isinstance(node, dict) and set(node) == {"function"}:
        function = node["function"]
        args = [render(v) for v in (function.get("parameters") or {}).values() if v is not None]
        return f"{function['type']}(" + ", ".join(args) + ")"
    if isinstance(node, dict):
        return "{" + ", ".join(f"{k}: {render(v)}" for k, v in node.items()) + "}"
    return repr(node)


def walk(node: Any) -> Iterator[Any]:
    """Every node of an expression tree (dicts, lists, scalars), depth first."""
    yield node
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


_PARSED: dict[Path, BicepFile] = {}


def parse(path: Path) -> BicepFile:
    if path not in _PARSED:
        try:
            from pycep import BicepParser
        except ImportError:
            missing_tool("pycep-parser is not installed in this venv (pip install pycep-parser)")
        text = path.read_text()
        _PARSED[path] = BicepFile(path, BicepParser().parse(text=text), text)
    return _PARSED[path]


def property_paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted property path an object literal sets (through array loops: `a.b[]`)."""
    if isinstance(node, dict) and isinstance(node.get("loop_type"), dict):
        yield from property_paths(node["config"], prefix + "[]")
        return
    if isinstance(node, dict) and set(node) not in ({"operator"}, {"function"}):
        for key, value in node.items():
            path = f"{prefix}.{key.strip(chr(39))}" if prefix else key.strip(chr(39))
            yield path
            yield from property_paths(value, path)
    elif isinstance(node, list):
        for item in node:
            yield from property_paths(item, prefix + "[]")
