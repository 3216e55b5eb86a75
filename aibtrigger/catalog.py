"""The catalog: the only templates the service may ever build, with their definitions and policies.

A YAML (or JSON) file, validated here so that a bad entry is reported with its position and field.
`definition` has the schema of an AIB image template resource's `properties` (API 2024-02-01 and on:
field names are case-sensitive), so a definition can be pasted from `az image builder show`.
"""
from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aibtrigger.errors import CatalogError

TEMPLATE_NAME = r"^[a-z0-9][a-z0-9-]{0,62}$"
RUN_OUTPUT_NAME = r"^[A-Za-z0-9-_.]{1,64}$"
GALLERY_IMAGE_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+$",
    re.IGNORECASE,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- source -------------------------------------------------------------------------------------
class PlatformImageSource(_Strict):
    type: Literal["PlatformImage"]
    publisher: str
    offer: str
    sku: str
    version: str = "latest"
    planInfo: dict | None = None

    @property
    def tracks_latest(self) -> bool:
        return self.version.lower() == "latest"


class SharedImageVersionSource(_Strict):
    type: Literal["SharedImageVersion"]
    imageVersionId: str

    @property
    def tracks_latest(self) -> bool:
        return self.imageVersionId.lower().endswith("/versions/latest")

    @property
    def gallery_image_id(self) -> str:
        """The gallery image this version belongs to (the id without `/versions/...`)."""
        return re.split(r"/(?:image)?versions/", self.imageVersionId, flags=re.IGNORECASE)[0]


class ManagedImageSource(_Strict):
    type: Literal["ManagedImage"]
    imageId: str


Source = Annotated[Union[PlatformImageSource, SharedImageVersionSource, ManagedImageSource],
                   Field(discriminator="type")]


# --- customizers and validators ------------------------------------------------------------------
class ShellCustomizer(_Strict):
    type: Literal["Shell"]
    name: str | None = None
    inline: list[str] | None = None
    scriptUri: str | None = None
    sha256Checksum: str | None = None

    @model_validator(mode="after")
    def _one_of_inline_or_uri(self):
        if bool(self.inline) == bool(self.scriptUri):
            raise ValueError("a Shell step needs exactly one of 'inline' or 'scriptUri'")
        return self


class FileCustomizer(_Strict):
    type: Literal["File"]
    name: str | None = None
    sourceUri: str
    destination: str
    sha256Checksum: str | None = None


class PowerShellCustomizer(_Strict):
    type: Literal["PowerShell"]
    name: str | None = None
    inline: list[str] | None = None
    scriptUri: str | None = None
    sha256Checksum: str | None = None
    runElevated: bool | None = None
    runAsSystem: bool | None = None
    validExitCodes: list[int] | None = None


class WindowsRestartCustomizer(_Strict):
    type: Literal["WindowsRestart"]
    name: str | None = None
    restartCommand: str | None = None
    restartCheckCommand: str | None = None
    restartTimeout: str | None = None


class WindowsUpdateCustomizer(_Strict):
    type: Literal["WindowsUpdate"]
    name: str | None = None
    searchCriteria: str | None = None
    filters: list[str] | None = None
    updateLimit: int | None = None


Customizer = Annotated[
    Union[ShellCustomizer, FileCustomizer, PowerShellCustomizer, WindowsRestartCustomizer, WindowsUpdateCustomizer],
    Field(discriminator="type"),
]
Validator = Annotated[Union[ShellCustomizer, FileCustomizer, PowerShellCustomizer], Field(discriminator="type")]


class Validation(_Strict):
    continueDistributeOnFailure: bool = False
    sourceValidationOnly: bool = False
    inVMValidations: list[Validator] = Field(default_factory=list)


# --- distribution ---------------------------------------------------------------------------------
class Versioning(_Strict):
    scheme: Literal["Latest", "Source"]
    major: int | None = None


class SharedImageDistributor(_Strict):
    type: Literal["SharedImage"]
    galleryImageId: str
    runOutputName: str = Field(pattern=RUN_OUTPUT_NAME)
    artifactTags: dict[str, str] | None = None
    targetRegions: list[dict] | None = None
    replicationRegions: list[str] | None = None
    versioning: Versioning | None = None
    excludeFromLatest: bool | None = None

    @field_validator("galleryImageId")
    @classmethod
    def _gallery_image_id(cls, value: str) -> str:
        if not GALLERY_IMAGE_ID.match(value):
            raise ValueError("must look like /subscriptions/<s>/resourceGroups/<rg>/providers/"
                             "Microsoft.Compute/galleries/<gallery>/images/<image>")
        return value


class ManagedImageDistributor(_Strict):
    type: Literal["ManagedImage"]
    imageId: str
    location: str
    runOutputName: str = Field(pattern=RUN_OUTPUT_NAME)
    artifactTags: dict[str, str] | None = None


class VhdDistributor(_Strict):
    type: Literal["VHD"]
    runOutputName: str = Field(pattern=RUN_OUTPUT_NAME)
    uri: str | None = None
    artifactTags: dict[str, str] | None = None


Distributor = Annotated[Union[SharedImageDistributor, ManagedImageDistributor, VhdDistributor],
                        Field(discriminator="type")]


class TemplateDefinition(_Strict):
    """An AIB image template's `properties`."""

    source: Source
    customize: list[Customizer] = Field(default_factory=list)
    validate_: Validation | None = Field(default=None, alias="validate")
    distribute: list[Distributor] = Field(min_length=1)
    buildTimeoutInMinutes: int = Field(default=0, ge=0, le=960)
    vmProfile: dict | None = None
    stagingResourceGroup: str | None = None
    errorHandling: dict | None = None
    optimize: dict | None = None
    autoRun: dict | None = None

    @property
    def timeout_minutes(self) -> int:
        """AIB reads 0 as its default of 240 minutes."""
        return self.buildTimeoutInMinutes or 240


# --- catalog entries --------------------------------------------------------------------------------
class MaintenanceWindow(_Strict):
    """When builds may start; semantics in aibtrigger.domain.schedule (wraps past midnight, IANA timezone)."""

    days: list[str] | None = None  # Mon..Sun (or full names); omitted: every day
    start: str  # "HH:MM", local time in `timezone`
    end: str  # "HH:MM"; earlier than start: the window ends the next day; "24:00": midnight
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _valid_window(self):
        from aibtrigger.domain.schedule import parse_window

        parse_window(self)  # ValueError names the bad day, time or zone
        return self


class Policy(_Strict):
    """When and how a template is rebuilt, beyond 'its source changed'."""

    paused: bool = False
    schedule: str | None = None  # 6-field NCRONTAB, seconds first, UTC: "0 0 3 * * Sun"
    only_if_changed: bool = False  # with a schedule: build at a tick only if its lineage has a newer version
    maintenance_window: MaintenanceWindow | None = None
    max_consecutive_failures: int = Field(default=5, ge=0)  # auto-disable after N; 0: never

    @field_validator("schedule")
    @classmethod
    def _ncrontab(cls, value: str | None) -> str | None:
        from aibtrigger.domain.schedule import parse_schedule

        return None if value is None else parse_schedule(value).expression

    @model_validator(mode="after")
    def _only_if_changed_needs_a_schedule(self):
        if self.only_if_changed and not self.schedule:
            raise ValueError("only_if_changed needs a schedule: such a template builds at its scheduled ticks only")
        return self


class TemplateEntry(_Strict):
    name: str = Field(pattern=TEMPLATE_NAME)
    location: str = "westeurope"
    definition: TemplateDefinition | None = None
    resource_id: str | None = None  # the image template in Azure, for the aib backend
    policy: Policy = Field(default_factory=Policy)

    @model_validator(mode="after")
    def _has_something_to_build(self):
        if self.definition is None and self.resource_id is None:
            raise ValueError("an entry needs a 'definition' (local backend) or a 'resource_id' (aib backend)")
        return self


class Catalog(_Strict):
    templates: list[TemplateEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self):
        seen: set[str] = set()
        for index, entry in enumerate(self.templates):
            if entry.name in seen:
                raise ValueError(f"templates[{index}]: duplicate template name {entry.name!r}")
            seen.add(entry.name)
        return self

    @cached_property
    def by_name(self) -> dict[str, TemplateEntry]:
        return {entry.name: entry for entry in self.templates}

    def get(self, name: str) -> TemplateEntry:
        """The entry called `name`; raises UnknownTemplateError when the catalog has none."""
        from aibtrigger.errors import UnknownTemplateError

        try:
            return self.by_name[name]
        except KeyError:
            raise UnknownTemplateError(f"template {name!r} is not in the catalog") from None

    def __contains__(self, name: object) -> bool:
        return name in self.by_name


def parse_catalog(data: object, *, origin: str = "catalog") -> Catalog:
    """Validate a loaded document; errors name the entry (by position and name) and the field."""
    from aibtrigger.domain.lineage import validate_lineage

    try:
        catalog = Catalog.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{origin} is invalid:\n" + "\n".join(_describe(e, data) for e in exc.errors())) from None
    try:
        validate_lineage(catalog)
    except CatalogError as exc:
        raise CatalogError(f"{origin} is invalid:\n  templates: {exc}") from None
    return catalog


def load_catalog(path: str | Path) -> Catalog:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {path}: {exc.strerror}") from None
    if path.suffix.lower() == ".json":
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogError(f"{path} is not valid JSON: {exc}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CatalogError(f"{path} is not valid YAML: {exc}") from None
    return parse_catalog(data, origin=str(path))


def _describe(error: dict, data: object) -> str:
    loc = list(error["loc"])
    parts: list[str] = []
    node = data
    for key in loc:
        if isinstance(key, int):
            parts[-1:] = [f"{parts[-1] if parts else ''}[{key}]"]
            node = node[key] if isinstance(node, list) and key < len(node) else None
            if isinstance(node, dict) and "name" in node and len(parts) == 1:
                parts[-1] += f" ({node['name']})"
        else:
            # pydantic puts the discriminator tag in the path: it is the type, not a field.
            if isinstance(node, dict) and key not in node and key == node.get("type"):
                continue
            parts.append(str(key))
            node = node.get(key) if isinstance(node, dict) else None
    return f"  {'.'.join(parts) or '<root>'}: {error['msg']}"
