"""Faults that outlast the retries (issue 10), on real Azurite and real `aibtrigger dev` workers.

The queue retry budget is shrunk the way an operator would, through app settings the Functions host
reads (`AzureFunctionsJobHost__extensions__queues__visibilityTimeout`): 5 attempts x 4 s = 20 s. The
reconciler and the poison-queue watcher run every 5 s, claim leases get a 5 s margin. Then:

  long_outage     a cascade (ubuntu-base, then web-tier built from its image) is under way when table,
                  queue and blob storage go down for 3x the retry budget: every message in flight is
                  poisoned, the gallery event about ubuntu-base's new version is lost (the local sender,
                  unlike Event Grid, does not retry).
  poison_each     every kind of message poisoned once: a build's poll messages, a started claim's
                  request, a planner request for a new marketplace version, a manual request, a body
                  that is not base64, a malformed body.

Each returns its line: `stuck=0 lost=0 duplicates=0 recover=<s>`, recover being the time from the
fault's end until every template is building or idle with nothing owed (no claim, no message, no
builder, every run published, every poisoned message recorded).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from bench.reliability.scenarios import NEVER, OUTAGE_SKU, Cluster, wait_for

RETRY = {
    "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:04",
    "AzureFunctionsJobHost__extensions__queues__maxDequeueCount": "5",
}
RETRY_BUDGET = 5 * 4.0
FAST = {
    "AIBTRIGGER_TICK_SCHEDULE": "*/5 * * * * *",
    "AIBTRIGGER_SWEEP_SCHEDULE": NEVER,
    "AIBTRIGGER_PRUNE_SCHEDULE": NEVER,
    "AIBTRIGGER_LEASE_MARGIN_SECONDS": "5",
    **RETRY,
}
BASE, BASE_SKU = "ubuntu-base", "22_04-lts-gen2"


class Lasting:
    """One scenario's figures: the line issue 10 asks for."""

    def __init__(self, scenario: str) -> None:
        self.scenario, self.stuck, self.lost, self.duplicates = scenario, 0, 0, 0
        self.recover: float | None = None
        self.notes: list[str] = []
        self.problems: list[str] = []

    def line(self) -> str:
        recover = f"{self.recover:.0f}" if self.recover is not None else "never"
        text = (
            f"{self.scenario:<26} stuck={self.stuck} lost={self.lost} duplicates={self.duplicates} recover={recover}s"
        )
        return (
            text
            + ("  | " + "; ".join(self.notes) if self.notes else "")
            + ("  | PROBLEMS: " + " / ".join(self.problems) if self.problems else "")
        )


def cluster_for(root: Path, *, workers: int = 2) -> Cluster:
    cluster = Cluster(root, persistent=True, timers=FAST)
    for sku in (OUTAGE_SKU, BASE_SKU):  # outage-1..3's source, and ubuntu-base's (examples/catalog.yaml)
        cluster.publish_marketplace(sku)
    cluster.start_workers(workers, visibility=5.0)
    return cluster


def nothing_owed(cluster: Cluster) -> bool:
    """No claim, no queued message, no builder, every run published, no poisoned message left."""
    if not cluster.quiet() or any(cluster.poisoned().values()):
        return False
    return all(r.is_terminal and r.published for name in cluster.templates for r in cluster.runs(name))


def build_once(cluster: Cluster, name: str, timeout: float = 180) -> None:
    """A manual build of `name` and everything its success cascades to, to the end."""
    cluster.request(name, f"warm-{uuid.uuid4().hex[:8]}", reason="warm-up")
    cluster.wait(lambda: cluster.runs(name) and nothing_owed(cluster), timeout=timeout, what=f"{name} to build")


def long_outage(cluster: Cluster, *, outage_seconds: float = 3 * RETRY_BUDGET) -> Lasting:
    figures = Lasting("long outage mid-cascade")
    build_once(cluster, BASE)  # base and its children once: the next base version is then owed to them
    before = {name: len(cluster.backend_builds(name)) for name in (BASE, *BASE_CHILDREN)}
    cluster.request(BASE, f"outage-{uuid.uuid4().hex[:8]}", reason="a patch before the outage")
    cluster.wait(
        lambda: len(cluster.backend_builds(BASE)) > before[BASE], timeout=90, what=f"{BASE}'s second build to start"
    )
    newest = max(
        cluster.backend_builds(BASE), key=lambda b: (cluster.workdir / "logs" / f"{BASE}-{b}.log").stat().st_mtime
    )
    cluster.wait(lambda: cluster.verdict_written(BASE, newest), timeout=120, what=f"{BASE}'s build to end")
    cluster.stop_storage()  # the parent just ended: its gallery event and poll are in flight
    time.sleep(outage_seconds)
    cluster.start_storage()
    back = time.monotonic()

    if wait_for(lambda: _built(cluster, before, BASE_CHILDREN) and nothing_owed(cluster), timeout=300):
        figures.recover = time.monotonic() - back
    _count(cluster, figures, expected={name: count + 1 for name, count in before.items()})
    figures.notes.append(f"outage {outage_seconds:.0f} s = {outage_seconds / RETRY_BUDGET:.1f}x the retry budget")
    return figures


def poison_each(cluster: Cluster) -> Lasting:
    """The cluster's marketplace has OUTAGE_SKU published; outage-1 and outage-2 use it."""
    from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE

    figures = Lasting("every message poisoned once")
    for name in OWED:
        build_once(cluster, name)  # built once: a newer version of their source is then owed to them
    before = {name: len(cluster.backend_builds(name)) for name in cluster.templates}
    for worker in cluster.live_workers():
        worker.stop()
    # What the host does after maxDequeueCount failures, done to each kind of message while no worker runs.
    cluster.request(BASE, "manual-poisoned", reason="a manual request the host gave up on")
    manual = _move_all(cluster, REQUESTS_QUEUE)  # its outcome: 'rejected', and told; never built
    cluster.publish_marketplace(OUTAGE_SKU)
    _cli(cluster, "sweep")  # the sweep's requests for the new version ...
    planner = _move_all(cluster, REQUESTS_QUEUE)  # ... poisoned: the version is still owed to outage-1 and -2
    cluster.queue.send_raw(REQUESTS_QUEUE, b"{not json")  # intake rejects it at once, to the poison queue
    _send_undecodable(cluster, REQUESTS_QUEUE, "this is not base64 !!!")  # the host poisons it at once
    cluster.start_workers(1, visibility=5.0)
    cluster.request(SLOW, "starts-then-poisoned", reason="its poll chain will be poisoned")
    cluster.wait(lambda: len(cluster.backend_builds(SLOW)) > before[SLOW], timeout=60, what=f"{SLOW} to start")
    for worker in cluster.live_workers():
        worker.stop()
    polls = _move_all(cluster, POLLS_QUEUE)  # the poll chain dies
    back = time.monotonic()
    cluster.start_workers(2, visibility=5.0)
    if wait_for(lambda: nothing_owed(cluster) and _built(cluster, before, (SLOW, *OWED)), timeout=240):
        figures.recover = time.monotonic() - back
    expected = dict(before)
    for name in (SLOW, *OWED):
        expected[name] += 1  # SLOW by its request (finished by the reconciler), OWED by the reconciler
    _count(cluster, figures, expected=expected)
    told = [e for e in cluster.results.drain() if e.get("type") == "aibtrigger.request.poisoned"]
    want = len(manual) + len(planner) + len(polls) + 2
    if len(told) != want:
        figures.lost += max(0, want - len(told))
        figures.problems.append(f"{len(told)} poisoned events for {want} poisoned messages")
    figures.notes.append(
        f"poisoned: {len(manual)} manual, {len(planner)} planner, {len(polls)} poll, "
        f"1 not base64, 1 malformed; {len(told)} told"
    )
    return figures


BASE_CHILDREN = ("web-tier", "api-tier")
OWED = ("outage-1", "outage-2")  # built once, then a new version of their source: owed
SLOW = "outage-3"  # its steps take 12 s: its poll chain is in flight when the workers stop


def _built(cluster: Cluster, before: dict[str, int], names) -> bool:
    return all(len(cluster.backend_builds(name)) > before[name] for name in names)


def _cli(cluster: Cluster, *args: str) -> None:
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "aibtrigger.cli", *args],
        env=cluster.env(1),
        cwd=cluster.root,
        check=True,
        capture_output=True,
        timeout=120,
    )


def _move_all(cluster: Cluster, queue: str) -> list[str]:
    """Every message of `queue` to `<queue>-poison`, as the host moves one it gave up on (text as stored)."""
    from azure.storage.queue import QueueClient

    source = QueueClient.from_connection_string(cluster.connection, queue)
    target = QueueClient.from_connection_string(cluster.connection, queue + "-poison")
    try:
        target.create_queue()
    except Exception:  # noqa: BLE001 - it exists
        pass
    moved = []
    while True:
        batch = list(source.receive_messages(max_messages=32, visibility_timeout=30))
        if not batch:
            return moved
        for message in batch:
            target.send_message(message.content)
            source.delete_message(message)
            moved.append(_decoded(message.content))


def _send_undecodable(cluster: Cluster, queue: str, text: str) -> None:
    from azure.storage.queue import QueueClient

    client = QueueClient.from_connection_string(cluster.connection, queue)
    client.send_message(text)  # no encode policy: not base64, as a misconfigured producer sends it


def _decoded(content: str) -> str:
    import base64

    try:
        return base64.b64decode(content, validate=True).decode("utf-8", "replace")
    except ValueError:
        return content


def _count(cluster: Cluster, figures: Lasting, *, expected: dict[str, int]) -> None:
    claims = cluster.store.list_claims()
    figures.stuck = len(claims) + sum(
        1 for name in cluster.templates for r in cluster.runs(name) if not (r.is_terminal and r.published)
    )
    if claims:
        figures.problems.append(
            "claims left: " + ", ".join(f"{c.template} ({c.state}, {c.waiting_for})" for c in claims)
        )
    for name, want in expected.items():
        have = len(cluster.backend_builds(name))
        figures.duplicates += max(0, have - want)
        figures.lost += max(0, want - have)
        if have != want:
            figures.problems.append(f"{name}: {have} backend builds, want {want}")
    failed = Counter(r.state.value for name in cluster.templates for r in cluster.runs(name) if r.is_terminal)
    figures.notes.append("runs " + ", ".join(f"{s}={n}" for s, n in sorted(failed.items())))
    figures.notes.append(f"ended {datetime.now(UTC):%H:%M:%S}")
