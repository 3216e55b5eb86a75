"""The local Azure Compute Gallery: image versions as artifacts plus a version.json in blob storage.

A version is created the way Azure shows it: version.json first appears with provisioningState
"Creating" (written if-none-match, which also reserves the version number against a concurrent
writer), then the artifact is uploaded, then version.json turns "Succeeded". Readers count only
Succeeded versions, so none is ever seen as usable without its artifact.

Changes (promotion, provenance tags, end of life) rewrite version.json conditionally on its ETag, so
two writers never lose each other's change; its blob metadata (what latest_version lists) is written
with it. A deletion turns the version "Deleting" first, then removes the files, then version.json: a
crash in between leaves a version nobody uses, which the next delete finishes. Implements the gallery
port (aibtrigger.adapters.gallery.GalleryVersions).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from aibtrigger.adapters.local.events import gallery_version_written, post_events
from aibtrigger.adapters.local.layout import (
    GALLERY_CONTAINER,
    container,
    format_time,
    gallery_prefix,
    gallery_version_id,
    safe_segment,
    split_gallery_id,
    utc_now,
)
from aibtrigger.domain.versions import version_key
from aibtrigger.errors import BackendError

_META = "version.json"
_ARTIFACT = "image.tar.gz"
_WRITE_ATTEMPTS = 8  # conditional rewrites of version.json lost to other writers before giving up


class LocalGallery:
    def __init__(self, blob_service, *, event_webhook: str | None = None):
        self._container = container(blob_service, GALLERY_CONTAINER)
        self._event_webhook = event_webhook

    def create_version(
        self,
        gallery_image_id: str,
        version: str,
        artifact_path: Path,
        metadata: dict,
        *,
        extra_files: dict[str, Path] | None = None,
    ) -> str:
        """Store a new version (artifact, extra files by name, metadata) and return its id. Raises
        FileExistsError when the version exists already (Azure refuses to overwrite one too)."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceExistsError

        version_id = gallery_version_id(gallery_image_id, safe_segment(version, "version"))
        folder = gallery_prefix(gallery_image_id) + version + "/"
        files = {_ARTIFACT: artifact_path, **(extra_files or {})}
        document = {
            **metadata,
            "id": version_id,
            "name": version,
            "provisioningState": "Creating",
            "publishedDate": utc_now(),
            "excludeFromLatest": bool(metadata.get("excludeFromLatest")),
            "sizeBytes": sum(Path(path).stat().st_size for path in files.values()),
        }
        meta_blob = self._container.get_blob_client(folder + _META)
        try:
            reserved = meta_blob.upload_blob(
                json.dumps(document, indent=2), overwrite=False, metadata=_blob_metadata(document)
            )
        except ResourceExistsError:
            raise FileExistsError(f"gallery image version {version_id} already exists") from None
        try:
            for name, path in files.items():
                with open(path, "rb") as handle:
                    self._container.upload_blob(folder + safe_segment(name, "file name"), handle, overwrite=True)
        except BaseException:
            meta_blob.delete_blob()  # give the number back: nothing was published
            raise
        document.update(provisioningState="Succeeded", publishedDate=utc_now())
        meta_blob.upload_blob(
            json.dumps(document, indent=2),
            overwrite=True,
            metadata=_blob_metadata(document),
            etag=reserved["etag"],
            match_condition=MatchConditions.IfNotModified,
        )
        if self._event_webhook:
            post_events(self._event_webhook, [gallery_version_written(version_id)])
        return version_id

    def get_version(self, version_id: str) -> dict | None:
        """The version's document (the port's fields, plus source, lineage, targetRegions, ...) or None."""
        found = self._read(version_id)
        return _with_port_fields(found[0]) if found else None

    def list_versions(self, gallery_image_id: str) -> list[dict]:
        """Every version's document, whatever its state, oldest first by version number."""
        found = (
            self.get_version(gallery_version_id(gallery_image_id, name)) for name, _, _ in self._scan(gallery_image_id)
        )
        return [document for document in found if document is not None]  # one deleted since the listing: gone

    def version_names(self, gallery_image_id: str, *, include_pending: bool = False) -> list[str]:
        """Succeeded version names, oldest first by numeric order; include_pending adds versions
        still being created or deleted (or left behind by a crash), which still occupy their number."""
        return [name for name, state, _ in self._scan(gallery_image_id) if include_pending or state == "Succeeded"]

    def update_version(
        self,
        version_id: str,
        *,
        exclude_from_latest: bool | None = None,
        end_of_life: datetime | None = None,
        tags: dict[str, str] | None = None,
    ) -> dict:
        """Change what is given (tags merged into the existing ones), as Azure's PATCH does, and post
        the ResourceWriteSuccess event Azure sends for it. LookupError when the version does not exist;
        BackendError while it is being created or deleted (Azure refuses those with a 409)."""
        change: dict = {}
        if exclude_from_latest is not None:
            change["excludeFromLatest"] = bool(exclude_from_latest)
        if end_of_life is not None:
            change["endOfLifeDate"] = format_time(end_of_life)

        def edit(document: dict) -> dict:
            if document.get("provisioningState") != "Succeeded":
                raise BackendError(
                    f"update gallery image version {version_id}: it is {document.get('provisioningState')}"
                )
            merged = {**(document.get("tags") or {}), **(tags or {})}
            return {**document, **change, **({"tags": merged} if tags is not None else {})}

        document = self._rewrite(version_id, edit)
        if document is None:
            raise LookupError(f"gallery image version {version_id} not found")
        if self._event_webhook:
            post_events(self._event_webhook, [gallery_version_written(document["id"])])
        return _with_port_fields(document)

    def replicate(self, version_id: str) -> dict:
        """Locally every region holds the one copy in Azurite: replicating again is complete at once."""
        found = self._read(version_id)
        if found is None:
            raise LookupError(f"gallery image version {version_id} not found")
        return _with_port_fields(found[0])

    def delete_version(self, version_id: str) -> None:
        """Remove the version (its files, then version.json); a version already gone is not an error."""
        from azure.core.exceptions import ResourceNotFoundError

        if self._rewrite(version_id, lambda document: {**document, "provisioningState": "Deleting"}) is None:
            return
        folder = _folder_of(version_id)
        for blob in self._container.list_blobs(name_starts_with=folder):
            if blob.name != folder + _META:
                try:
                    self._container.delete_blob(blob.name)
                except ResourceNotFoundError:
                    pass  # a concurrent delete took it
        try:
            self._container.delete_blob(folder + _META)
        except ResourceNotFoundError:
            pass

    def _read(self, version_id: str) -> tuple[dict, str] | None:
        """(version.json, its ETag), or None when the version does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            blob = self._container.download_blob(_folder_of(version_id) + _META)
        except ResourceNotFoundError:
            return None
        return json.loads(blob.readall()), blob.properties.etag

    def _rewrite(self, version_id: str, edit) -> dict | None:
        """Write edit(version.json) if nobody wrote it since it was read (else read again and redo);
        the written document, or None when the version does not exist."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

        for _ in range(_WRITE_ATTEMPTS):
            found = self._read(version_id)
            if found is None:
                return None
            document = edit(found[0])
            try:
                self._container.get_blob_client(_folder_of(version_id) + _META).upload_blob(
                    json.dumps(document, indent=2),
                    overwrite=True,
                    metadata=_blob_metadata(document),
                    etag=found[1],
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue  # another writer changed it in between: apply the edit to theirs
            except ResourceNotFoundError:
                return None  # deleted in between
            return document
        raise BackendError(f"gallery image version {version_id}: too many concurrent writers")

    def latest_version(self, gallery_image_id: str) -> str | None:
        """What `/versions/latest` resolves to: the highest Succeeded version not excluded from latest."""
        eligible = [
            name for name, state, excluded in self._scan(gallery_image_id) if state == "Succeeded" and not excluded
        ]
        return eligible[-1] if eligible else None

    def _scan(self, gallery_image_id: str) -> list[tuple[str, str | None, bool]]:
        """(version, provisioningState, excludeFromLatest) of every version, in numeric order."""
        prefix = gallery_prefix(gallery_image_id)
        found = []
        for blob in self._container.list_blobs(name_starts_with=prefix, include=["metadata"]):
            rest = blob.name[len(prefix) :]
            if rest.count("/") == 1 and rest.endswith("/" + _META):
                metadata = blob.metadata or {}
                found.append(
                    (rest.split("/")[0], metadata.get("provisioningstate"), metadata.get("excludefromlatest") == "true")
                )
        return sorted(found, key=lambda item: version_key(item[0]))

    def download(self, version_id: str, dest_dir: Path, *, file: str = _ARTIFACT) -> Path:
        """One file of the version (default: its rootfs tarball, saved as <version>.tar.gz)."""
        from azure.core.exceptions import ResourceNotFoundError

        document = self.get_version(version_id)
        if not document or document.get("provisioningState") != "Succeeded":
            raise LookupError(f"gallery image version {version_id} not found")
        dest_dir.mkdir(parents=True, exist_ok=True)
        target = dest_dir / (f"{document['name']}.tar.gz" if file == _ARTIFACT else f"{document['name']}.{file}")
        try:
            stream = self._container.download_blob(_folder_of(version_id) + safe_segment(file, "file name"))
        except ResourceNotFoundError:
            raise LookupError(f"gallery image version {version_id} has no {file}") from None
        with open(target, "wb") as handle:
            stream.readinto(handle)
        return target


def _folder_of(version_id: str) -> str:
    parts = split_gallery_id(version_id)
    if not parts["v"]:
        raise ValueError(f"not a gallery image version id: {version_id!r}")
    return gallery_prefix(version_id) + parts["v"] + "/"


def _with_port_fields(document: dict) -> dict:
    """The stored document with every field the port promises (older versions lack some)."""
    state = document.get("provisioningState")
    regions = [r.get("name") for r in document.get("targetRegions") or () if isinstance(r, dict) and r.get("name")]
    replication = {"Succeeded": "Completed", "Creating": "Replicating"}.get(state or "", "Unknown")
    return {
        "excludeFromLatest": False,
        "publishedDate": None,
        "endOfLifeDate": None,
        "sizeBytes": None,
        **document,
        "tags": dict(document.get("tags") or {}),
        "replication": {"state": replication, "regions": {name: replication for name in regions}},
    }


def _blob_metadata(document: dict) -> dict[str, str]:
    """Listed with the blobs, so latest_version needs no read per version."""
    return {
        "provisioningstate": document["provisioningState"],
        "excludefromlatest": str(bool(document.get("excludeFromLatest"))).lower(),
    }
