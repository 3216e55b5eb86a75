"""Resolving a template's source the way AIB does at build time, and what the output inherits.

`latest` (platform) or `/versions/latest` (gallery) is resolved when the build starts; the exact
version used is kept (AIB's `source.exactVersion`) and becomes the first entry of the new gallery
version's lineage, followed by the source's own lineage when it is a gallery version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from aibtrigger.adapters.local.gallery import LocalGallery
from aibtrigger.adapters.local.layout import gallery_version_id, split_gallery_id
from aibtrigger.adapters.local.marketplace import LocalMarketplace
from aibtrigger.catalog import ManagedImageSource, PlatformImageSource, SharedImageVersionSource


class SourceError(Exception):
    """The source cannot be used; the message says why, in AIB's terms where it has them."""


@dataclass(frozen=True)
class ResolvedSource:
    ancestor: dict  # {type, id, version, ...}: this source as a lineage entry
    exact_version: str  # AIB's source.exactVersion: a platform version, or a gallery version id
    version: str  # the bare version number (for versioning scheme Source)
    lineage: list[dict] = field(default_factory=list)  # the source itself, then its ancestors
    description: str = ""


def resolve(source, location: str, marketplace: LocalMarketplace, gallery: LocalGallery) -> ResolvedSource:
    if isinstance(source, PlatformImageSource):
        return _resolve_platform(source, location, marketplace)
    if isinstance(source, SharedImageVersionSource):
        return _resolve_gallery(source, gallery)
    if isinstance(source, ManagedImageSource):
        raise SourceError(
            f"source type ManagedImage ({source.imageId}) is not supported by the local backend: "
            "use a PlatformImage or SharedImageVersion source"
        )
    raise SourceError(f"unsupported source type {getattr(source, 'type', source)!r}")


def download(resolved: ResolvedSource, marketplace: LocalMarketplace, gallery: LocalGallery, dest: Path) -> Path:
    ancestor = resolved.ancestor
    if ancestor["type"] == "PlatformImage":
        return marketplace.download(
            ancestor["location"], ancestor["publisher"], ancestor["offer"], ancestor["sku"], ancestor["version"], dest
        )
    return gallery.download(ancestor["id"], dest)


def platform_image_id(location: str, publisher: str, offer: str, sku: str, version: str) -> str:
    """Shaped like Azure's platform image id (without a subscription: the local marketplace has none)."""
    return (
        f"/Providers/Microsoft.Compute/Locations/{location}/Publishers/{publisher}/ArtifactTypes/VMImage/"
        f"Offers/{offer}/Skus/{sku}/Versions/{version}"
    )


def _resolve_platform(source: PlatformImageSource, location: str, marketplace: LocalMarketplace) -> ResolvedSource:
    urn = f"{source.publisher}:{source.offer}:{source.sku}"
    available = marketplace.list_versions(location, source.publisher, source.offer, source.sku)
    if source.tracks_latest:
        if not available:
            raise SourceError(
                f"the platform image {urn}:latest was not found in {location}: "
                "no version is published in the local marketplace"
            )
        version = available[-1]
    elif source.version in available:
        version = source.version
    else:
        raise SourceError(f"the platform image {urn}:{source.version} was not found in {location}")
    ancestor = {
        "type": "PlatformImage",
        "id": platform_image_id(location, source.publisher, source.offer, source.sku, version),
        "version": version,
        "location": location,
        "publisher": source.publisher,
        "offer": source.offer,
        "sku": source.sku,
    }
    return ResolvedSource(
        ancestor,
        exact_version=version,
        version=version,
        lineage=[ancestor],
        description=f"{urn}:{version} ({location})",
    )


def _resolve_gallery(source: SharedImageVersionSource, gallery: LocalGallery) -> ResolvedSource:
    try:
        parts = split_gallery_id(source.imageVersionId)
    except ValueError as exc:
        raise SourceError(str(exc)) from None
    if source.tracks_latest:
        version = gallery.latest_version(source.gallery_image_id)
        if version is None:
            raise SourceError(f"no version of the gallery image {source.gallery_image_id} is available as latest")
    else:
        version = parts["v"]
        if version is None:
            raise SourceError(f"{source.imageVersionId} names no version: not a gallery image version id")
    version_id = gallery_version_id(source.gallery_image_id, version)
    document = gallery.get_version(version_id)
    if not document or document.get("provisioningState") != "Succeeded":
        raise SourceError(f"the gallery image version {version_id} was not found")
    ancestor = {"type": "SharedImageVersion", "id": document["id"], "version": version}
    return ResolvedSource(
        ancestor,
        exact_version=document["id"],
        version=version,
        lineage=[ancestor, *document.get("lineage", [])],
        description=document["id"],
    )
