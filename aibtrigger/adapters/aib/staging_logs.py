"""Read a run's customization.log from the template's staging storage account, with the service's token.

AIB writes `packerlogs/<folder>/customization.log` into a storage account it creates in the staging
resource group. The URL in a failed run's message is not fetched (public access is usually off and
SAS would be a secret): only its folder name is used, and the blob is read through the account found
in the staging group, with the identity's token (role: Storage Blob Data Reader).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta

from aibtrigger.adapters.aib.errors import describe, status_of
from aibtrigger.domain.logexcerpt import redact
from aibtrigger.errors import BackendError

log = logging.getLogger(__name__)

CONTAINER = "packerlogs"
LOG_NAME = "customization.log"
STORAGE_TYPE = "Microsoft.Storage/storageAccounts"
STORAGE_API_VERSION = "2023-05-01"  # a stable Microsoft.Storage version that returns primaryEndpoints
_FOLDER_IN_MESSAGE = re.compile(r"/packerlogs/([^/\s?#]+)/customization\.log", re.IGNORECASE)
_GROUP_ID = re.compile(r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/?$", re.IGNORECASE)
# AIB stamps startTime, Storage stamps the blob: different clocks, and the folder is created a little
# after the run starts. A log older than this before the run start belongs to an earlier run.
_CLOCK_SKEW = timedelta(minutes=10)


class StagingLogs:
    def __init__(self, clients) -> None:
        self._clients = clients
        self._endpoints: dict[str, list[str]] = {}  # staging group id -> blob endpoints (the group outlives runs)

    def read(self, staging_group_id: str, *, started: datetime | None, message: str = "") -> str | None:
        """The current run's log as it stands, or None when the group, account or log is not there (yet)."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        folder = _folder_from(message)
        try:
            for endpoint in self._blob_endpoints(staging_group_id):
                container = self._clients.blob_service(endpoint).get_container_client(CONTAINER)
                try:
                    name = f"{folder}/{LOG_NAME}" if folder else _newest_log(container, started)
                    if name is None:
                        continue
                    data = container.download_blob(name).readall()
                except ResourceNotFoundError:
                    continue  # no packerlogs container in this account, or not this run's folder
                return redact(data.decode("utf-8", errors="replace"))
        except ResourceNotFoundError:
            self._endpoints.pop(staging_group_id, None)
            return None  # the staging group is gone (the template was deleted and re-created)
        except AzureError as exc:
            hint = (
                " (the service identity needs 'Storage Blob Data Reader' on the staging resource group)"
                if status_of(exc) in (401, 403)
                else ""
            )
            raise BackendError(f"read build log from {staging_group_id}: {describe(exc)}{hint}") from exc
        return None

    def _blob_endpoints(self, staging_group_id: str) -> list[str]:
        cached = self._endpoints.get(staging_group_id)
        if cached:
            return cached
        match = _GROUP_ID.match(staging_group_id or "")
        if not match:
            raise BackendError(f"not a resource group id: {staging_group_id!r}")
        subscription, group = match.groups()
        resources = self._clients.resources(subscription).resources
        endpoints = []
        for item in resources.list_by_resource_group(group, filter=f"resourceType eq '{STORAGE_TYPE}'"):
            if str(item.type).lower() != STORAGE_TYPE.lower():
                continue  # the filter is the server's; check anyway
            # The blob endpoint comes from the account itself, so other clouds (and the fake) just work.
            account = resources.get_by_id(item.id, api_version=STORAGE_API_VERSION)
            blob = ((account.get("properties") or {}).get("primaryEndpoints") or {}).get("blob")
            if blob:
                endpoints.append(blob.rstrip("/"))
        if endpoints:
            self._endpoints[staging_group_id] = endpoints
        else:
            log.info("no storage account in staging group %s yet", staging_group_id)
        return endpoints


def _folder_from(message: str) -> str | None:
    match = _FOLDER_IN_MESSAGE.search(message or "")
    return match.group(1) if match else None


def _newest_log(container, started: datetime | None) -> str | None:
    """The newest `<folder>/customization.log`, if it was written during the current run."""
    newest = None
    for blob in container.list_blobs():
        if not blob.name.endswith("/" + LOG_NAME) or blob.name.count("/") != 1:
            continue
        if newest is None or _created(blob) > _created(newest):
            newest = blob
    if newest is None or (started is not None and _created(newest) < started - _CLOCK_SKEW):
        return None
    return newest.name


def _created(blob) -> datetime:
    return blob.creation_time or blob.last_modified
