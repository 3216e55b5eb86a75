"""`make demo`: the automatic path the service exists for, end to end on this machine.

Starts Azurite (data kept in .aibtrigger/azurite, so `aibtrigger dev` shows the runs afterwards) and
the dev host; publishes a patch of the template's source to the local marketplace (a real Debian
root filesystem, made once per machine); runs the sweep, which notices it; follows the base image's
rebuild and its children's cascade (isolated local builds); shows the published result events;
copies the base's artifact and log to .aibtrigger/demo/, waits for (or cancels) every build it
started, and stops what it started: no process is left behind.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import UTC, datetime
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
            definition = deps.catalog.get(template).definition
            if definition is None or definition.source.type != "PlatformImage":
                return _build(deps, template)  # no marketplace source to patch: one requested build
            return _cascade(deps, template)


@contextmanager
def leaving_nothing_running(deps, *, patience: float = 600.0):
    """Before the stack stops: wait for every build started meanwhile (cascades included), or cancel
    and record it (at once on Ctrl-C), and end any process left (Azurite, started before, is kept)."""
    from aibtrigger.devhost.processes import children
    from aibtrigger.devhost.settle import settle_builds

    since, keep = datetime.now(UTC), set(children())
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


def _publish_patch(deps, template: str) -> str:
    from aibtrigger.adapters.local.images import base_image
    from aibtrigger.adapters.local.marketplace import LocalMarketplace
    from aibtrigger.bootstrap import StorageClients
    from aibtrigger.config import load_settings

    entry = deps.catalog.get(template)
    source = entry.definition.source
    market = LocalMarketplace(StorageClients(load_settings()).blobs())
    image = (entry.location, source.publisher, source.offer, source.sku)
    print("== the local marketplace's base image: Debian minbase (debootstrap, once per machine, then cached)")
    print(f"   {base_image()}")
    version = market.publish(*image)
    print(f"== published a patch to the local marketplace: {':'.join(image[1:])}:{version}")
    return version


def _cascade(deps, template: str, *, timeout: float = 1200) -> int:
    """Patch -> sweep -> the base rebuilt -> its children cascade -> result events."""
    import time

    from aibtrigger.console import print_decisions
    from aibtrigger.service_layer import planning

    version = _publish_patch(deps, template)
    print("== sweeping the sources (what the sweep_sources timer does every 15 minutes)")
    decisions = planning.sweep_sources(deps)
    print_decisions(decisions)
    if not any(d.action == "build" for d in decisions):
        print("== the sweep decided to build nothing (paused or disabled templates?)")
        return 1
    expected = {d.template for d in decisions if d.action in ("build", "wait")}
    shown: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [
            r
            for name in deps.catalog.by_name
            for r in deps.store.list_runs(name, limit=10)
            if (r.upstream or "").endswith(f"@{version}")
        ]
        for run in runs:
            state = run.state.value if run.state else "Starting"
            state += f"/{run.sub_state.value}" if run.sub_state else ""
            if shown.get(run.run_id) != state:
                print(f"   {run.template:16} {state:24} {'; '.join(run.reasons)[:90]}")
                shown[run.run_id] = state
        ended = [r for r in runs if r.is_terminal and r.published]
        if runs and len(ended) == len(runs) and ({r.template for r in ended} >= expected or _quiet(runs)):
            return _report(deps, template, ended)
        time.sleep(1)
    print(f"== the cascade did not end within {timeout:.0f} s")
    return 1


def _quiet(runs, seconds: float = 20) -> bool:
    """Every run ended a while ago: a child whose parent failed is never built, so stop waiting."""
    from datetime import UTC, datetime

    last = max(r.ended_at for r in runs if r.ended_at)
    return (datetime.now(UTC) - last).total_seconds() > seconds


def _report(deps, template: str, runs) -> int:
    from aibtrigger.domain.model import RunState

    print("== result events published on the aib-results queue:")
    ours = {r.run_id for r in runs}
    for event in _result_events():
        data = event.get("data", {})
        if data.get("run_id") in ours:
            print(f"   {event['type']:28} {event['subject']:16} {', '.join(data.get('artifact_ids') or []) or '-'}")
            if data.get("failure"):
                print(f"   {'':28} failure: {data['failure']['reason']}")
    base = next((r for r in runs if r.template == template), None)
    if base is None:
        print(f"== {template} was not rebuilt")
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    log_file = OUT / f"{base.run_id}.customization.log"
    log_file.write_text(deps.logs.load(base.run_id) or "")
    print(f"== {template}: run {base.run_id} ended {base.state.value}; log copied to {log_file}")
    for artifact in base.artifact_ids:
        _show_artifact(artifact)
    children = [
        r
        for r in runs
        if r.upstream == base.upstream
        and r.template != template
        and any(f"parent {template}" in reason for reason in r.reasons)
    ]
    ok = base.state is RunState.SUCCEEDED and all(r.state is RunState.SUCCEEDED for r in children)
    cascade = ", ".join(f"{r.template} {r.state.value}" for r in children) or "no children"
    print(f"== cascade from {template}: {cascade}")
    return 0 if ok else 1


def _result_events(batches: int = 50) -> list[dict]:
    """Read the results queue without consuming it (each message reappears a second later)."""
    import json

    from azure.storage.queue import BinaryBase64DecodePolicy, QueueClient

    from aibtrigger.config import load_settings
    from aibtrigger.errors import ConfigError
    from aibtrigger.names import RESULTS_QUEUE

    connection = load_settings().storage_connection
    if connection is None:  # running_stack sets it: the demo always runs on Azurite
        raise ConfigError("AzureWebJobsStorage: the demo reads the results queue with a connection string")
    queue = QueueClient.from_connection_string(
        connection.get_secret_value(),
        RESULTS_QUEUE,
        message_decode_policy=BinaryBase64DecodePolicy(),
    )
    events: dict[str, dict] = {}
    for _ in range(batches):
        batch = list(queue.receive_messages(messages_per_page=32, max_messages=32, visibility_timeout=1))
        if not batch:
            break
        for message in batch:
            event = json.loads(message.content)
            events.setdefault(event.get("id"), event)
    return list(events.values())


def _build(deps, template: str) -> int:
    import uuid

    from aibtrigger.console import follow
    from aibtrigger.domain.model import RunState
    from aibtrigger.domain.records import RunRecord
    from aibtrigger.names import REQUESTS_QUEUE

    request_id = f"demo-{uuid.uuid4().hex[:12]}"
    deps.queue.send(
        REQUESTS_QUEUE, {"template": template, "reason": "make demo", "requested_by": "demo", "id": request_id}
    )
    print(f"== requested {template} on the queue (request {request_id}); following it")
    run = follow(deps, template, request_id, timeout=600)
    if not isinstance(run, RunRecord):
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    log_file = OUT / f"{run.run_id}.customization.log"
    log_file.write_text(deps.logs.load(run.run_id) or "")
    print(f"== run {run.run_id} ended {run.state} after {run.polls} status reads")
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
    for artifact in version.get("artifacts", []):
        print(f"   {artifact['name']}: {artifact['format']}, {artifact['size']} bytes, sha256 {artifact['sha256']}")
    for ancestor in version.get("lineage", []):
        print(f"   built from: {ancestor.get('type')} {ancestor.get('id')} ({ancestor.get('version')})")
