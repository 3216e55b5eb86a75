"""The one place that builds adapters from settings. Lazy: nothing is imported or connected until
the first invocation needs it, then reused for the life of the process (cold start is a feature)."""

from __future__ import annotations

import threading
from datetime import timedelta

from aibtrigger.config import Settings, load_settings
from aibtrigger.errors import ConfigError
from aibtrigger.service_layer.deps import Deps

_lock = threading.Lock()
_deps: Deps | None = None


def get_deps() -> Deps:
    global _deps
    with _lock:
        if _deps is None:
            _deps = build_deps(load_settings())
        return _deps


def reset() -> None:
    """Forget the cached dependencies (tests and the dev host after changing settings)."""
    global _deps
    with _lock:
        _deps = None


def build_deps(settings: Settings) -> Deps:
    from aibtrigger.adapters.logstore import BlobLogStore
    from aibtrigger.adapters.queues import StorageQueue
    from aibtrigger.adapters.tables_store import TableStateStore
    from aibtrigger.catalog import load_catalog

    catalog = load_catalog(settings.catalog_path)
    clients = StorageClients(settings)
    store = TableStateStore(clients.tables())
    store.create_tables()
    queue = StorageQueue(clients.queues())
    arm = _arm_clients(settings) if settings.backend == "aib" else None
    backend = _backend(settings, catalog, arm)
    if settings.backend == "aib":
        catalog = _with_azure_definitions(catalog, backend)
    return Deps(
        catalog=catalog,
        store=store,
        backend=backend,
        queue=queue,
        publisher=_publisher(settings, queue),
        logs=BlobLogStore(clients.blobs()),
        sources=_sources(settings, clients, arm),
        run_in_image=_image_commands(settings, clients),
        gallery=_gallery(settings, clients, arm),
        poll_min_seconds=settings.poll_min_seconds,
        poll_max_seconds=settings.poll_max_seconds,
        timeout_grace=timedelta(minutes=settings.timeout_grace_minutes),
        lease_margin=timedelta(seconds=settings.lease_margin_seconds),
        distribution_patience=timedelta(minutes=settings.distribution_patience_minutes),
        distribution_retries=settings.distribution_retries,
    )


class StorageClients:
    """Storage clients from a connection string (Azurite, keys) or an account name plus identity."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def _connection(self) -> str | None:
        secret = self._settings.storage_connection
        return secret.get_secret_value() if secret else None

    def _endpoint(self, service: str) -> str:
        return f"https://{self._settings.storage_account}.{service}.core.windows.net"

    def _credential(self):
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()

    def tables(self):
        from azure.data.tables import TableServiceClient

        conn = self._connection()
        return (
            TableServiceClient.from_connection_string(conn)
            if conn
            else TableServiceClient(self._endpoint("table"), credential=self._credential())
        )

    def queues(self):
        from azure.storage.queue import QueueServiceClient

        conn = self._connection()
        return (
            QueueServiceClient.from_connection_string(conn)
            if conn
            else QueueServiceClient(self._endpoint("queue"), credential=self._credential())
        )

    def blobs(self):
        from azure.storage.blob import BlobServiceClient

        conn = self._connection()
        return (
            BlobServiceClient.from_connection_string(conn)
            if conn
            else BlobServiceClient(self._endpoint("blob"), credential=self._credential())
        )


def _arm_clients(settings: Settings):
    """One credential and one set of ARM clients for the aib backend and the Azure source catalog."""
    from azure.identity import DefaultAzureCredential

    from aibtrigger.adapters.aib.clients import ArmClients

    return ArmClients(
        DefaultAzureCredential(), arm_endpoint=settings.arm_endpoint, options={"retry_total": settings.arm_retry_total}
    )


def _with_azure_definitions(catalog, backend):
    """Entries naming only a `resource_id` take their definition (and so their lineage) from Azure:
    one read each, once per process. One that cannot be read keeps none (it still builds) and is logged."""
    import logging

    from aibtrigger.catalog_remote import check_against_azure
    from aibtrigger.errors import CatalogError

    log = logging.getLogger(__name__)
    found = check_against_azure(catalog, backend.read_template, compare=False)
    for problem in found.unreadable:
        log.warning("definition not read from Azure, lineage unknown: %s", problem)
    try:
        return catalog.with_definitions(found.definitions) if found.definitions else catalog
    except CatalogError as exc:  # Azure's templates form a cycle: build them all, without a lineage
        log.error("definitions read from Azure not used: %s", exc)
        return catalog


def _sources(settings: Settings, clients: StorageClients, arm):
    if settings.backend == "aib":
        from aibtrigger.adapters.aib.sources import AzureSources

        if settings.subscription_id is None:  # Settings requires it for this backend: only a hand-made one lacks it
            raise ConfigError("AIBTRIGGER_SUBSCRIPTION_ID is required when AIBTRIGGER_BACKEND=aib")
        return AzureSources(subscription_id=settings.subscription_id, clients=arm)
    from aibtrigger.adapters.sources import LocalSources

    return LocalSources(clients.blobs())


def _image_commands(settings: Settings, clients: StorageClients):
    """Post-build command checks run in the captured image: something only the local backend has."""
    if settings.backend != "local":
        return None
    from aibtrigger.adapters.local.gallery import LocalGallery
    from aibtrigger.adapters.local.image_check import ImageCommands

    return ImageCommands(LocalGallery(clients.blobs()), settings.local_workdir / "checks")


def _backend(settings: Settings, catalog, arm):
    if settings.backend == "aib":
        from aibtrigger.adapters.aib.backend import AibBackend

        return AibBackend(catalog, clients=arm)
    if settings.backend == "local":
        from aibtrigger.adapters.local.backend import LocalBackend

        if settings.storage_connection is None:
            raise ConfigError("AzureWebJobsStorage: the local backend needs a connection string (Azurite)")
        return LocalBackend(
            catalog,
            connection_string=settings.storage_connection.get_secret_value(),
            catalog_path=settings.catalog_path,
            workdir=settings.local_workdir,
            seconds_per_minute=settings.local_seconds_per_minute,
            event_webhook=settings.local_event_webhook,
        )
    raise ConfigError(f"AIBTRIGGER_BACKEND: unknown backend {settings.backend!r}")


def _gallery(settings: Settings, clients: StorageClients, arm):
    """The gallery versions the service changes (promotion, provenance tags, end of life, retention):
    Azure's through the shared ARM clients, or the local gallery, which tells the service about each
    change as Azure's Event Grid does."""
    if settings.backend == "aib":
        from aibtrigger.adapters.aib.gallery import AzureGallery

        return AzureGallery(clients=arm)
    from aibtrigger.adapters.local.gallery import LocalGallery

    return LocalGallery(clients.blobs(), event_webhook=settings.local_event_webhook)


def _publisher(settings: Settings, queue):
    from aibtrigger.adapters.publisher import EventGridPublisher, QueuePublisher

    if settings.publisher == "queue":
        return QueuePublisher(queue)
    from azure.core.credentials import AzureKeyCredential, TokenCredential
    from azure.eventgrid import EventGridPublisherClient

    if settings.eventgrid_endpoint is None:  # Settings requires it for this publisher: only a hand-made one lacks it
        raise ConfigError("AIBTRIGGER_EVENTGRID_ENDPOINT is required when AIBTRIGGER_PUBLISHER=eventgrid")
    credential: AzureKeyCredential | TokenCredential
    if settings.eventgrid_key is not None:
        credential = AzureKeyCredential(settings.eventgrid_key.get_secret_value())
    else:
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    return EventGridPublisher(EventGridPublisherClient(settings.eventgrid_endpoint, credential))
