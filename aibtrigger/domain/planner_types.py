"""What the planner reads and what it answers: source keys, run history, signals, decisions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aibtrigger.domain.lineage import gallery_source

# A source, independent of the templates using it: one marketplace list call (or gallery read) per key.
#   ("platform", location, publisher, offer, sku)   ("gallery", gallery_image_id)   all lower-cased
SourceKey = tuple[str, ...]

BUILD, SKIP, WAIT = "build", "skip", "wait"


def platform_key(location: str, publisher: str, offer: str, sku: str) -> SourceKey:
    return ("platform", location.lower(), publisher.lower(), offer.lower(), sku.lower())


def gallery_key(gallery_image_id: str) -> SourceKey:
    return ("gallery", gallery_image_id.lower())


def source_key(entry) -> SourceKey | None:
    """The key of an entry's source, pinned or not; None for a managed image or an entry without definition."""
    # Read by name (a catalog entry, or a stand-in with the same attributes): its kind is `type`.
    source: Any = getattr(getattr(entry, "definition", None), "source", None)
    if getattr(source, "type", None) == "PlatformImage":
        return platform_key(entry.location, source.publisher, source.offer, source.sku)
    image = gallery_source(entry.definition) if source is not None else None
    return gallery_key(image) if image else None


def upstream_id(key: SourceKey, version: str) -> str:
    """Names the root change of a cascade, e.g. `platform/westeurope/canonical/offer/sku@22.04.202411050`.

    Carried from the first build's request to its success, then in each ParentSucceeded, so that
    the templates rebuilt for one change can tell they belong to the same cascade.
    """
    return "/".join(key) + "@" + version


@dataclass(frozen=True)
class TemplateHistory:
    """What the run history says about one template, as far as deciding is concerned."""

    last_success_at: datetime | None = None
    last_success_source_version: str | None = None  # AIB source.exactVersion, or a gallery version (id)
    last_success_upstream: str | None = None  # the cascade (upstream_id) the last success was built for
    last_upstream: str | None = None  # the cascade the last finished build (any outcome) was for
    # Version of every source in its lineage (own and ancestors') at the last success, when known.
    last_success_lineage: Mapping[SourceKey, str] = field(default_factory=dict)
    consecutive_failures: int = 0
    disabled: bool = False  # auto-disabled; lifted by a successful manual build
    last_schedule_tick: datetime | None = None  # the last schedule tick handled (built or skipped)
    active: bool = False  # a build is claimed or running
    last_success_inputs: Mapping[str, str] | None = None  # what the last success was built from (fingerprint)
    last_failed_inputs: Mapping[str, str] | None = None  # what its consecutive failures failed with
    last_success_outputs: tuple[str, ...] = ()  # versions (ids) it made: a self-sourced template's own


NEVER_BUILT = TemplateHistory()


# --- signals: why the planner is asked ------------------------------------------------------------
@dataclass(frozen=True)
class SourceChanged:
    """A newer version of a source was seen (marketplace sweep) or pushed (gallery event)."""

    key: SourceKey
    previous: str | None
    current: str

    def describe(self) -> str:
        return f"source changed: {'/'.join(self.key)} {self.previous or '(none)'} -> {self.current}"


@dataclass(frozen=True)
class ParentSucceeded:
    """A template's build succeeded and distributed `version_id`; `upstream` names the root change."""

    parent: str
    version_id: str
    upstream: str
    root: SourceKey | None = None  # the source whose change started the cascade, when known

    def describe(self) -> str:
        return f"parent succeeded: {self.parent} -> {self.version_id} (upstream {self.upstream})"


@dataclass(frozen=True)
class ScheduleTick:
    now: datetime

    def describe(self) -> str:
        return f"schedule tick at {self.now.isoformat()}"


@dataclass(frozen=True)
class Manual:
    template: str
    reason: str
    requested_by: str

    def describe(self) -> str:
        return f"manual request for {self.template} by {self.requested_by}"


@dataclass(frozen=True)
class Sweep:
    """The periodic check of everything; also the dry run behind `aibtrigger plan`."""

    now: datetime

    def describe(self) -> str:
        return f"sweep at {self.now.isoformat()}"


Signal = SourceChanged | ParentSucceeded | ScheduleTick | Manual | Sweep


@dataclass(frozen=True)
class Decision:
    """One template's verdict on one signal, with the evidence a person needs to trust it.

    `wait` is kept, never dropped: with `not_before` (maintenance window) the caller re-queues the
    request for that time; without it the template waits for a parent of the same cascade, whose
    success (ParentSucceeded) brings it back.
    """

    template: str
    action: str  # BUILD | SKIP | WAIT
    reasons: tuple[str, ...]
    wave: int  # depth in the lineage: 0 builds first
    signal: str
    evidence: dict = field(default_factory=dict)
    not_before: datetime | None = None

    def to_dict(self) -> dict:
        return {
            "template": self.template,
            "action": self.action,
            "reasons": list(self.reasons),
            "wave": self.wave,
            "signal": self.signal,
            "evidence": dict(self.evidence),
            "not_before": self.not_before.isoformat() if self.not_before else None,
        }
