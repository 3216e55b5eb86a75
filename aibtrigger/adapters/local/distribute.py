"""Distribution: the customized image becomes a gallery version, or a stored managed image / VHD.

Gallery versioning (AIB's `versioning`):
  Latest (the default here, also when `versioning` is absent): the next patch of the highest version
    whose major is `versioning.major`, or, without a major, of the highest version overall;
    the first version of an image is <major or 1>.0.0.
  Source: the source version's numbers as they are (22.04.202410020, or a parent's 1.0.3); refused
    unless they are exactly three non-negative int32 parts, as gallery versions must be.
"""

from __future__ import annotations

from aibtrigger.adapters.local.capture import Artifact
from aibtrigger.adapters.local.gallery import LocalGallery
from aibtrigger.adapters.local.layout import IMAGES_CONTAINER, container
from aibtrigger.adapters.local.sources import ResolvedSource
from aibtrigger.adapters.local.state import run_output
from aibtrigger.catalog import ManagedImageDistributor, SharedImageDistributor, Versioning

_INT32 = 2**31 - 1


class DistributeError(Exception):
    """One target could not be written."""


def next_gallery_version(existing: list[str], versioning: Versioning | None, source_version: str) -> str:
    if versioning is not None and versioning.scheme == "Source":
        parts = source_version.split(".")
        if len(parts) != 3 or not all(p.isdigit() and int(p) <= _INT32 for p in parts):
            raise DistributeError(
                f"versioning scheme Source: the source version {source_version!r} is not a "
                "valid gallery image version (Major.Minor.Patch, 32-bit integers)"
            )
        return source_version
    numeric = [
        tuple(int(p) for p in v.split("."))
        for v in existing
        if len(v.split(".")) == 3 and all(p.isdigit() for p in v.split("."))
    ]
    asked = versioning.major if versioning is not None else None
    major = asked if asked is not None and asked >= 0 else max((v[0] for v in numeric), default=1)  # -1: unset
    same_major = [v for v in numeric if v[0] == major]
    if not same_major:
        return f"{major}.0.0"
    top = max(same_major)
    return f"{top[0]}.{top[1]}.{top[2] + 1}"


class Distributor:
    def __init__(
        self,
        blob_service,
        gallery: LocalGallery,
        *,
        template: str,
        build_id: str,
        source: ResolvedSource,
        provenance: dict | None = None,
    ):
        self._provenance = provenance or {}
        self._service = blob_service
        self._gallery = gallery
        self._template = template
        self._build_id = build_id
        self._source = source

    def distribute(self, target, artifacts: list[Artifact]) -> dict:
        """Write one target and return its runOutput (AIB shape). artifacts[0] is the rootfs
        tarball; a raw disk image may follow (gallery versions hold both)."""
        if isinstance(target, SharedImageDistributor):
            return run_output(target.runOutputName, artifact_id=self._to_gallery(target, artifacts))
        uri = self._store_image(target.runOutputName, artifacts[0].path)
        artifact_id = target.imageId if isinstance(target, ManagedImageDistributor) else None
        return run_output(target.runOutputName, artifact_id=artifact_id, artifact_uri=uri)

    def _to_gallery(self, target: SharedImageDistributor, artifacts: list[Artifact]) -> str:
        metadata = {
            "template": self._template,
            "buildId": self._build_id,
            "excludeFromLatest": bool(target.excludeFromLatest),
            "artifactTags": target.artifactTags or {},
            "targetRegions": [region.model_dump(exclude_none=True) for region in target.targetRegions or ()],
            "source": {
                "type": self._source.ancestor["type"],
                "id": self._source.ancestor["id"],
                "version": self._source.ancestor["version"],
                "exactVersion": self._source.exact_version,
            },
            "lineage": self._source.lineage,
            "artifacts": [a.describe() for a in artifacts],
            "tags": {**(target.artifactTags or {}), **self._provenance_tags()},
        }
        image = target.gallery_image  # a galleryImageId may name the version to create: .../versions/1.0.0
        for _ in range(5):  # another writer may take the number we computed: compute again
            existing = self._gallery.version_names(image, include_pending=True)
            version = target.requested_version or next_gallery_version(
                existing, target.versioning, self._source.version
            )
            try:
                return self._gallery.create_version(
                    image, version, artifacts[0].path, metadata, extra_files={a.name: a.path for a in artifacts[1:]}
                )
            except FileExistsError as exc:
                if target.requested_version or (target.versioning is not None and target.versioning.scheme == "Source"):
                    raise DistributeError(str(exc)) from None
        raise DistributeError(f"could not reserve a new version of {image}")

    def _provenance_tags(self) -> dict[str, str]:
        """As AIB's artifactTags become the version's tags: what the service asked this run to tag."""
        from aibtrigger.domain.provenance import provenance_tags, with_exact_source

        if not self._provenance:
            return {}
        return provenance_tags(with_exact_source(self._provenance, self._source.exact_version))

    def _store_image(self, run_output_name: str, artifact) -> str:
        """ManagedImage and VHD targets: the artifact in `local-images`; its URL is the artifactUri."""
        images = container(self._service, IMAGES_CONTAINER)
        blob = images.get_blob_client(f"{self._template}/{self._build_id}/{run_output_name}.tar.gz")
        with open(artifact, "rb") as handle:
            blob.upload_blob(handle, overwrite=True)
        return blob.url.split("?", 1)[0]
