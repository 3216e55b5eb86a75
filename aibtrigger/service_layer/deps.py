"""What the handlers need, as one explicit bundle: built by bootstrap, or by tests with fakes."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aibtrigger.adapters.backend import ImageBackend
from aibtrigger.adapters.gallery import GalleryVersions
from aibtrigger.adapters.logstore import LogStore
from aibtrigger.adapters.publisher import Publisher
from aibtrigger.adapters.queues import MessageQueue
from aibtrigger.adapters.sources import SourceCatalog
from aibtrigger.adapters.state_store import StateStore
from aibtrigger.catalog import Catalog


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Deps:
    catalog: Catalog
    store: StateStore
    backend: ImageBackend
    queue: MessageQueue
    publisher: Publisher
    logs: LogStore
    sources: SourceCatalog
    # The gallery versions templates distribute to (promotion, provenance, retention); None: the
    # service changes no gallery version (a catalog without staging or retention needs none).
    gallery: GalleryVersions | None = None
    # A post-build check's command run in a version's captured image: (version_id, command, timeout
    # seconds) -> (passed, detail). Only the local backend can; None elsewhere.
    run_in_image: Callable[[str, str, float], tuple[bool, str]] | None = None
    clock: Callable[[], datetime] = utc_now
    entropy: Callable[[], str] = field(default=lambda: uuid.uuid4().hex)
    poll_min_seconds: float = 30.0
    poll_max_seconds: float = 600.0
    timeout_grace: timedelta = timedelta(minutes=15)
    # How long past its next expected step a claim's chain is presumed alive; then the reconciler acts.
    # Longer than one poll message's retries take to settle, shorter than anyone would wait.
    lease_margin: timedelta = timedelta(minutes=3)
    start_refusals: int = 6  # Run refused (not for a running build) this often: the start is given up
    start_give_up: timedelta = timedelta(hours=24)  # a claim never started after this is given up
    collect_patience: timedelta = timedelta(minutes=5)  # a log unreadable this long after the end: recorded without
    # A run that failed while distributing waits this long after the failure for the gallery to finish
    # replicating (its own bound, not the build's timeout: AIB's timeout is what cut it short), and
    # asks the gallery to replicate a failed version again at most this often (domain.distribution).
    distribution_patience: timedelta = timedelta(hours=3)
    distribution_retries: int = 2
