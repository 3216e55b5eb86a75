"""Small fakes for unit tests: they implement the ports and record what happened (no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aibtrigger.domain.model import BuildStatus, RunOutput, RunState, RunSubState
from aibtrigger.errors import BuildAlreadyActiveError, TemplateNotFoundError


class Clock:
    def __init__(self, start: datetime = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs) -> None:
        self.now += timedelta(**kwargs)


class ScriptedBackend:
    """A backend whose builds end when the test says so. Counts every Run it accepted."""

    def __init__(self, clock: Clock, templates: set[str]) -> None:
        self.clock = clock
        self.templates = templates
        self.status: dict[str, BuildStatus] = {}
        self.runs_started: list[str] = []
        self.cancels: list[str] = []
        self.logs: dict[str, str] = {}
        self.outputs: dict[str, list[RunOutput]] = {}
        self.source_versions: dict[str, str] = {}
        self.provenance: dict[str, dict] = {}  # what the current or last run was asked to tag its outputs with

    def get_status(self, template: str) -> BuildStatus:
        self._known(template)
        return self.status.get(template, BuildStatus(None))

    def start_run(self, template: str, *, provenance: dict | None = None) -> None:
        if self.get_status(template).is_active:
            raise BuildAlreadyActiveError(f"OperationNotAllowed: {template} is running")
        self.runs_started.append(template)
        self.provenance[template] = provenance or {}
        self.status[template] = BuildStatus(RunState.RUNNING, RunSubState.QUEUED, self.clock())
        self.logs[template] = ""

    def cancel_run(self, template: str) -> None:
        self.cancels.append(template)
        current = self.get_status(template)
        self.status[template] = BuildStatus(RunState.CANCELING, None, current.start_time, None, "Canceling image build")

    def run_outputs(self, template: str) -> list[RunOutput]:
        return self.outputs.get(template, [])

    def read_log(self, template: str) -> str | None:
        return self.logs.get(template) or None

    def exact_source_version(self, template: str) -> str | None:
        return self.source_versions.get(template)

    # test controls
    def finish(
        self,
        template: str,
        state: RunState,
        *,
        message: str = "",
        log: str = "",
        outputs: list[RunOutput] | None = None,
    ) -> None:
        current = self.get_status(template)
        self.status[template] = BuildStatus(state, None, current.start_time, self.clock(), message)
        self.logs[template] = log
        self.outputs[template] = outputs or []

    def _known(self, template: str) -> None:
        if template not in self.templates:
            raise TemplateNotFoundError(template)


class FakeSources:
    """Marketplace and gallery versions the test sets; counts marketplace reads."""

    def __init__(self) -> None:
        self.marketplace: dict[tuple[str, str, str, str], str] = {}
        self.gallery: dict[str, dict] = {}
        self.list_calls = 0

    def latest_version(self, location: str, publisher: str, offer: str, sku: str) -> str | None:
        self.list_calls += 1
        return self.marketplace.get((location.lower(), publisher.lower(), offer.lower(), sku.lower()))

    def get_version(self, version_id: str) -> dict | None:
        return self.gallery.get(version_id.lower())


class FakeGallery:
    """The gallery port in memory (aibtrigger.adapters.gallery), over the same dict as FakeSources'
    gallery when given one, so what a test publishes is what the service reads back."""

    def __init__(self, versions: dict[str, dict] | None = None, clock=None) -> None:
        self.versions: dict[str, dict] = {} if versions is None else versions
        self.clock = clock
        self.updates: list[tuple[str, dict]] = []
        self.replications: list[str] = []  # every replicate() asked for, in order

    def add(self, version_id: str, **fields) -> dict:
        name = version_id.rsplit("/", 1)[-1]
        document = {
            "id": version_id,
            "name": name,
            "provisioningState": "Succeeded",
            "excludeFromLatest": False,
            "publishedDate": self.clock().isoformat() if self.clock else None,
            "endOfLifeDate": None,
            "tags": {},
            "sizeBytes": None,
            "replication": {"state": "Completed", "regions": {}},
            **fields,
        }
        self.versions[version_id.lower()] = document
        return document

    def get_version(self, version_id: str) -> dict | None:
        found = self.versions.get(version_id.lower())
        return dict(found) if found else None

    def list_versions(self, gallery_image_id: str) -> list[dict]:
        from aibtrigger.domain.versions import version_key

        prefix = gallery_image_id.lower().rstrip("/") + "/versions/"
        found = [dict(v) for key, v in self.versions.items() if key.startswith(prefix)]
        return sorted(found, key=lambda v: version_key(v["name"]))

    def update_version(self, version_id, *, exclude_from_latest=None, end_of_life=None, tags=None) -> dict:
        document = self.versions.get(version_id.lower())
        if document is None:
            raise LookupError(f"gallery image version {version_id} not found")
        change: dict = {}
        if exclude_from_latest is not None:
            change["excludeFromLatest"] = exclude_from_latest
        if end_of_life is not None:
            change["endOfLifeDate"] = end_of_life.isoformat()
        if tags is not None:
            change["tags"] = {**(document.get("tags") or {}), **tags}
        document.update(change)
        self.updates.append((version_id, change))
        return dict(document)

    def delete_version(self, version_id: str) -> None:
        self.versions.pop(version_id.lower(), None)

    def replicate(self, version_id: str) -> dict:
        """Replication starts again in every region; the test says how it ends (`versions[...]`)."""
        document = self.versions.get(version_id.lower())
        if document is None:
            raise LookupError(f"gallery image version {version_id} not found")
        regions = (document.get("replication") or {}).get("regions") or {}
        document["replication"] = {"state": "Replicating", "regions": dict.fromkeys(regions, "Replicating")}
        self.replications.append(version_id)
        return dict(document)


def memory_deps(catalog, clock, *, backend=None, store=None, sources=None, **overrides):
    """Deps on the in-memory ports: a ScriptedBackend over the catalog's templates, a gallery over the
    sources' versions, entropy that counts (readable run ids), the unit tests' poll bounds."""
    from aibtrigger.adapters.logstore import InMemoryLogStore
    from aibtrigger.adapters.publisher import InMemoryPublisher
    from aibtrigger.adapters.queues import InMemoryQueue
    from aibtrigger.adapters.state_store import InMemoryStateStore
    from aibtrigger.service_layer.deps import Deps

    sources = sources or FakeSources()
    serial = iter(range(10**9))
    fields = {
        "catalog": catalog,
        "store": store or InMemoryStateStore(),
        "backend": backend or ScriptedBackend(clock, set(catalog.by_name)),
        "queue": InMemoryQueue(),
        "publisher": InMemoryPublisher(),
        "logs": InMemoryLogStore(),
        "sources": sources,
        "gallery": FakeGallery(sources.gallery, clock),
        "clock": clock,
        "entropy": lambda: f"{next(serial):06x}{0:06x}",
        "poll_min_seconds": 10,
        "poll_max_seconds": 300,
    }
    return Deps(**{**fields, **overrides})


class Outage:
    """A fault that lasts: while `down`, every call of the wrapped port raises `error`. Wrap any port."""

    def __init__(self, port, error: Exception) -> None:
        self._port, self._error, self.down, self.failures = port, error, False, 0

    def __getattr__(self, name):
        attribute = getattr(self._port, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            if self.down:
                self.failures += 1
                raise self._error
            return attribute(*args, **kwargs)

        return call
