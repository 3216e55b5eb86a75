"""Everything the planner needs from the catalog, computed once per catalog and reused for every signal.

With 10,000 templates a SourceChanged must not scan them all: `users` maps each source key to the
templates built from it, and per-template facts (source label, parsed schedule, window, depth) are
ready to read. Policies are read duck-typed (`getattr(entry.policy, "schedule", None)`), so the
index works with any catalog object shaped like aibtrigger.catalog.Catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aibtrigger.domain.fingerprint import definition_digest
from aibtrigger.domain.lineage import LineageGraph, gallery_outputs, gallery_source, validate_lineage
from aibtrigger.domain.planner_types import SourceKey, source_key
from aibtrigger.domain.schedule import MaintenanceWindow, Schedule, parse_schedule, parse_window
from aibtrigger.domain.versions import version_of

DEFAULT_MAX_FAILURES = 5  # as AWS EC2 Image Builder's auto-disable


@dataclass(frozen=True, slots=True)
class TemplateFacts:
    name: str
    key: SourceKey | None
    label: str  # the source as a person reads it: "Canonical:offer:sku", "gallery image golden/web"
    where: str  # " in westeurope" for a marketplace source (its versions are per region), else ""
    tracks_latest: bool
    pinned: str | None  # the pinned version, when not tracking latest
    gallery_image: str | None  # lower-cased source gallery image id
    schedule: Schedule | None
    only_if_changed: bool
    window: MaintenanceWindow | None
    max_failures: int  # 0: never auto-disable
    paused: bool
    depth: int
    digest: str = ""  # definition_digest: what in its definition shapes the image
    outputs: tuple[str, ...] = ()  # lower-cased gallery images it distributes to


class PlannerIndex:
    def __init__(self, facts: dict[str, TemplateFacts], graph: LineageGraph):
        self.facts = facts
        self.graph = graph
        self.users: dict[SourceKey, tuple[str, ...]] = {}
        for fact in facts.values():
            if fact.key is not None:
                self.users[fact.key] = self.users.get(fact.key, ()) + (fact.name,)
        self.order = tuple(sorted(facts, key=lambda n: (facts[n].depth, n)))  # parents before children
        self.scheduled = tuple(n for n in self.order if facts[n].schedule is not None)
        self._cascade_ancestors: dict[str, tuple[str, ...]] = {}

    @classmethod
    def from_catalog(cls, catalog) -> PlannerIndex:
        """Raises CatalogError on a lineage cycle, ValueError on a bad schedule or window."""
        graph = validate_lineage(catalog)
        return cls({entry.name: _facts(entry, graph.depth(entry.name)) for entry in catalog.templates}, graph)

    def cascade_parents(self, name: str) -> frozenset[str]:
        """The parents whose new versions reach this template: none when it pins its source version."""
        return self.graph.parents(name) if self.facts[name].tracks_latest else frozenset()

    def cascade_children(self, name: str) -> list[str]:
        return sorted(c for c in self.graph.children(name) if self.facts[c].tracks_latest)

    def cascade_ancestors(self, name: str) -> tuple[str, ...]:
        """Ancestors whose new versions reach this template (through latest-tracking links), nearest first."""
        if name not in self._cascade_ancestors:
            found: dict[str, None] = {}
            for parent in sorted(self.cascade_parents(name)):
                found[parent] = None
                found.update(dict.fromkeys(self.cascade_ancestors(parent)))
            self._cascade_ancestors[name] = tuple(sorted(found, key=lambda n: -self.facts[n].depth))
        return self._cascade_ancestors[name]


_last: tuple[object, PlannerIndex] | None = None


def index_for(catalog) -> PlannerIndex:
    """The index of `catalog`, rebuilt only when a different catalog object comes (catalogs are frozen)."""
    global _last
    if _last is None or _last[0] is not catalog:
        _last = (catalog, PlannerIndex.from_catalog(catalog))
    return _last[1]


def _facts(entry, depth: int) -> TemplateFacts:
    policy = getattr(entry, "policy", None)
    # Read by name (a catalog entry, or a stand-in with the same attributes): its kind is `type`.
    source: Any = getattr(getattr(entry, "definition", None), "source", None)
    kind = getattr(source, "type", None)
    tracks_latest = bool(getattr(source, "tracks_latest", False))
    pinned, where = None, ""
    if kind == "PlatformImage":
        label = f"{source.publisher}:{source.offer}:{source.sku}"
        where = f" in {entry.location}"
        pinned = None if tracks_latest else source.version
    elif kind == "SharedImageVersion":
        parts = source.gallery_image_id.split("/")
        label = f"gallery image {parts[-3]}/{parts[-1]}" if len(parts) >= 3 else source.gallery_image_id
        pinned = None if tracks_latest else version_of(source.imageVersionId)
    elif kind == "ManagedImage":
        label = "a managed image (it has no versions to track)"
    else:
        label = "an unknown source (no definition in the catalog)"
    schedule = getattr(policy, "schedule", None)
    window = getattr(policy, "maintenance_window", None)
    max_failures = getattr(policy, "max_consecutive_failures", None)
    return TemplateFacts(
        name=entry.name,
        key=source_key(entry),
        label=label,
        where=where,
        tracks_latest=tracks_latest,
        pinned=pinned,
        gallery_image=gallery_source(entry.definition) if source is not None else None,
        schedule=schedule if isinstance(schedule, Schedule) or schedule is None else parse_schedule(schedule),
        only_if_changed=bool(getattr(policy, "only_if_changed", False)),
        window=window if isinstance(window, MaintenanceWindow) or window is None else parse_window(window),
        max_failures=DEFAULT_MAX_FAILURES if max_failures is None else int(max_failures),
        paused=bool(getattr(policy, "paused", False)),
        depth=depth,
        digest=definition_digest(getattr(entry, "definition", None)),
        outputs=gallery_outputs(entry.definition) if getattr(entry, "definition", None) is not None else (),
    )
