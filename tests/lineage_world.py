"""A small world of templates in a lineage, driven through the real service layer on the in-memory fakes.

The world plays Azure: a marketplace whose versions a test patches, a gallery whose versions builds
write (tagged with the provenance the service asked for), builds that end when the test says, and
the Event Grid events those versions raise, which the test delivers when (and as often) it likes.
Every build started is recorded with the exact source version it used, so tests can check the
order of a cascade and that nothing was built twice from the same inputs.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from aibtrigger.adapters.logstore import InMemoryLogStore
from aibtrigger.adapters.publisher import InMemoryPublisher
from aibtrigger.adapters.queues import InMemoryQueue
from aibtrigger.adapters.state_store import InMemoryStateStore
from aibtrigger.catalog import parse_catalog
from aibtrigger.domain.fingerprint import fingerprint
from aibtrigger.domain.model import RunOutput, RunState
from aibtrigger.domain.planner_index import index_for
from aibtrigger.domain.planner_rules import inputs_for
from aibtrigger.domain.provenance import provenance_tags, with_exact_source
from aibtrigger.domain.versions import version_key
from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE
from aibtrigger.service_layer.deps import Deps
from aibtrigger.service_layer.events import VERSION_WRITE, WRITE_SUCCESS, handle_gallery_event
from aibtrigger.service_layer.intake import handle_poll_message, handle_request_message
from aibtrigger.service_layer.planning import VersionNotReady, sweep_sources, tick_schedules
from aibtrigger.service_layer.reconciler import reconcile
from tests.fakes import Clock, FakeGallery, FakeSources, ScriptedBackend

IMAGES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/"
SHELL = [{"type": "Shell", "name": "setup", "inline": ["echo setup"]}]


def marketplace(sku: str) -> dict:
    return {"type": "PlatformImage", "publisher": "Canonical", "offer": "ubuntu", "sku": sku, "version": "latest"}


def gallery(image: str, version: str = "latest") -> dict:
    return {"type": "SharedImageVersion", "imageVersionId": f"{IMAGES}{image}/versions/{version}"}


def template(name: str, source: dict, outputs: tuple[str, ...] | None = None, *, steps=SHELL, **policy) -> dict:
    staged = (policy.get("promotion") or {}).get("mode", "immediate") != "immediate"
    return {
        "name": name,
        "location": "westeurope",
        "policy": policy,
        "definition": {
            "source": source,
            "customize": steps,
            "distribute": [
                {
                    "type": "SharedImage",
                    "runOutputName": o,
                    "galleryImageId": IMAGES + o,
                    **({"excludeFromLatest": True} if staged else {}),
                }
                for o in (outputs or (name,))
            ],
        },
    }


def diamond(**api_policy) -> list[dict]:
    """`app` is built from the image `web` and `api` both distribute to; both are children of `base`."""
    return [
        template("base", marketplace("jammy")),
        template("web", gallery("base"), ("apps",)),
        template("api", gallery("base"), ("apps",), **api_policy),
        template("app", gallery("apps")),
    ]


@dataclass(frozen=True)
class Started:
    template: str
    source_version: str | None
    inputs_fingerprint: str | None
    at: int  # the world's step counter


class World:
    def __init__(self, entries: list[dict], *, tagging: bool = True):
        self.tagging = tagging  # False: versions carry no provenance (as AIB's, until tagged after the run)
        self.clock = Clock()
        self.catalog = parse_catalog({"templates": entries})
        self.sources = FakeSources()
        self.backend = _Backend(self)
        self.deps = Deps(
            catalog=self.catalog,
            store=InMemoryStateStore(),
            backend=self.backend,
            queue=InMemoryQueue(),
            publisher=InMemoryPublisher(),
            logs=InMemoryLogStore(),
            sources=self.sources,
            gallery=FakeGallery(self.sources.gallery, self.clock),
            clock=self.clock,
            poll_min_seconds=10,
            poll_max_seconds=60,
        )
        self.started: list[Started] = []
        self.events: list[str] = []  # version ids whose Event Grid event has not been delivered yet
        self.step = 0

    # --- what the world does -------------------------------------------------------------------------
    def patch(self, sku: str, version: str) -> None:
        """The marketplace publishes a new version (the service finds it at its next sweep)."""
        self.sources.marketplace[("westeurope", "canonical", "ubuntu", sku)] = version

    def publish_by_hand(self, image: str, *, exclude_from_latest: bool = False) -> str:
        """Someone outside the service writes a version (no provenance tags)."""
        return self._write_version(image, {}, exclude_from_latest=exclude_from_latest)

    def finish(self, name: str, state: RunState = RunState.SUCCEEDED) -> list[str]:
        """The running build of `name` ends; a success writes a version of each image it distributes to."""
        assert self.backend.get_status(name).is_active, f"{name} is not building"
        versions = []
        if state is RunState.SUCCEEDED:
            made = with_exact_source(self.backend.provenance.get(name) or {}, self.backend.source_versions.get(name))
            tags = provenance_tags(made) if self.tagging and made else {}
            versions = [
                self._write_version(d.galleryImageId, tags, exclude_from_latest=bool(d.excludeFromLatest))
                for d in self.catalog.get(name).definition.distribute
            ]
        self.backend.finish(name, state, outputs=[RunOutput(v.rsplit("/", 3)[-3], v) for v in versions])
        return versions

    # --- what the service does -----------------------------------------------------------------------
    def sweep(self):
        return sweep_sources(self.deps)

    def tick(self):
        return tick_schedules(self.deps)

    def deliver(self, version_id: str | None = None) -> str:
        """Deliver a gallery event (the oldest pending one by default); it stays pending while not ready."""
        version_id = version_id or self.events[0]
        try:
            result = handle_gallery_event(
                event_id=str(uuid.uuid4()),
                event_type=WRITE_SUCCESS,
                subject=version_id,
                data={"operationName": VERSION_WRITE, "resourceUri": version_id},
                deps=self.deps,
            )
        except VersionNotReady:
            return "not ready"
        if version_id in self.events:
            self.events.remove(version_id)
        return result

    def deliver_all_events(self) -> None:
        while self.events:
            self.deliver()

    def requests(self) -> list[str]:
        """Deliver every queued build request (delays ignored: no maintenance windows here)."""
        results = []
        while pending := [m for m in self.deps.queue.sent if m.queue == REQUESTS_QUEUE]:
            for message in pending:
                self.deps.queue.sent.remove(message)
                results.append(
                    handle_request_message(
                        message.text.encode(), message_id=str(uuid.uuid4()), dequeue_count=1, deps=self.deps
                    )
                )
        return results

    def polls(self) -> None:
        """Deliver every queued poll once (a finished build is then collected, released, its children planned)."""
        pending = [m for m in self.deps.queue.sent if m.queue == POLLS_QUEUE]
        for message in pending:
            self.deps.queue.sent.remove(message)
            self.clock.advance(seconds=message.delay_seconds)
            handle_poll_message(message.text.encode(), message_id=str(uuid.uuid4()), dequeue_count=1, deps=self.deps)

    def reconcile(self) -> list[str]:
        """A reconciliation pass once every edge had its time (lease margin)."""
        self.clock.advance(seconds=self.deps.lease_margin.total_seconds() + 60)
        return reconcile(self.deps)

    def settle(self, name: str, state: RunState = RunState.SUCCEEDED) -> list[str]:
        """`finish`, then the poll that records it (events stay pending)."""
        versions = self.finish(name, state)
        self.polls()
        return versions

    def request(self, name: str, *, force: bool = False) -> str:
        import json

        body = json.dumps({"template": name, "reason": "test", "requested_by": "tester", "force": force}).encode()
        return handle_request_message(body, message_id=str(uuid.uuid4()), dequeue_count=1, deps=self.deps)

    # --- what tests read -----------------------------------------------------------------------------
    def building(self) -> list[str]:
        return sorted(n for n in self.catalog.by_name if self.backend.get_status(n).is_active)

    def builds(self, name: str) -> list[Started]:
        return [s for s in self.started if s.template == name]

    def latest(self, image: str) -> str | None:
        """The version `latest` resolves to: the newest not excluded from latest."""
        prefix = (IMAGES + image + "/versions/").lower() if not image.startswith("/") else image.lower() + "/versions/"
        found = [
            doc["id"]
            for vid, doc in self.sources.gallery.items()
            if vid.startswith(prefix) and not doc.get("excludeFromLatest")
        ]
        return max(found, key=lambda v: version_key(v.rsplit("/", 1)[-1])) if found else None

    def source_now(self, name: str) -> str | None:
        """The exact version a build of `name` starting now would use."""
        f = index_for(self.catalog).facts[name]
        if f.key is None:
            return None
        if not f.tracks_latest:
            return f.pinned
        if f.key[0] == "platform":
            return self.sources.marketplace.get(tuple(f.key[1:]))
        latest = self.latest(f.gallery_image)
        return latest.rsplit("/", 1)[-1] if latest else None

    def current_fingerprint(self, name: str) -> str | None:
        """The fingerprint of the inputs `name` has now, as the world knows them (not the service)."""
        version = self.source_now(name)
        return fingerprint(inputs_for(index_for(self.catalog).facts[name], version)) if version else None

    def success_fingerprints(self, name: str) -> list[str]:
        return [r.fingerprint for r in self.deps.store.list_runs(name) if r.state is RunState.SUCCEEDED]

    def _write_version(self, image: str, tags: dict, *, exclude_from_latest: bool = False) -> str:
        image = image if image.startswith("/") else IMAGES + image
        prefix = image.lower() + "/versions/"
        count = sum(1 for vid in self.sources.gallery if vid.startswith(prefix))
        version_id = f"{image}/versions/1.0.{count + 1}"
        self.sources.gallery[version_id.lower()] = {
            "id": version_id,
            "name": version_id.rsplit("/", 1)[-1],
            "provisioningState": "Succeeded",
            "excludeFromLatest": exclude_from_latest,
            "publishedDate": self.clock().isoformat(),
            "tags": dict(tags),
        }
        self.events.append(version_id)
        return version_id


class _Backend(ScriptedBackend):
    """Builds record the exact source version they use: the latest of their source when they start."""

    def __init__(self, world: World):
        super().__init__(world.clock, set(world.catalog.by_name))
        self.world = world
        self.on_start = None  # called (template, automatic) before a build starts: property checks

    def start_run(self, template: str, *, provenance: dict | None = None) -> None:
        if self.on_start is not None and not self.get_status(template).is_active:
            claim = self.world.deps.store.get_claim(template)
            self.on_start(template, claim is not None and not claim.manual)
        super().start_run(template, provenance=provenance)
        world = self.world
        used = world.source_now(template)
        if used is not None:
            self.source_versions[template] = used
        world.step += 1
        world.started.append(Started(template, used, world.current_fingerprint(template), world.step))
