"""Source images on Azure: marketplace versions (no event exists: polled) and gallery image versions.

Same method names and shapes as the local marketplace and gallery (adapters/local), so the source
catalog can use either.
"""

from __future__ import annotations

from aibtrigger.adapters.aib.clients import ArmClients
from aibtrigger.adapters.aib.errors import describe
from aibtrigger.adapters.aib.gallery import split_version_id, version_document
from aibtrigger.errors import BackendError


def version_key(version: str) -> tuple:
    """Dotted versions compared part by part as integers ('22.04.202410020' > '22.04.20240930');
    a part that is not a number sorts before every number."""
    return tuple((1, int(p), "") if p.isdigit() else (0, 0, p) for p in version.split("."))


class AzureSources:
    def __init__(
        self,
        *,
        subscription_id: str,
        credential=None,
        arm_endpoint: str | None = None,
        client_options: dict | None = None,
        clients: ArmClients | None = None,
    ) -> None:
        """subscription_id: the subscription whose marketplace view is listed (any the identity can read).
        Either credential (+ arm_endpoint, client_options) or a shared ArmClients."""
        if clients is None and credential is None:
            raise TypeError("AzureSources needs a credential (or clients)")
        self._subscription = subscription_id
        self._clients = clients or ArmClients(credential, arm_endpoint=arm_endpoint, options=client_options)

    def list_versions(self, location: str, publisher: str, offer: str, sku: str) -> list[str]:
        """Every published version, oldest first. One ARM read, whatever the count: `top=1` with
        `orderby='name desc'` would be cheaper, but the service's sort order is unpublished (a
        string sort puts '9.x' after '10.x'), so the full list is compared numerically here."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        images = self._clients.compute(self._subscription).virtual_machine_images
        try:
            items = images.list(location, publisher, offer, sku)
        except ResourceNotFoundError:
            return []  # no such publisher/offer/sku in this location
        except AzureError as exc:
            raise BackendError(
                f"list marketplace versions of {publisher}:{offer}:{sku} in {location}: {describe(exc)}"
            ) from exc
        return sorted((item.name for item in items if item.name), key=version_key)

    def latest_version(self, location: str, publisher: str, offer: str, sku: str) -> str | None:
        versions = self.list_versions(location, publisher, offer, sku)
        return versions[-1] if versions else None

    def get_version(self, version_id: str) -> dict | None:
        """A gallery image version (the gallery port's document, replication not read), or None when it
        does not exist. Only a Succeeded version can be built from."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        subscription, group, gallery, image, version = split_version_id(version_id)
        try:
            found = self._clients.compute(subscription).gallery_image_versions.get(group, gallery, image, version)
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise BackendError(f"read gallery image version {version_id}: {describe(exc)}") from exc
        return version_document(found, version_id)
