"""The gallery port: the image versions the service's templates distribute to, read and changed.

What promotion (excludeFromLatest), provenance (tags), retirement (endOfLifeDate) and retention
(delete) need from an Azure Compute Gallery. Implementations: LocalGallery (the local gallery in
Azurite), aibtrigger.adapters.aib.gallery.AzureGallery (azure-mgmt-compute), and the in-memory
fake of the tests; tests/contract/test_gallery_contract.py runs the same suite against each.

Distribution-only recovery (service_layer.distribution) asks it to replicate a version again.

A version document (what get_version and list_versions return) has at least:
    id, name, provisioningState ("Creating", "Updating", "Succeeded", "Failed", "Deleting"),
    excludeFromLatest (bool), publishedDate (ISO 8601 or None), endOfLifeDate (ISO 8601 or None),
    tags (dict), sizeBytes (int or None: the storage it holds, for `prune`),
    replication: {"state": "Completed" | "Replicating" | "Failed" | "Unknown", "regions": {name: state}}
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class GalleryVersions(Protocol):
    def get_version(self, version_id: str) -> dict | None:
        """The version's document, or None when it does not exist."""

    def list_versions(self, gallery_image_id: str) -> list[dict]:
        """Every version of the image (any provisioning state), oldest first by version number."""

    def update_version(
        self,
        version_id: str,
        *,
        exclude_from_latest: bool | None = None,
        end_of_life: datetime | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict:
        """Change what is given (tags are merged into the existing ones) and return the new document.
        The version must exist (LookupError otherwise); a refusal raises BackendError naming why."""

    def delete_version(self, version_id: str) -> None:
        """Delete the version; a version already gone is not an error."""

    def replicate(self, version_id: str) -> dict:
        """Replicate the version again to the target regions it names (after a failed replication) and
        return its document, replication under way. Returns once the gallery accepted the request,
        without waiting for the copies. Azure: a PATCH of `publishingProfile.targetRegions` with the
        regions the version already lists re-runs the failed regions (the gallery's own advice when
        that does not help: remove the failed regions, then add them back); the local gallery copies
        again at once. The version must exist (LookupError otherwise); a refusal raises BackendError."""
