"""The source catalog port: where source image versions are read (marketplace lists, gallery versions).

Implementations: LocalSources (the local marketplace and gallery in Azurite) and
aibtrigger.adapters.aib.sources.AzureSources (azure-mgmt-compute); both have these two methods.
"""

from __future__ import annotations

from typing import Protocol


class SourceCatalog(Protocol):
    def latest_version(self, location: str, publisher: str, offer: str, sku: str) -> str | None:
        """The newest marketplace version of a platform image (compared numerically), or None."""

    def get_version(self, version_id: str) -> dict | None:
        """A gallery image version document ({id, name, provisioningState, ...}) or None if absent."""


class LocalSources:
    def __init__(self, blob_service) -> None:
        from aibtrigger.adapters.local.gallery import LocalGallery
        from aibtrigger.adapters.local.marketplace import LocalMarketplace

        self.marketplace = LocalMarketplace(blob_service)
        self.gallery = LocalGallery(blob_service)
        self.list_calls = 0  # how many marketplace reads a sweep cost (tests assert on it)

    def latest_version(self, location: str, publisher: str, offer: str, sku: str) -> str | None:
        self.list_calls += 1
        return self.marketplace.latest_version(location, publisher, offer, sku)

    def get_version(self, version_id: str) -> dict | None:
        return self.gallery.get_version(version_id)
