"""Fixtures of the offline infra checks (helpers: infra_bicep.py)."""

from __future__ import annotations

from typing import Any

import pytest
from infra_bicep import BicepFile, bicep_files, parse


@pytest.fixture(scope="session")
def bicep() -> dict[str, BicepFile]:
    """Every infra .bicep file, parsed, keyed by its path relative to infra/ (e.g. 'modules/storage.bicep')."""
    files = {parse(path).name: parse(path) for path in bicep_files()}
    assert "main.bicep" in files, "infra/main.bicep is missing"
    return files


@pytest.fixture(scope="session")
def main(bicep) -> BicepFile:
    return bicep["main.bicep"]


@pytest.fixture(scope="session")
def all_resources(bicep) -> list[tuple[BicepFile, str, dict[str, Any]]]:
    """(file, symbol, spec) of every resource declared in any file, `existing` ones excluded."""
    return [(f, symbol, spec) for f in bicep.values() for symbol, spec in f.resources() if not spec["existing"]]
