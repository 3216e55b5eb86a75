"""The log store port: build logs copied out of the backend's staging storage, so they outlive it."""

from __future__ import annotations

from typing import Protocol

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError

from aibtrigger.errors import StorageError
from aibtrigger.names import LOGS_CONTAINER


class LogStore(Protocol):
    def save(self, run_id: str, text: str) -> str:
        """Store the run's log; returns where it is (a blob path, never a SAS URL)."""

    def load(self, run_id: str) -> str | None: ...

    def keep(self, name: str, data: bytes) -> str:
        """Keep bytes verbatim under `name` (a poisoned message, say); returns where."""


class InMemoryLogStore:
    def __init__(self) -> None:
        self.logs: dict[str, str] = {}
        self.kept: dict[str, bytes] = {}

    def save(self, run_id: str, text: str) -> str:
        self.logs[run_id] = text
        return f"memory://{run_id}/customization.log"

    def load(self, run_id: str) -> str | None:
        return self.logs.get(run_id)

    def keep(self, name: str, data: bytes) -> str:
        self.kept[name] = data
        return f"memory://{name}"


class BlobLogStore:
    """`aibtrigger-logs/<run id>/customization.log` in the service's own storage account."""

    def __init__(self, service, *, container: str = LOGS_CONTAINER) -> None:
        self._container = service.get_container_client(container)
        self._created = False

    def save(self, run_id: str, text: str) -> str:
        name = f"{run_id}/customization.log"
        try:
            self._ensure_container()
            self._container.upload_blob(name, text.encode("utf-8"), overwrite=True)
        except AzureError as exc:
            raise StorageError(f"saving the log of {run_id} failed: {type(exc).__name__}") from exc
        return f"{self._container.container_name}/{name}"

    def load(self, run_id: str) -> str | None:
        try:
            return self._container.download_blob(f"{run_id}/customization.log").readall().decode("utf-8", "replace")
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise StorageError(f"reading the log of {run_id} failed: {type(exc).__name__}") from exc

    def keep(self, name: str, data: bytes) -> str:
        try:
            self._ensure_container()
            self._container.upload_blob(name, data, overwrite=True)
        except AzureError as exc:
            raise StorageError(f"keeping {name} failed: {type(exc).__name__}") from exc
        return f"{self._container.container_name}/{name}"

    def _ensure_container(self) -> None:
        if not self._created:
            try:
                self._container.create_container()
            except ResourceExistsError:
                pass
            self._created = True
