"""Refresh the resource types in this folder from a checkout of Azure/bicep-types-az.

    python tests/infra/azure_types/extract.py /path/to/bicep-types-az

Keeps, for every `Type@apiVersion` that infra/ declares (existing resources included), the
ResourceType entry and every type it reaches, renumbered, in one file per provider and API version
(`microsoft.web@2024-04-01.json`). The format is bicep-types' own (`$type`, `$ref: "#/<index>"`),
so a file reads like the `types.json` it came from. Record the commit you used in SOURCES.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from infra_bicep import bicep_files, parse  # noqa: E402


def used_types() -> set[str]:
    """Every `Type@version` any infra .bicep file declares, existing or not."""
    found = set()
    for path in bicep_files():
        for _, spec in parse(path).resources():
            found.add(f"{spec['type']}@{spec['api_version']}")
    return found


def source_file(generated: Path, type_name: str, version: str) -> Path:
    namespace = type_name.split("/")[0].lower()
    wanted = f"{type_name}@{version}".lower()
    for path in sorted(generated.glob(f"*/{namespace}/{version}/types.json")):
        if any(t.get("$type") == "ResourceType" and t["name"].lower() == wanted for t in json.loads(path.read_text())):
            return path
    raise SystemExit(f"{type_name}@{version} is in no generated/*/{namespace}/{version}/types.json")


def _refs(node: Any):
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _renumber(node: Any, new_index: dict[int, int]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"$ref"}:
            return {"$ref": f"#/{new_index[int(node['$ref'][2:])]}"}
        return {key: _renumber(value, new_index) for key, value in node.items()}
    if isinstance(node, list):
        return [_renumber(item, new_index) for item in node]
    return node


def subset(all_types: list[dict], resource_names: set[str]) -> list[dict]:
    """The named ResourceType entries and the closure of their references, renumbered in order."""
    roots = [
        i for i, t in enumerate(all_types) if t.get("$type") == "ResourceType" and t["name"].lower() in resource_names
    ]
    keep, stack = set(), list(roots)
    while stack:
        index = stack.pop()
        if index not in keep:
            keep.add(index)
            stack.extend(int(ref[2:]) for ref in _refs(all_types[index]))
    order = sorted(keep)
    new_index = {old: new for new, old in enumerate(order)}
    return [_renumber(all_types[old], new_index) for old in order]


def main(checkout: Path) -> None:
    by_file: dict[Path, set[str]] = {}
    for used in sorted(used_types()):
        type_name, version = used.split("@")
        by_file.setdefault(source_file(checkout / "generated", type_name, version), set()).add(used.lower())
    for old in HERE.glob("*@*.json"):
        old.unlink()
    for path, names in sorted(by_file.items()):
        relative = path.relative_to(checkout).as_posix()
        namespace, version = path.parts[-3], path.parts[-2]
        document = {"source": relative, "types": subset(json.loads(path.read_text()), names)}
        (HERE / f"{namespace}@{version}.json").write_text(json.dumps(document, indent=1) + "\n")
        print(f"{relative}: {', '.join(sorted(names))}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
