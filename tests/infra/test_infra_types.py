"""Every resource in infra/ against Azure's published resource types (Azure/bicep-types-az, the data
the Bicep compiler itself checks against; tests/infra/azure_types/SOURCES.md).

No Bicep compiler runs here, so these tests stand in for its type checks: the `Type@apiVersion`
exists, can be deployed at the file's scope, and every property path the Bicep sets exists in that
type, is writable, and holds an allowed value wherever the value is known before deployment.
"""

from __future__ import annotations

import pytest
from infra_bicep import bicep_files, parse
from resource_types import TYPES_DIR, TypeLibrary, check_resource


@pytest.fixture(scope="module")
def library() -> TypeLibrary:
    return TypeLibrary()


def _declared() -> list:
    return [
        pytest.param(f, symbol, spec, id=f"{f.name}:{symbol}")
        for f in map(parse, bicep_files())
        for symbol, spec in f.resources()
    ]


def test_type_data_comes_with_its_licence_and_source():
    assert (TYPES_DIR / "LICENSE").read_text().lstrip().startswith("MIT License")
    sources = (TYPES_DIR / "SOURCES.md").read_text()
    assert "Azure/bicep-types-az" in sources and "commit" in sources


def test_only_the_types_infra_uses_are_kept(library):
    used = {
        f"{spec['type']}@{spec['api_version']}".lower() for path in bicep_files() for _, spec in parse(path).resources()
    }
    unused = library.names() - used
    assert not unused, f"type data no template uses (rerun extract.py): {sorted(unused)}"


@pytest.mark.parametrize("f, symbol, spec", _declared())
def test_resource_matches_its_published_type(library, f, symbol, spec):
    problems = check_resource(library, f, symbol, spec)
    assert not problems, "\n".join(str(p) for p in problems)


# --- the checker itself finds what it is for (each snippet is one mistake it must report) ------

SNIPPETS = {
    "misspelled property": (
        """
resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st'
  location: 'westeurope'
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: { allowSharedKeyAcess: false }
}""",
        "st.properties.allowSharedKeyAcess: is not a property",
    ),
    "value outside the enum": (
        """
resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st'
  location: 'westeurope'
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: { accessTier: 'Warm' }
}""",
        "st.properties.accessTier: 'Warm' is not allowed",
    ),
    "an @allowed value the type refuses": (
        """
@allowed([ 'Allow', 'Block' ])
param networkDefault string
resource st 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: 'st'
  location: 'westeurope'
  kind: 'StorageV2'
  sku: { name: 'Standard_LRS' }
  properties: { networkAcls: { defaultAction: networkDefault } }
}""",
        "st.properties.networkAcls.defaultAction: 'Block' is not allowed",
    ),
    "read-only property": (
        """
resource id 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id'
  location: 'westeurope'
  properties: { clientId: '00000000-0000-0000-0000-000000000000' }
}""",
        "id.properties: is read-only",
    ),
    "unknown discriminator": (
        """
resource ftp 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  name: 'sftp'
  properties: { allow: false }
}""",
        "ftp.name: 'sftp' is not one of ['ftp', 'scm']",
    ),
    "missing required property": (
        """
resource id 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id'
}""",
        "id.location: is required",
    ),
    "type not in the data": (
        """
resource id 'Microsoft.ManagedIdentity/userAssignedIdentities@2018-11-30' = {
  name: 'id'
  location: 'westeurope'
}""",
        "is not in tests/infra/azure_types",
    ),
}


@pytest.mark.parametrize("name", sorted(SNIPPETS))
def test_checker_reports_the_mistake(library, name):
    from infra_bicep import INFRA, BicepFile
    from pycep import BicepParser

    text, expected = SNIPPETS[name]
    snippet = BicepFile(INFRA / "snippet.bicep", BicepParser().parse(text=text), text)
    problems = [str(p) for symbol, spec in snippet.resources() for p in check_resource(library, snippet, symbol, spec)]
    assert any(expected in p for p in problems), f"{name}: expected {expected!r} among {problems}"
