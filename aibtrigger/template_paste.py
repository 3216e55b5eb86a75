"""What a user pastes as a catalog `definition`, made into the template's writable properties.

Two shapes are accepted: the template's `properties` (`az image builder show --query properties`),
or the whole resource (`az image builder show`, an ARM template's resource, a REST body) with
`id`, `name`, `location`, `tags`, `identity`, `properties`, ... Read-only fields that Azure adds
(`provisioningState`, `lastRunStatus`, `source.exactVersion`, ...) are removed and noted: they
describe one moment of one template in Azure, not what to build.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, ValidationError

# Read-only properties of the API (visibility "read" in the REST spec), by where they sit.
READ_ONLY_PROPERTIES = ("provisioningState", "provisioningError", "lastRunStatus", "exactStagingResourceGroup")
READ_ONLY_SOURCE = ("exactVersion",)
# Resource fields Azure sets (`id` ...) or that belong to a deployment, not to the template. ARM
# template resources spell them in any case ("Name"), so they are matched case-insensitively.
READ_ONLY_RESOURCE = ("id", "name", "type", "systemData", "apiVersion", "dependsOn", "comments")
WRITABLE_RESOURCE = ("location", "tags", "identity", "properties")
_RESOURCE_FIELDS = {key.lower(): key for key in READ_ONLY_RESOURCE + WRITABLE_RESOURCE}


class UserAssignedIdentity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    principalId: str | None = None  # read-only, shown by Azure
    clientId: str | None = None  # read-only, shown by Azure


class Identity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str | None = None
    userAssignedIdentities: dict[str, UserAssignedIdentity] | None = None


class ResourceEnvelope(BaseModel):
    """The resource around `properties`: checked for shape; aibtrigger builds from `properties` only."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    location: str | None = None
    tags: dict[str, str] | None = None
    identity: Identity | None = None


@dataclass
class Pasted:
    """A definition as pasted, made ready for validation."""

    properties: object  # the writable properties (any JSON: validation says what is wrong)
    whole_resource: bool = False
    location: str | None = None  # the resource's location, when it names a concrete one
    resource_id: str | None = None  # the resource's `id`, when it has one
    ignored: list[str] = field(default_factory=list)  # paths (relative to the definition) of read-only fields
    problems: list[tuple[str, str]] = field(default_factory=list)  # (relative path, message)


def is_whole_resource(definition: object) -> bool:
    return (
        isinstance(definition, dict)
        and "source" not in definition
        and any(str(key).lower() == "properties" for key in definition)
    )


def unpaste(definition: object) -> Pasted:
    """Split a pasted definition into its writable properties, the read-only fields left out, and
    problems with the resource around it (unknown resource-level fields, a malformed identity)."""
    if not is_whole_resource(definition):
        return _strip_read_only(Pasted(definition), "")
    assert isinstance(definition, dict)
    pasted, envelope = Pasted(None, whole_resource=True), {}
    for key, value in definition.items():
        field = _RESOURCE_FIELDS.get(str(key).lower())
        if field == "properties":
            pasted.properties = value
        elif field in READ_ONLY_RESOURCE:
            pasted.ignored.append(str(key))
            if field == "id" and isinstance(value, str):
                pasted.resource_id = value
        elif field in WRITABLE_RESOURCE:
            envelope[field] = value
        else:
            pasted.problems.append(
                (
                    key,
                    f"not a field of an image template resource (it has "
                    f"{', '.join(WRITABLE_RESOURCE + READ_ONLY_RESOURCE)})",
                )
            )
    try:
        resource = ResourceEnvelope.model_validate(envelope)
    except ValidationError as exc:
        pasted.problems += [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
    else:
        location = resource.location
        if location and not location.startswith("["):  # "[parameters('location')]": an ARM expression
            pasted.location = location
    return _strip_read_only(pasted, "properties.")


def _strip_read_only(pasted: Pasted, prefix: str) -> Pasted:
    props = pasted.properties
    if not isinstance(props, dict):
        return pasted
    props = dict(props)
    for key in READ_ONLY_PROPERTIES:
        if key in props:
            del props[key]
            pasted.ignored.append(prefix + key)
    source = props.get("source")
    if isinstance(source, dict) and any(key in source for key in READ_ONLY_SOURCE):
        props["source"] = {k: v for k, v in source.items() if k not in READ_ONLY_SOURCE}
        pasted.ignored += [f"{prefix}source.{key}" for key in READ_ONLY_SOURCE if key in source]
    pasted.properties = props
    return pasted
