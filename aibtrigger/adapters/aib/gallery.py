"""Gallery image versions on Azure (azure-mgmt-compute `gallery_image_versions`): read, changed, deleted.

Implements the gallery port (aibtrigger.adapters.gallery.GalleryVersions). A change is one PATCH
carrying only what changes; ARM answers 200 with the version "Updating" and the SDK polls the
operation (Azure-AsyncOperation) to its end, then reads the version back. A PATCH's `tags` replace
the version's tags as a whole (ARM's rule for tags), so merging tags reads them first: two services
tagging the same version at the same instant could lose one tag, which a retry of the tagging heals
(provenance is written once, by the run that made the version).

Errors: a version that does not exist is None (get), a LookupError (update) or nothing (delete);
anything else Azure refuses (403 AuthorizationFailed, 409 while the version replicates, a failed
operation, 429/5xx after azure-core's retries) is a BackendError naming the version and the cause.
"""

from __future__ import annotations

import re
from datetime import datetime

from aibtrigger.adapters.aib.clients import ArmClients
from aibtrigger.adapters.aib.errors import status_of, translate
from aibtrigger.domain.versions import version_key
from aibtrigger.errors import BackendError

_IMAGE = r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Compute/galleries/([^/]+)/images/([^/]+)"
_VERSION_ID = re.compile(_IMAGE + r"/(?:image)?versions/([^/]+)$", re.IGNORECASE)
_IMAGE_ID = re.compile(_IMAGE + r"/?$", re.IGNORECASE)
_GIB = 2**30
# ReplicationStatus.aggregatedState -> the port's replication state.
_AGGREGATED = {"Completed": "Completed", "InProgress": "Replicating", "Failed": "Failed"}
# Seconds between reads of a change's operation when ARM sends no Retry-After (the SDK's default is 30:
# a gallery PATCH takes seconds, and a promotion waits for it).
POLLING_INTERVAL = 5.0


def split_version_id(version_id: str) -> tuple[str, str, str, str, str]:
    """(subscription, resource group, gallery, image, version) of a gallery image version id; accepts
    the `/imageversions/` spelling of AIB's 2025-10-01 run outputs."""
    match = _VERSION_ID.match(version_id or "")
    if not match:
        raise BackendError(f"not a gallery image version id: {version_id!r}")
    return match.groups()  # type: ignore[return-value]


def version_document(found, version_id: str = "") -> dict:
    """The port's version document from ARM's GalleryImageVersion (the SDK model is a Mapping of the
    wire's field names). `replication` is "Unknown" unless read with $expand=ReplicationStatus."""
    props = found.get("properties") or {}
    profile = props.get("publishingProfile") or {}
    storage = props.get("storageProfile") or {}
    status = props.get("replicationStatus") or {}
    disks = [storage.get("osDiskImage") or {}, *(storage.get("dataDiskImages") or [])]
    sizes = [disk.get("sizeInGB") for disk in disks if disk.get("sizeInGB") is not None]
    return {
        "id": found.get("id") or version_id,
        "name": found.get("name") or version_id.rsplit("/", 1)[-1],
        "provisioningState": props.get("provisioningState"),
        "excludeFromLatest": bool(profile.get("excludeFromLatest")),
        "publishedDate": _text(profile.get("publishedDate")),
        "endOfLifeDate": _text(profile.get("endOfLifeDate")),
        "tags": dict(found.get("tags") or {}),
        "sizeBytes": sum(sizes) * _GIB if sizes else None,
        "replication": {
            "state": _AGGREGATED.get(status.get("aggregatedState") or "", "Unknown"),
            "regions": {item.get("region"): item.get("state") for item in status.get("summary") or ()},
        },
    }


class AzureGallery:
    def __init__(
        self,
        *,
        credential=None,
        arm_endpoint: str | None = None,
        client_options: dict | None = None,
        clients: ArmClients | None = None,
        polling_interval: float = POLLING_INTERVAL,
    ) -> None:
        """Either credential (+ arm_endpoint, client_options) or a shared ArmClients. The versions'
        subscriptions come from their ids."""
        if clients is None and credential is None:
            raise TypeError("AzureGallery needs a credential (or clients)")
        self._clients = clients or ArmClients(credential, arm_endpoint=arm_endpoint, options=client_options)
        self._polling_interval = polling_interval

    def _versions(self, subscription: str):
        return self._clients.compute(subscription).gallery_image_versions

    def get_version(self, version_id: str) -> dict | None:
        from azure.core.exceptions import AzureError

        subscription, group, gallery, image, version = split_version_id(version_id)
        try:
            found = self._versions(subscription).get(group, gallery, image, version, expand="ReplicationStatus")
        except AzureError as exc:
            if status_of(exc) == 404:
                return None
            raise _failure(exc, f"read gallery image version {version_id}") from exc
        return version_document(found, version_id)

    def list_versions(self, gallery_image_id: str) -> list[dict]:
        """Every version, oldest first by number (ARM's order is unpublished); none for a missing image."""
        from azure.core.exceptions import AzureError

        match = _IMAGE_ID.match(gallery_image_id or "")
        if not match:
            raise BackendError(f"not a gallery image id: {gallery_image_id!r}")
        subscription, group, gallery, image = match.groups()
        try:
            found = [
                version_document(item)
                for item in self._versions(subscription).list_by_gallery_image(group, gallery, image)
            ]
        except AzureError as exc:
            if status_of(exc) == 404:
                return []
            raise _failure(exc, f"list the versions of gallery image {gallery_image_id}") from exc
        return sorted(found, key=lambda document: version_key(document["name"] or ""))

    def update_version(
        self,
        version_id: str,
        *,
        exclude_from_latest: bool | None = None,
        end_of_life: datetime | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict:
        from azure.core.exceptions import AzureError
        from azure.mgmt.compute.models import GalleryImageVersionUpdate

        subscription, group, gallery, image, version = split_version_id(version_id)
        profile: dict = {}
        if exclude_from_latest is not None:
            profile["excludeFromLatest"] = bool(exclude_from_latest)
        if end_of_life is not None:
            profile["endOfLifeDate"] = _iso(end_of_life)
        change: dict = {"properties": {"publishingProfile": profile}} if profile else {}
        if tags is not None:
            current = self.get_version(version_id)
            if current is None:
                raise LookupError(f"gallery image version {version_id} not found")
            change["tags"] = {**current["tags"], **tags}
        if not change:
            found = self.get_version(version_id)
            if found is None:
                raise LookupError(f"gallery image version {version_id} not found")
            return found
        try:
            poller = self._versions(subscription).begin_update(
                group,
                gallery,
                image,
                version,
                GalleryImageVersionUpdate(change),
                polling_interval=self._polling_interval,
            )
            updated = poller.result()
        except AzureError as exc:
            if status_of(exc) == 404:
                raise LookupError(f"gallery image version {version_id} not found") from None
            raise _failure(exc, f"update gallery image version {version_id}") from exc
        return version_document(updated, version_id)

    def replicate(self, version_id: str) -> dict:
        """PATCH `publishingProfile.targetRegions` with the regions the version already lists: Azure
        replicates again where it failed. Returns once accepted (the replication's own operation lasts
        as long as the copies take: not waited for)."""
        from azure.core.exceptions import AzureError
        from azure.mgmt.compute.models import GalleryImageVersionUpdate

        subscription, group, gallery, image, version = split_version_id(version_id)
        versions = self._versions(subscription)
        try:
            found = versions.get(group, gallery, image, version)
            regions = ((found.get("properties") or {}).get("publishingProfile") or {}).get("targetRegions") or []
            if not regions:
                raise BackendError(f"gallery image version {version_id} lists no target regions to replicate to")
            change = {"properties": {"publishingProfile": {"targetRegions": [_plain(r) for r in regions]}}}
            versions.begin_update(group, gallery, image, version, GalleryImageVersionUpdate(change), polling=False)
        except AzureError as exc:
            if status_of(exc) == 404:
                raise LookupError(f"gallery image version {version_id} not found") from None
            raise _failure(exc, f"replicate gallery image version {version_id} again") from exc
        return self.get_version(version_id) or {}

    def delete_version(self, version_id: str) -> None:
        from azure.core.exceptions import AzureError

        subscription, group, gallery, image, version = split_version_id(version_id)
        try:
            self._versions(subscription).begin_delete(
                group, gallery, image, version, polling_interval=self._polling_interval
            ).result()
        except AzureError as exc:
            if status_of(exc) == 404:
                return  # already gone
            raise _failure(exc, f"delete gallery image version {version_id}") from exc


def _failure(exc: BaseException, what: str) -> BackendError:
    """translate()'s message (the code and message Azure gave, the role hint on a 401/403), as a plain
    BackendError: its build-specific kinds (a build already active, a missing template) say nothing
    true about a gallery version."""
    error = translate(exc, what)
    return error if type(error) is BackendError else BackendError(str(error))


def _plain(value):
    """An SDK model (a Mapping of wire names) as plain JSON data, to send back as it came."""
    if hasattr(value, "items"):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _iso(moment: datetime) -> str:
    from datetime import UTC

    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _text(value) -> str | None:
    """Dates as ISO text whichever way the SDK hands them over (text on the wire, datetime on a model)."""
    if value is None or isinstance(value, str):
        return value
    return _iso(value)
