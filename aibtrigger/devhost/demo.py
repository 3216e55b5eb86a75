"""`make demo`: one whole local build, from a queue message to a published, recorded result.

Starts Azurite (data kept in .aibtrigger/azurite, so `aibtrigger dev` shows the run afterwards) and
the dev host, makes sure the local marketplace has a source version, requests the template, follows
it live, copies the artifact and log to .aibtrigger/demo/, waits for (or cancels) every build it
started, cascades included, and stops what it started: no process is left behind.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

OUT = Path(".aibtrigger") / "demo"


def run_demo(*, template: str = "ubuntu-base") -> int:
    from aibtrigger.bootstrap import get_deps
    from aibtrigger.devhost.session import running_stack

    os.environ.setdefault("AIBTRIGGER_LOCAL_WORKDIR", str(Path(".aibtrigger") / "work"))
    data = Path(".aibtrigger") / "azurite"
    data.mkdir(parents=True, exist_ok=True)
    print(f"== starting Azurite ({data}) and the dev host")
    with running_stack(data_dir=data.resolve(), command="aibtrigger demo") as host:
        print(f"== functions at {host.base_url}")
        deps = get_deps()
        with leaving_nothing_running(deps):
            _ensure_source(deps, template)
            return _build(deps, template)


@contextmanager
def leaving_nothing_running(deps, *, patience: float = 600.0):
    """Before the stack stops: wait for every build started meanwhile (cascades included), or cancel
    and record it (at once on Ctrl-C), and end any process left (Azurite, started before, is kept)."""
    from aibtrigger.devhost.processes import children
    from aibtrigger.devhost.settle import settle_builds

    since, keep = datetime.now(timezone.utc), set(children())
    try:
        yield
    except BaseException:  # Ctrl-C, or the demo's own build went wrong: do not wait, cancel
        print("== stopping early: canceling the builds the demo started")
        settle_builds(deps, since=since, patience=0, keep=keep)
        raise
    print("== waiting for every build the demo started (a success starts its children's builds)")
    try:
        settle_builds(deps, since=since, patience=patience, keep=keep)
    except KeyboardInterrupt:  # tired of waiting: cancel now
        settle_builds(deps, since=since, patience=0, keep=keep)
        raise


def _ensure_source(deps, template: str) -> None:
    from aibtrigger.adapters.local.marketplace import LocalMarketplace
    from aibtrigger.bootstrap import StorageClients
    from aibtrigger.config import load_settings

    entry = deps.catalog.get(template)
    source = entry.definition.source
    if source.type != "PlatformImage":
        return
    market = LocalMarketplace(StorageClients(load_settings()).blobs())
    image = (entry.location, source.publisher, source.offer, source.sku)
    latest = market.latest_version(*image)
    if latest is None:
        latest = market.publish(*image)
        print(f"== published {':'.join(image[1:])} {latest} to the local marketplace")
    else:
        print(f"== local marketplace has {':'.join(image[1:])} {latest}")


def _build(deps, template: str) -> int:
    import uuid

    from aibtrigger.names import REQUESTS_QUEUE
    from aibtrigger.console import follow
    from aibtrigger.domain.model import RunState
    from aibtrigger.domain.records import RunRecord

    request_id = f"demo-{uuid.uuid4().hex[:12]}"
    deps.queue.send(REQUESTS_QUEUE, {"template": template, "reason": "make demo", "requested_by": "demo",
                                     "id": request_id})
    print(f"== requested {template} on the queue (request {request_id}); following it")
    run = follow(deps, template, request_id, timeout=600)
    if not isinstance(run, RunRecord):
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    log_file = OUT / f"{run.run_id}.customization.log"
    log_file.write_text(deps.logs.load(run.run_id) or "")
    print(f"== run {run.run_id} ended {run.state.value} after {run.polls} status reads")
    print(f"   log: {run.log_location} in Azurite, copied to {log_file}")
    for artifact in run.artifact_ids:
        _show_artifact(artifact)
    if run.excerpt:
        print(f"   failure: {run.excerpt.reason}")
    return 0 if run.state is RunState.SUCCEEDED else 1


def _show_artifact(version_id: str) -> None:
    from aibtrigger.adapters.local.gallery import LocalGallery
    from aibtrigger.bootstrap import StorageClients
    from aibtrigger.config import load_settings

    gallery = LocalGallery(StorageClients(load_settings()).blobs())
    version = gallery.get_version(version_id) or {}
    path = gallery.download(version_id, OUT)
    print(f"   artifact: {version_id}")
    print(f"   image file: {path}")
    for ancestor in version.get("lineage", []):
        print(f"   built from: {ancestor.get('type')} {ancestor.get('id')} ({ancestor.get('version')})")
