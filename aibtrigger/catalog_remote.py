"""Catalog entries and their image templates in Azure (aib backend): a `resource_id`-only entry takes
its definition from Azure; an entry with both is compared with Azure, and differences are drift.

AIB templates cannot be updated in place (PUT is refused; delete and re-create), so a catalog
definition that differs from the template Azure builds misleads the planner's lineage and the
reader: it is reported, never "fixed". Pure: Azure is read through the `read` callable given
(template name -> the resource JSON as ARM returns it), so the rules are tested without I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from aibtrigger.errors import AibTriggerError
from aibtrigger.template_model import TemplateDefinition
from aibtrigger.template_paste import unpaste

ReadTemplate = Callable[[str], Mapping]
# Values AIB fills in when a template leaves them out: absent and these are the same template.
_API_DEFAULTS = {
    "runElevated": False,
    "runAsSystem": False,
    "sha256Checksum": "",
    "buildTimeoutInMinutes": 0,
    "osDiskSizeGB": 0,
    "vmSize": "",
    "proxyVmSize": "",
    "updateLimit": 0,
    "excludeFromLatest": False,
    "continueDistributeOnFailure": False,
    "sourceValidationOnly": False,
    "major": -1,
    "replicaCount": 1,
    "onCustomizerError": "cleanup",
    "onValidationError": "cleanup",
}


@dataclass
class RemoteCheck:
    """What comparing the catalog with Azure found."""

    definitions: dict[str, TemplateDefinition] = field(default_factory=dict)  # read for resource_id-only entries
    drift: list[str] = field(default_factory=list)  # "<template>: <path>: catalog X, Azure Y"
    unreadable: list[str] = field(default_factory=list)  # "<template>: why"


def check_against_azure(catalog, read: ReadTemplate, *, compare: bool = True) -> RemoteCheck:
    """Read the image template of each entry with a `resource_id` once: of those without a definition
    always, of the others (for drift) when `compare`."""
    result = RemoteCheck()
    for entry in catalog.templates:
        if not entry.resource_id or (entry.definition is not None and not compare):
            continue
        try:
            azure = definition_from_azure(read(entry.name))
        except (AibTriggerError, ValueError) as exc:  # the adapter's translated errors; a misfit definition
            result.unreadable.append(f"{entry.name}: {exc}")
            continue
        if entry.definition is None:
            result.definitions[entry.name] = azure
        else:
            result.drift += [f"{entry.name}: {line}" for line in definition_drift(entry.definition, azure)]
    return result


def definition_from_azure(resource: Mapping) -> TemplateDefinition:
    """The writable properties of an image template as ARM returns it; ValueError naming the field
    when they do not fit the catalog's schema (e.g. a property of a newer API version)."""
    pasted = unpaste(dict(resource))
    try:
        return TemplateDefinition.model_validate(pasted.properties)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(
            f"its definition in Azure does not fit the catalog schema: "
            f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        ) from None


def definition_drift(catalog: TemplateDefinition, azure: TemplateDefinition) -> list[str]:
    """Every path where the two definitions differ, e.g. `customize[0].inline: catalog [...], Azure [...]`."""
    ours, theirs = _comparable(_dump(catalog)), _comparable(_dump(azure))
    return [f"{path}: catalog {_show(a)}, Azure {_show(b)}" for path, a, b in _differences(ours, theirs, "")]


def _dump(definition: TemplateDefinition) -> dict:
    return definition.model_dump(by_alias=True, exclude_none=True)


def _comparable(value: object, key: str = "") -> object:
    """Leave out what is unset or at AIB's default; compare resource ids case-insensitively."""
    if isinstance(value, dict):
        kept = {k: _comparable(v, k) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, [], {}) and _API_DEFAULTS.get(k, object()) != v}
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, str) and value.lower().startswith("/subscriptions/"):
        return value.lower()
    return value


def _differences(ours: object, theirs: object, path: str):
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for key in sorted(set(ours) | set(theirs), key=lambda k: (k not in ours, k)):
            yield from _differences(ours.get(key), theirs.get(key), f"{path}.{key}" if path else key)
    elif isinstance(ours, list) and isinstance(theirs, list):
        for index in range(max(len(ours), len(theirs))):
            yield from _differences(
                ours[index] if index < len(ours) else None,
                theirs[index] if index < len(theirs) else None,
                f"{path}[{index}]",
            )
    elif ours != theirs:
        yield path or "<definition>", ours, theirs


def _show(value: object) -> str:
    text = "(absent)" if value is None else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
