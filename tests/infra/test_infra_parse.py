"""Every .bicep file parses, and the module graph is closed (no missing, no orphan module)."""

from __future__ import annotations

from pathlib import Path

import pytest
from infra_bicep import INFRA, bicep_files, parse

# The templates deployed by a command (docs/deployment.md): steps 1 and 2 by an Owner, 3 by the deployer.
ENTRY_POINTS = {"bootstrap.bicep", "grants.bicep", "main.bicep"}


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_bicep_file_parses(path: Path):
    tree = parse(path).tree
    assert tree.get("resources") or tree.get("modules"), f"{path.name} declares nothing"


def test_there_is_something_to_check():
    assert len(bicep_files()) >= 2, "infra/ should hold main.bicep and its modules"
    assert {p.relative_to(INFRA).as_posix() for p in bicep_files()} >= ENTRY_POINTS


def test_modules_exist_and_none_is_orphaned(bicep):
    referenced: set[str] = set()
    for f in bicep.values():
        for symbol, spec in f.modules().items():
            assert spec["type"] == "local", (
                f"{f.name}: module {symbol} is not a local file (registry modules cannot be checked offline)"
            )
            target = (f.path.parent / spec["detail"]["path"]).resolve()
            assert target.is_file(), f"{f.name}: module {symbol} points to missing {spec['detail']['path']}"
            referenced.add(target.relative_to(INFRA.resolve()).as_posix())
    orphans = set(bicep) - referenced - ENTRY_POINTS
    assert not orphans, f"modules no file uses (delete them or wire them in): {sorted(orphans)}"
