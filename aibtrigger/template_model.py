"""An image template's `properties`, as the AIB API defines them (2022-07-01 .. 2025-10-01).

Every writable property of the API is here (azure-mgmt-imagebuilder 2.0.0 models, REST spec
`models.tsp`); field names are case-sensitive, as they are from API 2024-02-01 on. Read-only
properties (`provisioningState`, `source.exactVersion`, ...) never reach these models: template_paste
removes them first and notes them. Rules that span fields (exactly one of inline/scriptUri, unique
runOutputName, ...) live in template_rules, one named function each.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

RUN_OUTPUT_NAME = r"^[A-Za-z0-9-_.]{1,64}$"
# A gallery image, optionally with the version to create (`.../images/<image>/versions/1.0.0`).
GALLERY_IMAGE_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+/images/[^/]+"
    r"(?:/versions/[^/]+)?$",
    re.IGNORECASE,
)
_VERSION_PART = re.compile(r"/(?:image)?versions/", re.IGNORECASE)
OnBuildError = Literal["cleanup", "abort"]
EnabledState = Literal["Enabled", "Disabled"]
StorageAccountType = Literal["Standard_LRS", "Standard_ZRS", "Premium_LRS"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- source -------------------------------------------------------------------------------------
class PlanInfo(_Strict):
    planName: str
    planProduct: str
    planPublisher: str


class PlatformImageSource(_Strict):
    type: Literal["PlatformImage"]
    publisher: str
    offer: str
    sku: str
    version: str = "latest"
    planInfo: PlanInfo | None = None

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
        return _VERSION_PART.split(self.imageVersionId)[0]


class ManagedImageSource(_Strict):
    type: Literal["ManagedImage"]
    imageId: str


Source = Annotated[PlatformImageSource | SharedImageVersionSource | ManagedImageSource, Field(discriminator="type")]


# --- customizers and validators (the same shapes serve both) ---------------------------------------
class ShellCustomizer(_Strict):
    type: Literal["Shell"]
    name: str | None = None
    inline: list[str] | None = None
    scriptUri: str | None = None
    sha256Checksum: str | None = None


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
    updateLimit: int | None = Field(default=None, ge=0)


Customizer = Annotated[
    ShellCustomizer | FileCustomizer | PowerShellCustomizer | WindowsRestartCustomizer | WindowsUpdateCustomizer,
    Field(discriminator="type"),
]
Validator = Annotated[ShellCustomizer | FileCustomizer | PowerShellCustomizer, Field(discriminator="type")]


class Validation(_Strict):
    continueDistributeOnFailure: bool = False
    sourceValidationOnly: bool = False
    inVMValidations: list[Validator] = Field(default_factory=list)


class VmBootOptimization(_Strict):
    state: EnabledState | None = None


class WorkloadOptimization(_Strict):
    state: EnabledState | None = None
    scriptUri: str | None = None
    sha256Checksum: str | None = None


class Optimize(_Strict):
    vmBoot: VmBootOptimization | None = None
    workload: WorkloadOptimization | None = None


class ErrorHandling(_Strict):
    onCustomizerError: OnBuildError | None = None
    onValidationError: OnBuildError | None = None


class AutoRun(_Strict):
    state: EnabledState | None = None


# --- the build VM ---------------------------------------------------------------------------------
class VnetConfig(_Strict):
    subnetId: str | None = None
    containerInstanceSubnetId: str | None = None
    proxyVmSize: str | None = None


class VmProfile(_Strict):
    vmSize: str | None = None
    osDiskSizeGB: int | None = Field(default=None, ge=0)
    userAssignedIdentities: list[str] | None = None
    vnetConfig: VnetConfig | None = None


class DataDisk(_Strict):
    sizeGB: int | None = Field(default=None, ge=0)


# --- distribution ---------------------------------------------------------------------------------
class Versioning(_Strict):
    scheme: Literal["Latest", "Source"]
    major: int | None = Field(default=None, ge=-1)  # Latest only; -1 is the same as unset


class TargetRegion(_Strict):
    name: str
    replicaCount: int | None = Field(default=None, ge=1)
    storageAccountType: StorageAccountType | None = None


class SharedImageDistributor(_Strict):
    type: Literal["SharedImage"]
    galleryImageId: str
    runOutputName: str = Field(pattern=RUN_OUTPUT_NAME)
    artifactTags: dict[str, str] | None = None
    targetRegions: list[TargetRegion] | None = None
    replicationRegions: list[str] | None = None  # deprecated by the API, still accepted
    storageAccountType: StorageAccountType | None = None  # deprecated, with replicationRegions
    versioning: Versioning | None = None
    excludeFromLatest: bool | None = None
    replicationMode: Literal["Full", "Shallow"] | None = None

    @field_validator("galleryImageId")
    @classmethod
    def _gallery_image_id(cls, value: str) -> str:
        if not GALLERY_IMAGE_ID.match(value):
            raise ValueError(
                "must look like /subscriptions/<s>/resourceGroups/<rg>/providers/"
                "Microsoft.Compute/galleries/<gallery>/images/<image>[/versions/<version>]"
            )
        return value

    @property
    def gallery_image(self) -> str:
        """The gallery image written to, without the `/versions/<v>` a template may name."""
        return _VERSION_PART.split(self.galleryImageId)[0]

    @property
    def requested_version(self) -> str | None:
        """The version the template asks AIB to create (`.../versions/1.0.0`), if it names one."""
        parts = _VERSION_PART.split(self.galleryImageId)
        return parts[1] if len(parts) > 1 else None


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


Distributor = Annotated[SharedImageDistributor | ManagedImageDistributor | VhdDistributor, Field(discriminator="type")]


class TemplateDefinition(_Strict):
    """An AIB image template's writable `properties`."""

    source: Source
    customize: list[Customizer] = Field(default_factory=list)
    optimize: Optimize | None = None
    validate_: Validation | None = Field(default=None, alias="validate")
    distribute: list[Distributor] = Field(min_length=1)
    errorHandling: ErrorHandling | None = None
    buildTimeoutInMinutes: int = Field(default=0, ge=0, le=960)
    vmProfile: VmProfile | None = None
    additionalDataDisks: list[DataDisk] | None = None
    stagingResourceGroup: str | None = None
    autoRun: AutoRun | None = None
    managedResourceTags: dict[str, str] | None = None

    @property
    def timeout_minutes(self) -> int:
        """AIB reads 0 as its default of 240 minutes."""
        return self.buildTimeoutInMinutes or 240
