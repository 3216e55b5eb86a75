"""Reliability scenarios on real Azurite and real `aibtrigger dev` worker processes (issue 5, items 1-4).

Each scenario drives a `Cluster` (one Azurite, N `aibtrigger dev --storage ...` processes sharing it,
the local backend with tiny builds), observes the outcome from three independent places, and returns
`Figures`: signals sent, builds started, duplicates, lost, rejected (with reasons), wall time, plus
`problems`, every invariant violation found, in words. The tests (tests/reliability) run the fast
forms and assert `problems == []` and the figures; bench/reliability/run.py runs the heavy forms and
prints one line per scenario.

How a Run is counted, three ways:
  backend   the local backend spawns one builder per accepted Run, logging to
            `<workdir>/logs/<template>-<buildId>.log`: one file = one Run the backend accepted;
  records   the run history (`aibruns` table);
  events    the CloudEvents published on `aib-results` (drained and kept by `ResultsDrain`).

Scenarios:
  duplicate_storm       the same Event Grid event (a new ubuntu-base gallery version) delivered N times
                        concurrently to every worker -> one Run per affected template (web-tier, api-tier).
  racing_triggers       a manual request, a schedule tick and a source update for one template at the same
                        second, across the workers -> one build plus at most one follow-up carrying every
                        reason; never two builders alive for the template (sampled from /proc).
  crash_at_every_step   a worker with AIBTRIGGER_CRASH_AT=<step> SIGKILLs itself there; a worker without it
                        takes over -> one Run, one terminal record, one published result (by id).
  storage_outage        Azurite (persisted on disk) stopped and restarted on the same ports while builds
                        run and polls are scheduled -> every run ends recorded and published; no process dies.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

# Local builds here measure the service, not images: the few-MB busybox base image (issue 13).
os.environ.setdefault("AIBTRIGGER_LOCAL_IMAGE", "busybox")

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
GALLERY = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/images/providers/Microsoft.Compute/galleries/golden/images/"
LOCATION, PUBLISHER, OFFER = "westeurope", "Canonical", "0001-com-ubuntu-server-jammy"
RACER_SKU, CRASH_SKU, OUTAGE_SKU = "rel-racer", "rel-crash", "rel-outage"
NEVER = "0 0 0 1 1 *"  # a timer that must stay quiet during a scenario: midnight on January 1st
WEBHOOK = "/runtime/webhooks/EventGrid?functionName=on_gallery_event"
STORM_CHILDREN = ("web-tier", "api-tier")  # built from ubuntu-base's gallery image at /versions/latest
RACER = "racer"
OUTAGE_TEMPLATES = ("outage-1", "outage-2", "outage-3")


# --- the catalog ----------------------------------------------------------------------------------------
def _platform(sku: str) -> dict:
    return {"type": "PlatformImage", "publisher": PUBLISHER, "offer": OFFER, "sku": sku, "version": "latest"}


def template(name: str, script: list[str], *, source: dict, timeout_minutes: int = 600, **policy) -> dict:
    return {
        "name": name,
        "location": LOCATION,
        "policy": policy,
        "definition": {
            "source": source,
            "customize": [{"type": "Shell", "name": "work", "inline": script}],
            "distribute": [{"type": "SharedImage", "galleryImageId": GALLERY + name, "runOutputName": name}],
            "buildTimeoutInMinutes": timeout_minutes,
        },
    }


def crash_template(step: str) -> str:
    return "crash-" + step.replace("_", "-")


def reliability_templates(*, race_schedule: str = NEVER) -> list[dict]:
    """Added to examples/catalog.yaml. Each scenario's templates use skus of their own, so a sweep run
    by one scenario never builds another's templates."""
    from aibtrigger.service_layer.crashpoints import STEPS

    child = {"type": "SharedImageVersion", "imageVersionId": GALLERY + "ubuntu-base/versions/latest"}
    return [
        template("api-tier", ["mkdir -p /srv/api", "echo api > /srv/api/name"], source=child),
        # Its schedule is the racing cluster's tick timer: exactly the rounds' ticks (see racing_cluster).
        template(RACER, ["echo racing", "sleep 2"], source=_platform(RACER_SKU), schedule=race_schedule),
        *[
            template(crash_template(step), ["echo crash test", "sleep 1"], source=_platform(CRASH_SKU))
            for step in STEPS
        ],
        # Long enough for Azurite to be stopped and restarted while it runs.
        *[
            template(name, ["echo waiting out the outage", "sleep 12"], source=_platform(OUTAGE_SKU))
            for name in OUTAGE_TEMPLATES
        ],
    ]


# --- figures --------------------------------------------------------------------------------------------
@dataclass
class Figures:
    scenario: str
    signals: int = 0  # signals sent (deliveries, requests, ticks)
    builds: int = 0  # Runs the backend accepted
    duplicates: int = 0  # Runs beyond one per signal-set that needed one (must be 0)
    lost: int = 0  # signals or requests that ended in no outcome / no run (must be 0)
    rejected: Counter = field(default_factory=Counter)  # reason -> count
    wall: float = 0.0  # seconds, from the first signal to everything settled
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # invariant violations, in words (must be empty)

    def line(self) -> str:
        rejected = sum(self.rejected.values())
        reasons = "; ".join(f"{n}x {r[:80]}" for r, n in self.rejected.most_common(3))
        text = (
            f"{self.scenario:<26} signals={self.signals:<5} builds={self.builds:<4} "
            f"duplicates={self.duplicates:<2} lost={self.lost:<2} "
            f"rejected={rejected}{f' ({reasons})' if reasons else ''}  wall={self.wall:.1f}s"
        )
        if self.notes:
            text += "  | " + "; ".join(self.notes)
        if self.problems:
            text += "  | PROBLEMS: " + " / ".join(self.problems)
        return text

    def merge(self, other: Figures) -> None:
        self.signals += other.signals
        self.builds += other.builds
        self.duplicates += other.duplicates
        self.lost += other.lost
        self.rejected.update(other.rejected)
        self.wall += other.wall
        self.notes += other.notes
        self.problems += other.problems


# --- processes --------------------------------------------------------------------------------------------
def free_port() -> int:
    from aibtrigger.devhost.session import free_port as _free

    return _free()


class Worker:
    """One `aibtrigger dev --storage CONN` process: the Functions host of one instance."""

    def __init__(self, name: str, process: subprocess.Popen, port: int, log_path: Path, crash_at: str | None):
        self.name, self.process, self.port, self.log_path, self.crash_at = name, process, port, log_path, crash_at
        self.url = f"http://127.0.0.1:{port}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def responds(self) -> bool:
        try:
            urllib.request.urlopen(self.url + "/api/nothing-here", timeout=2)
        except urllib.error.HTTPError:
            return True  # the dev host answered (404)
        except OSError:
            return False
        return True

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 45) -> int:
        """SIGTERM: the dev host drains its invocations and exits 0."""
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
        code = self.wait_exit(timeout)
        if code is None:
            self.process.kill()
            code = self.process.wait()
        return code

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def post(self, path: str, payload, *, headers: dict | None = None, timeout: float = 60) -> int:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        request = urllib.request.Request(
            self.url + path, data=body, method="POST", headers={"Content-Type": "application/json", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code


class ResultsDrain:
    """Consumes `aib-results` (receive + delete) and keeps every event, so counts see all of them."""

    def __init__(self, connection: str):
        from azure.storage.queue import QueueClient, TextBase64DecodePolicy

        from aibtrigger.names import RESULTS_QUEUE

        self._queue = QueueClient.from_connection_string(
            connection, RESULTS_QUEUE, message_decode_policy=TextBase64DecodePolicy()
        )
        self._lock = threading.Lock()
        self.events: list[dict] = []

    def drain(self) -> list[dict]:
        from azure.core.exceptions import ResourceNotFoundError

        with self._lock:
            try:
                while True:
                    batch = list(
                        next(self._queue.receive_messages(messages_per_page=32, visibility_timeout=120).by_page(), [])
                    )
                    if not batch:
                        break
                    for message in batch:
                        self.events.append(json.loads(message.content))
                        self._queue.delete_message(message)
            except ResourceNotFoundError:  # nothing was ever published
                pass
            return list(self.events)


class Cluster:
    """One Azurite, a catalog, a workdir, and the `aibtrigger dev` workers started on them."""

    def __init__(
        self, root: Path, *, persistent: bool = False, timers: dict[str, str] | None = None, race_schedule: str = NEVER
    ):
        from aibtrigger.devhost.azurite import start_azurite

        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        shutil.copytree(ROOT / "examples", root / "catalog", dirs_exist_ok=True)
        self.catalog_path = root / "catalog" / "catalog.yaml"
        catalog = yaml.safe_load(self.catalog_path.read_text())
        catalog["templates"] += reliability_templates(race_schedule=race_schedule)
        self.catalog_path.write_text(yaml.safe_dump(catalog, sort_keys=False))
        self.templates = [t["name"] for t in catalog["templates"]]
        self.workdir = (root / "work").resolve()
        self.workdir.mkdir(exist_ok=True)
        self.data_dir = (root / "azurite") if persistent else None
        if self.data_dir:
            self.data_dir.mkdir(exist_ok=True)
        self.timers = {
            "AIBTRIGGER_TICK_SCHEDULE": NEVER,
            "AIBTRIGGER_SWEEP_SCHEDULE": NEVER,
            "AIBTRIGGER_PRUNE_SCHEDULE": NEVER,
            **(timers or {}),
        }
        self.azurite = start_azurite(data_dir=self.data_dir)
        self.ports = tuple(
            int(e.rsplit(":", 1)[1])
            for e in (self.azurite.blob_endpoint, self.azurite.queue_endpoint, self.azurite.table_endpoint)
        )
        self.connection = self.azurite.connection_string
        self.workers: list[Worker] = []
        self.round_ticks: list[datetime] = []  # racing_cluster: when the tick and sweep timers fire
        self._count = 0
        self.results = ResultsDrain(self.connection)
        from azure.data.tables import TableServiceClient
        from azure.storage.queue import QueueServiceClient

        from aibtrigger.adapters.local.layout import blob_service
        from aibtrigger.adapters.local.state import TemplateStateStore
        from aibtrigger.adapters.queues import StorageQueue
        from aibtrigger.adapters.tables_store import TableStateStore

        self.store = TableStateStore(TableServiceClient.from_connection_string(self.connection))
        self.store.create_tables()
        self.queue = StorageQueue(QueueServiceClient.from_connection_string(self.connection))
        self.blobs = blob_service(self.connection)
        self.local_state = TemplateStateStore(self.blobs)

    # --- storage ------------------------------------------------------------------------------------------
    def stop_storage(self) -> None:
        self.azurite.stop()

    def start_storage(self) -> None:
        """Azurite again, same data folder, same ports: every client reconnects where it was."""
        from aibtrigger.devhost.azurite import start_azurite

        deadline = time.monotonic() + 30
        while True:
            try:
                self.azurite = start_azurite(data_dir=self.data_dir, ports=self.ports)
                break
            except (RuntimeError, TimeoutError):  # a port still held for a moment: try again
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert self.azurite.connection_string == self.connection

    # --- workers ------------------------------------------------------------------------------------------
    def env(self, port: int, *, crash_at: str | None = None) -> dict[str, str]:
        base = {
            k: v for k, v in os.environ.items() if not k.startswith(("AIBTRIGGER_", "AzureWebJobsStorage"))
        }  # nothing from the caller's stack
        base.update(
            {
                "AzureWebJobsStorage": self.connection,
                "AIBTRIGGER_CATALOG_PATH": str(self.catalog_path),
                "AIBTRIGGER_BACKEND": "local",
                "AIBTRIGGER_LOCAL_WORKDIR": str(self.workdir),
                "AIBTRIGGER_LOCAL_SECONDS_PER_MINUTE": "1",
                "AIBTRIGGER_POLL_MIN_SECONDS": "0.5",
                "AIBTRIGGER_POLL_MAX_SECONDS": "1",
                "AIBTRIGGER_LOCAL_EVENT_WEBHOOK": f"http://127.0.0.1:{port}{WEBHOOK}",
                **self.timers,
            }
        )
        if crash_at:
            base["AIBTRIGGER_CRASH_AT"] = crash_at
        return base

    def start_worker(self, *, crash_at: str | None = None, visibility: float = 60.0, wait: bool = True) -> Worker:
        self._count += 1
        name = f"worker-{self._count}" + (f"-crash-at-{crash_at}" if crash_at else "")
        folder = self.root / name
        folder.mkdir(exist_ok=True)
        port = free_port()
        log_path = folder / "dev.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aibtrigger.cli",
                    "dev",
                    "--storage",
                    self.connection,
                    "--port",
                    str(port),
                    "--message-visibility",
                    str(visibility),
                ],
                cwd=folder,
                env=self.env(port, crash_at=crash_at),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        worker = Worker(name, process, port, log_path, crash_at)
        self.workers.append(worker)
        if wait:
            self.wait_ready(worker)
        return worker

    def start_workers(self, count: int, **options) -> list[Worker]:
        started = [self.start_worker(wait=False, **options) for _ in range(count)]
        for worker in started:
            self.wait_ready(worker)
        return started

    def wait_ready(self, worker: Worker, timeout: float = 90) -> None:
        self.wait(lambda: worker.responds() or not worker.alive(), timeout=timeout, what=f"{worker.name} to start")
        if not worker.alive():
            raise AssertionError(f"{worker.name} exited at start:\n{worker.log_tail()}")

    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers if w.alive()]

    def close(self) -> None:
        for worker in self.workers:
            if worker.alive():
                worker.stop(timeout=20)
        for pid, _, _ in self.live_builders():  # builders run in their own sessions: end ours only
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        self.azurite.stop()

    # --- signals ------------------------------------------------------------------------------------------
    def request(self, template_name: str, request_id: str, reason: str = "reliability") -> None:
        from aibtrigger.names import REQUESTS_QUEUE

        self.queue.send(
            REQUESTS_QUEUE,
            {"template": template_name, "reason": reason, "requested_by": "reliability", "id": request_id},
        )

    def publish_marketplace(self, sku: str) -> str:
        from aibtrigger.adapters.local.marketplace import LocalMarketplace

        return LocalMarketplace(self.blobs).publish(LOCATION, PUBLISHER, OFFER, sku)

    # --- observations -------------------------------------------------------------------------------------
    def backend_builds(self, template_name: str) -> set[str]:
        """Build ids of every Run the local backend accepted for the template (one builder log each)."""
        pattern = re.compile(rf"^{re.escape(template_name)}-([0-9a-f]{{8}}-[0-9a-f-]{{27}})\.log$")
        folder = self.workdir / "logs"
        if not folder.exists():
            return set()
        return {m.group(1) for p in folder.iterdir() if (m := pattern.match(p.name))}

    def runs(self, template_name: str):
        return self.store.list_runs(template_name, limit=10_000)

    def events(self, *, subject: str | None = None) -> list[dict]:
        return [
            e
            for e in self.results.drain()
            if e.get("type", "").startswith("aibtrigger.build.") and (subject is None or e.get("subject") == subject)
        ]

    def rejections(self, since: datetime) -> Counter:
        from aibtrigger.domain.records import Outcome

        found = Counter(
            o.detail.split(":")[0] if o.detail.startswith("invalid") else o.detail
            for o in self.store.list_outcomes(None, limit=100_000)
            if o.outcome is Outcome.REJECTED and o.at >= since
        )
        return found

    def poisoned(self) -> dict[str, int]:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.queue import QueueClient

        from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE

        counts = {}
        for name in (REQUESTS_QUEUE + "-poison", POLLS_QUEUE + "-poison"):
            try:
                counts[name] = (
                    QueueClient.from_connection_string(self.connection, name)
                    .get_queue_properties()
                    .approximate_message_count
                )
            except ResourceNotFoundError:
                counts[name] = 0
        return counts

    def queues_idle(self) -> bool:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.queue import QueueClient

        from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE

        for name in (REQUESTS_QUEUE, POLLS_QUEUE):
            try:
                if (
                    QueueClient.from_connection_string(self.connection, name)
                    .get_queue_properties()
                    .approximate_message_count
                ):
                    return False
            except ResourceNotFoundError:
                pass
        return True

    def quiet(self) -> bool:
        return not self.store.list_claims() and self.queues_idle() and not self.live_builders()

    def settle(self, timeout: float = 180) -> None:
        """Nothing claimed, queued or building, twice in a row: every build and follow-up has ended."""
        self.wait(
            lambda: self.quiet() and (time.sleep(1.0) or self.quiet()),
            timeout=timeout,
            what="every build to end and the queues to empty",
        )

    def live_builders(self, template_name: str | None = None) -> list[tuple[int, str, str]]:
        """(pid, template, build id) of this cluster's local builder processes (cwd: its workdir) alive now."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if b"aibtrigger.adapters.local.builder" not in argv:
                    continue
                if os.readlink(entry / "cwd") != str(self.workdir):
                    continue
                if (entry / "stat").read_text().split(")")[-1].split()[0] == "Z":
                    continue  # exited, not yet reaped
                at = argv.index(b"aibtrigger.adapters.local.builder")
                name, build_id = argv[at + 1].decode(), argv[at + 2].decode()
            except (OSError, IndexError, ValueError):
                continue
            if template_name is None or name == template_name:
                found.append((int(entry.name), name, build_id))
        return found

    def verdict_written(self, template_name: str, build_id: str) -> bool:
        """The builder logs `... ended: <state>` right after writing its verdict; it only exits after that."""
        try:
            return " ended: " in (self.workdir / "logs" / f"{template_name}-{build_id}.log").read_text(errors="replace")
        except OSError:
            return False

    def wait(self, predicate, *, timeout: float, what: str, interval: float = 0.25):
        value = wait_for(predicate, timeout=timeout, interval=interval)
        if value:
            return value
        logs = "\n".join(
            f"--- {w.name} ({'alive' if w.alive() else f'exit {w.process.returncode}'}):\n{w.log_tail(2000)}"
            for w in self.workers[-4:]
        )
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")

    def worker_errors(self) -> Counter:
        """Failed invocations and tracebacks in the workers' logs, by function."""
        found = Counter()
        for worker in self.workers:
            for line in worker.log_tail(10**9).splitlines():
                failed = re.search(r"Executed 'Functions\.(\w+)' \(Failed", line)
                if failed:
                    found[failed.group(1)] += 1
        return found


# --- clusters as the scenarios want them ----------------------------------------------------------------
def storm_cluster(root: Path, *, workers: int = 4) -> Cluster:
    cluster = Cluster(root)
    cluster.start_workers(workers)
    return cluster


def racing_cluster(root: Path, *, rounds: int = 1, period: int = 20, workers: int = 4, lead: float = 10.0) -> Cluster:
    """Every worker's tick and sweep timers, and the racer's own schedule, fire every `period` s (UTC
    seconds divisible by it): each such tick is a round. The workers are started `lead` s before a tick,
    so the first tick they see is the first round's (none builds before the scenario acts); rounds then
    follow tick after tick, each over before the next."""
    every = f"*/{period} * * * * *"
    cluster = Cluster(
        root, timers={"AIBTRIGGER_TICK_SCHEDULE": every, "AIBTRIGGER_SWEEP_SCHEDULE": every}, race_schedule=every
    )
    now = time.time()
    first = (int(now + lead) // period + 1) * period
    time.sleep(max(0.0, first - lead - time.time()))
    cluster.start_workers(workers)
    if time.time() > first - 2:
        cluster.close()
        raise RuntimeError(f"the workers took more than {lead - 2:g} s to start: too late for the first tick")
    cluster.round_ticks = [datetime.fromtimestamp(first + k * period, UTC) for k in range(rounds)]
    return cluster


def crash_cluster(root: Path) -> Cluster:
    """No worker yet: each crash step starts its own."""
    cluster = Cluster(root)
    cluster.publish_marketplace(CRASH_SKU)
    return cluster


def outage_cluster(root: Path, *, workers: int = 2, visibility: float = 5.0) -> Cluster:
    cluster = Cluster(root, persistent=True)
    cluster.publish_marketplace(OUTAGE_SKU)
    cluster.start_workers(workers, visibility=visibility)
    return cluster


def wait_for(predicate, *, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - e.g. storage down for a moment: look again
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


# --- gallery events -------------------------------------------------------------------------------------
def seed_gallery_version(cluster: Cluster, image: str = "ubuntu-base", version: str = "1.0.0") -> str:
    """A new version of a gallery image, written as the local backend writes one but without its event,
    so the scenario decides how (and how often) Event Grid delivers it."""
    from aibtrigger.adapters.local.gallery import LocalGallery
    from aibtrigger.adapters.local.images import busybox_image
    from aibtrigger.adapters.local.rootfs import os_release, restamp

    artifact = restamp(
        busybox_image(),
        cluster.root / f"{image}-{version}.tar.gz",
        {  # a root filesystem builds run in
            "etc/os-release": os_release(
                name="Ubuntu", version_id="22.04", image_version=version, pretty=f"golden {image} {version}"
            ),
            "etc/motd": "seeded by the reliability suite\n",
        },
    )
    platform = {
        "type": "PlatformImage",
        "id": f"/Providers/Microsoft.Compute/Locations/{LOCATION}/Publishers/"
        f"{PUBLISHER}/ArtifactTypes/VMImage/Offers/{OFFER}/Skus/22_04-lts-gen2/Versions/22.04.202601010",
        "version": "22.04.202601010",
    }
    return LocalGallery(cluster.blobs).create_version(
        GALLERY + image,
        version,
        artifact,
        {
            "template": image,
            "buildId": "seeded",
            "excludeFromLatest": False,
            "source": {**platform, "exactVersion": platform["version"]},
            "lineage": [platform],
        },
    )


def gallery_event(version_id: str, event_id: str) -> list[dict]:
    """What Event Grid delivers for a gallery image version write (Event Grid schema, one event)."""
    return [
        {
            "id": event_id,
            "topic": f"/subscriptions/{SUBSCRIPTION}",
            "subject": version_id,
            "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "eventTime": _iso(datetime.now(UTC)),
            "dataVersion": "",
            "metadataVersion": "1",
            "data": {
                "operationName": "Microsoft.Compute/galleries/images/versions/write",
                "resourceUri": version_id,
                "status": "Succeeded",
                "subscriptionId": SUBSCRIPTION,
            },
        }
    ]


def deliver(worker: Worker, body: bytes, *, attempts: int = 8) -> tuple[int, int, list[str]]:
    """One Event Grid delivery, retried as Event Grid retries (an error status or no answer):
    (final status, tries, what each failed try got)."""
    status, failures = 0, []
    for attempt in range(1, attempts + 1):
        try:
            status = worker.post(WEBHOOK, body, headers={"aeg-event-type": "Notification"}, timeout=60)
        except OSError as exc:
            status = 0
            failures.append(type(getattr(exc, "reason", None) or exc).__name__)
        if 200 <= status < 300:
            return status, attempt, failures
        if status:
            failures.append(f"HTTP {status}")
        time.sleep(0.2 * attempt)
    return status, attempts, failures


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- 1. duplicate storm ------------------------------------------------------------------------------------
def duplicate_storm(
    cluster: Cluster, *, deliveries: int, concurrency: int = 48, settle_timeout: float = 240
) -> Figures:
    """The same gallery event, `deliveries` times, spread over every live worker, all at once."""
    from aibtrigger.domain.records import Outcome

    figures = Figures("1 duplicate storm", signals=deliveries)
    workers = cluster.live_workers()
    version_id = seed_gallery_version(cluster)
    event_id = f"storm-{uuid.uuid4()}"
    body = json.dumps(gallery_event(version_id, event_id)).encode()
    since = _utcnow() - timedelta(seconds=1)
    started = time.monotonic()
    barrier = threading.Barrier(min(concurrency, deliveries))

    def send(index: int) -> tuple[int, int, list[str]]:
        if index < barrier.parties:
            barrier.wait()  # the first wave leaves together
        return deliver(workers[index % len(workers)], body)

    with ThreadPoolExecutor(max_workers=barrier.parties) as pool:
        answers = list(pool.map(send, range(deliveries)))
    sent_for = time.monotonic() - started
    wait_for(
        lambda: all(any(r.is_terminal and r.published for r in cluster.runs(t)) for t in STORM_CHILDREN),
        timeout=settle_timeout,
    )
    cluster.settle(timeout=settle_timeout)
    figures.wall = time.monotonic() - started

    unanswered = [a for a in answers if not 200 <= a[0] < 300]
    builds = {t: cluster.backend_builds(t) for t in cluster.templates}
    figures.builds = sum(len(b) for b in builds.values())
    events = cluster.events()
    for name in STORM_CHILDREN:
        runs = cluster.runs(name)
        ids = [e["id"] for e in events if e["subject"] == name]
        if len(builds[name]) != 1:
            figures.problems.append(f"{name}: the backend accepted {len(builds[name])} Runs (want 1)")
        if len(runs) != 1:
            figures.problems.append(f"{name}: {len(runs)} run records (want 1)")
        elif not (runs[0].is_terminal and runs[0].published) or runs[0].state.value != "Succeeded":
            figures.problems.append(f"{name}: run {runs[0].run_id} ended {runs[0].state} (want Succeeded, published)")
        if len(set(ids)) != 1:
            figures.problems.append(f"{name}: {len(set(ids))} distinct published results (want 1)")
        requests = [o for o in cluster.store.list_outcomes(name, limit=10_000) if o.at >= since]
        if len(requests) != 1 or requests[0].outcome is not Outcome.STARTED:
            figures.problems.append(
                f"{name}: request outcomes {[(o.request_id, o.outcome.value) for o in requests]} (want one, started)"
            )
        figures.duplicates += max(0, len(builds[name]) - 1)
        figures.lost += 0 if runs and any(r.is_terminal and r.published for r in runs) else 1
    strays = {t: len(b) for t, b in builds.items() if b and t not in STORM_CHILDREN}
    if strays:
        figures.problems.append(f"templates the event does not affect were built: {strays}")
        figures.duplicates += sum(strays.values())
    record = cluster.store.get_outcome("", "event-" + hashlib.sha1(event_id.encode()).hexdigest()[:24])
    if record is None or record.outcome is not Outcome.PLANNED:
        figures.problems.append(f"the event's own outcome is {record and record.outcome} (want planned)")
    if unanswered:
        figures.problems.append(
            f"{len(unanswered)} deliveries never answered 2xx (last status "
            f"{unanswered[-1][0]}): Event Grid would have given up"
        )
        figures.lost += len(unanswered)
    figures.rejected = cluster.rejections(since)
    failed_tries = Counter(f for _, _, failures in answers for f in failures)
    figures.notes += [
        f"{len(workers)} workers",
        f"deliveries sent in {sent_for:.1f}s",
        "failed tries redelivered: " + (", ".join(f"{n}x {f}" for f, n in failed_tries.items()) or "none"),
        "runs " + ", ".join(f"{t}={len(builds[t])}" for t in STORM_CHILDREN),
    ]
    return figures


# --- 2. racing triggers ------------------------------------------------------------------------------------
class Sampler:
    """Looks every 50 ms at the template's builder processes, its claim and its backend state.

    `max_building`: builders alive at once that had not yet written their verdict (the invariant: at
    most 1). `max_processes`: builder processes alive at once, counting one that wrote its verdict and is
    only exiting (informative)."""

    def __init__(self, cluster: Cluster, template_name: str, interval: float = 0.05):
        self.cluster, self.template, self.interval = cluster, template_name, interval
        self.samples = 0
        self.max_building = 0
        self.max_processes = 0
        self.overlaps: list[list[str]] = []
        self.active_build_ids: set[str] = set()
        self.claimed_runs: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            alive = self.cluster.live_builders(self.template)
            # Distinct builds: a builder's step process, between its fork and its exec, still shows the
            # builder's command line and folder (the same build id twice is one build, not two).
            building = sorted({build for _, name, build in alive if not self.cluster.verdict_written(name, build)})
            self.samples += 1
            self.max_processes = max(self.max_processes, len(alive))
            self.max_building = max(self.max_building, len(building))
            if len(building) > 1:
                self.overlaps.append(building)
            try:
                doc = self.cluster.local_state.read(self.template) or {}
                if (doc.get("lastRunStatus") or {}).get("runState") in ("Running", "Canceling"):
                    self.active_build_ids.add(doc.get("buildId"))
                claim = self.cluster.store.get_claim(self.template)
                if claim is not None:
                    self.claimed_runs.add(claim.run_id)
            except Exception:  # noqa: BLE001 - sampling only
                pass


def racing_triggers(cluster: Cluster, *, rounds: int | None = None) -> Figures:
    """Each round, at the same second T on every worker: the schedule tick (tick timers at T), a source
    update (a new marketplace version, found by the sweep timers at T) and a manual request (HTTP at T).
    The cluster comes from racing_cluster(), which fixed the rounds' ticks."""
    ticks = cluster.round_ticks[:rounds] if rounds else cluster.round_ticks
    if not ticks:
        raise ValueError("racing_triggers needs a cluster made by racing_cluster()")
    figures = Figures("2 racing triggers", signals=3 * len(ticks))
    workers = cluster.live_workers()
    since = _utcnow() - timedelta(seconds=1)
    wall = 0.0
    with Sampler(cluster, RACER) as sampler:
        for number, tick in enumerate(ticks, 1):
            builds_before = cluster.backend_builds(RACER)
            runs_before = {r.run_id for r in cluster.runs(RACER)}
            if time.time() > tick.timestamp() - 1.0:
                figures.problems.append(f"round {number}: the previous round was not over before its tick {tick}")
            version = cluster.publish_marketplace(RACER_SKU)
            time.sleep(max(0.0, tick.timestamp() - time.time()))
            started = time.monotonic()
            manual_id = f"manual-{uuid.uuid4().hex[:12]}"
            status = workers[number % len(workers)].post(
                "/api/requests",
                {
                    "template": RACER,
                    "reason": f"manual request, round {number}",
                    "requested_by": "reliability",
                    "id": manual_id,
                },
            )
            if status != 202:
                figures.problems.append(f"round {number}: POST /api/requests answered {status}")

            def round_outcomes():
                return [
                    o
                    for o in cluster.store.list_outcomes(RACER, limit=10_000)
                    if o.at >= tick - timedelta(seconds=1)  # noqa: B023 (called within this round)
                ]

            def signals_arrived():
                ids = {o.request_id for o in round_outcomes()}
                return (
                    manual_id in ids  # noqa: B023 (called within this round)
                    and any(i.startswith("schedule-") for i in ids)
                    and any(i.startswith("source-") for i in ids)
                )

            following = ticks[number] if number < len(ticks) else tick + timedelta(seconds=60)
            wait_for(signals_arrived, timeout=max(5.0, following.timestamp() - time.time() - 8))
            cluster.settle()
            wall += time.monotonic() - started
            builds = cluster.backend_builds(RACER) - builds_before
            figures.builds += len(builds)
            _check_race_round(
                cluster,
                figures,
                number,
                version,
                manual_id,
                round_outcomes(),
                [r for r in cluster.runs(RACER) if r.run_id not in runs_before],
                builds,
            )
    figures.wall = wall
    if sampler.max_building > 1:
        figures.problems.append(f"two builds of {RACER} in progress at once: {sampler.overlaps[:3]}")
    figures.notes += [
        f"{len(workers)} workers, each firing the tick and the sweep",
        f"{sampler.samples} samples: at most {sampler.max_building} build in progress "
        f"({sampler.max_processes} builder processes incl. one exiting after its verdict)",
    ]
    figures.rejected = cluster.rejections(since)
    return figures


def _check_race_round(
    cluster, figures: Figures, number: int, version: str, manual_id: str, outcomes, runs, builds
) -> None:
    from aibtrigger.domain.records import Outcome

    by_id = {o.request_id: o for o in outcomes}
    signal_ids = [manual_id] + sorted(i for i in by_id if i.startswith(("schedule-", "source-")))
    kinds = Counter(i.split("-")[0] for i in signal_ids)
    where = f"round {number}"
    if kinds != Counter({"manual": 1, "schedule": 1, "source": 1}):
        figures.problems.append(f"{where}: requests {sorted(by_id)} (want one manual, one schedule, one source)")
        figures.lost += sum(1 for k in ("manual", "schedule", "source") if not kinds[k])
    runs = sorted(runs, key=lambda r: r.started_at or r.created_at)
    serving = {i: [r.run_id for r in runs if i in r.request_ids] for i in signal_ids}
    for request_id, serving_runs in serving.items():
        if len(serving_runs) != 1:
            figures.problems.append(f"{where}: request {request_id} served by {len(serving_runs)} runs")
            figures.lost += not serving_runs
            figures.duplicates += max(0, len(serving_runs) - 1)
        outcome = by_id.get(request_id)
        if outcome is None or outcome.outcome not in (Outcome.STARTED, Outcome.COALESCED):
            figures.problems.append(f"{where}: request {request_id} outcome {outcome and outcome.outcome}")
    if not 1 <= len(runs) <= 2:
        figures.problems.append(f"{where}: {len(runs)} runs (want one build plus at most one follow-up)")
        figures.duplicates += max(0, len(runs) - 2)
    if len(builds) != len(runs):
        figures.problems.append(f"{where}: the backend accepted {len(builds)} Runs for {len(runs)} run records")
        figures.duplicates += max(0, len(builds) - len(runs))
    if len(runs) == 2:
        first, follow_up = runs
        if first.ended_at and follow_up.started_at and follow_up.started_at < first.ended_at:
            figures.problems.append(
                f"{where}: the follow-up started {follow_up.started_at} before the first build ended {first.ended_at}"
            )
        carried = [by_id[i] for i in signal_ids if i in follow_up.request_ids and i in by_id]
        missing = [r for o in carried for r in o.reasons if r not in follow_up.reasons]
        if missing:
            figures.problems.append(f"{where}: the follow-up does not carry the reasons {missing}")
        if f"{first.run_id}+followup" not in follow_up.request_ids:
            figures.problems.append(f"{where}: the follow-up was not handed over by {first.run_id}")
    ids = [e["id"] for e in cluster.events(subject=RACER) if any(e["data"]["run_id"] == r.run_id for r in runs)]
    for run in runs:
        if not (run.is_terminal and run.published) or run.state.value != "Succeeded":
            figures.problems.append(f"{where}: run {run.run_id} ended {run.state} published={run.published}")
    if len(set(ids)) != len(runs):
        figures.problems.append(f"{where}: {len(set(ids))} distinct published results for {len(runs)} runs")
    if not any(version == r.source_version for r in runs):
        figures.problems.append(f"{where}: no run used the new source version {version}")
    figures.notes.append(
        f"round {number}: {len(runs)} runs "
        + " + ".join(f"[{', '.join(sorted(i.split('-')[0] for i in r.request_ids if i in serving))}]" for r in runs)
    )


# --- 3. crash at every step --------------------------------------------------------------------------------
def crash_at_every_step(cluster: Cluster, steps=None, *, visibility: float = 3.0, repeat: int = 1) -> Figures:
    """Per step: a worker with AIBTRIGGER_CRASH_AT=<step> takes a request and SIGKILLs itself at that
    boundary; a worker without the variable (same Azurite, same workdir) is started and finishes the job.

    `visibility` is the workers' --message-visibility: how soon the killed worker's message reappears."""
    from aibtrigger.service_layer.crashpoints import STEPS

    figures = Figures("3 crash at every step")
    for _ in range(repeat):
        for step in steps or STEPS:
            figures.merge(crash_once(cluster, step, visibility=visibility))
    figures.scenario = "3 crash at every step"
    return figures


def crash_once(cluster: Cluster, step: str, *, visibility: float = 3.0) -> Figures:
    """One step: crash there, restart, check. Figures named after the step."""
    from aibtrigger.domain.records import Outcome

    name = crash_template(step)
    figures = Figures(step, signals=1)
    since = _utcnow() - timedelta(seconds=1)
    builds_before = cluster.backend_builds(name)
    runs_before = {r.run_id for r in cluster.runs(name)}
    started = time.monotonic()
    crashing = cluster.start_worker(crash_at=step, visibility=visibility)
    request_id = f"crash-{uuid.uuid4().hex[:12]}"
    cluster.request(name, request_id, reason=f"crash test at {step}")
    code = crashing.wait_exit(timeout=90)
    if code != -signal.SIGKILL:
        figures.problems.append(f"{step}: the worker did not die by SIGKILL (exit {code})")
        crashing.stop(timeout=5)
    survivor = cluster.start_worker(visibility=visibility)

    def finished():
        found = [r for r in cluster.runs(name) if request_id in r.request_ids]
        return found if found and all(r.is_terminal and r.published for r in found) else None

    wait_for(finished, timeout=120)
    cluster.settle(timeout=120)
    figures.wall = time.monotonic() - started
    stopped = survivor.stop()
    if stopped != 0:
        figures.problems.append(f"{step}: the restarted worker exited {stopped} on SIGTERM (want 0)")

    builds = cluster.backend_builds(name) - builds_before
    runs = [r for r in cluster.runs(name) if r.run_id not in runs_before]
    serving = [r for r in runs if request_id in r.request_ids]
    figures.builds = len(builds)
    if len(builds) != 1:
        figures.problems.append(f"{step}: the backend accepted {len(builds)} Runs (want 1)")
    figures.duplicates = max(0, len(builds) - 1) + max(0, len(runs) - 1)
    if len(runs) != 1 or len(serving) != 1:
        figures.problems.append(f"{step}: {len(runs)} run records, {len(serving)} serving the request (want 1)")
    terminal = [r for r in serving if r.is_terminal and r.published]
    if not terminal:
        figures.lost = 1
        figures.problems.append(f"{step}: the request never reached a published terminal record")
    elif terminal[0].state.value != "Succeeded":
        figures.problems.append(f"{step}: run ended {terminal[0].state.value}: {terminal[0].message}")
    outcome = cluster.store.get_outcome(name, request_id)
    if outcome is None or outcome.outcome is not Outcome.STARTED:
        figures.problems.append(f"{step}: request outcome {outcome and outcome.outcome} (want started)")
    ids = [e["id"] for e in cluster.events(subject=name) if any(e["data"]["run_id"] == r.run_id for r in runs)]
    if len(set(ids)) != 1:
        figures.problems.append(f"{step}: {len(set(ids))} distinct published results (want 1)")
    if cluster.store.get_claim(name) is not None:
        figures.problems.append(f"{step}: the claim on {name} was never released")
    figures.rejected = cluster.rejections(since)
    figures.notes.append(
        f"{step}: published {len(ids)}x/{len(set(ids))} id"
        + (f" ({terminal[0].message})" if terminal and terminal[0].message else "")
    )
    return figures


# --- 4. storage outage -----------------------------------------------------------------------------------------
def storage_outage(
    cluster: Cluster, *, templates=OUTAGE_TEMPLATES[:1], outages: int = 1, outage_seconds: float = 6.0
) -> Figures:
    """Azurite (on disk) stopped and restarted on the same ports while builds run and polls are scheduled.

    The cluster must be persistent and have its workers started."""
    if cluster.data_dir is None:
        raise ValueError("storage_outage needs Cluster(persistent=True)")
    figures = Figures("4 storage outage", signals=len(templates))
    workers = cluster.live_workers()
    since = _utcnow() - timedelta(seconds=1)
    started = time.monotonic()
    requests = {}
    for name in templates:
        requests[name] = f"outage-{uuid.uuid4().hex[:12]}"
        cluster.request(name, requests[name], reason="storage outage test")

    def building():
        for name, request_id in requests.items():
            runs = [r for r in cluster.runs(name) if request_id in r.request_ids]
            doc = cluster.local_state.read(name) or {}
            status = doc.get("lastRunStatus") or {}
            if not runs or runs[0].polls < 1 or status.get("runSubState") != "Customizing":
                return False
        return True

    cluster.wait(building, timeout=90, what="every build to be customizing and polled")
    deaths = []
    for number in range(outages):
        if number:
            time.sleep(2.0)
        cluster.stop_storage()
        down_at = time.monotonic()
        while time.monotonic() - down_at < outage_seconds:
            deaths += [w.name for w in workers if not w.alive() and w.name not in deaths]
            time.sleep(0.25)
        cluster.start_storage()
    deaths += [w.name for w in workers if not w.alive() and w.name not in deaths]

    def finished():
        for name, request_id in requests.items():
            runs = [r for r in cluster.runs(name) if request_id in r.request_ids]
            if not runs or not all(r.is_terminal and r.published for r in runs):
                return False
        return True

    wait_for(finished, timeout=240)
    cluster.settle(timeout=240)
    figures.wall = time.monotonic() - started
    deaths += [w.name for w in workers if not w.alive() and w.name not in deaths]
    if deaths:
        figures.problems.append(f"workers died: {deaths}")
    states = Counter()
    events = cluster.events()
    for name, request_id in requests.items():
        builds = cluster.backend_builds(name)
        runs = cluster.runs(name)
        figures.builds += len(builds)
        figures.duplicates += max(0, len(builds) - 1) + max(0, len(runs) - 1)
        if len(builds) != 1 or len(runs) != 1:
            figures.problems.append(f"{name}: {len(builds)} backend Runs, {len(runs)} run records (want 1 and 1)")
        done = [r for r in runs if request_id in r.request_ids and r.is_terminal and r.published]
        if not done:
            figures.lost += 1
            figures.problems.append(f"{name}: the run never ended recorded and published")
            continue
        states[done[0].state.value] += 1
        ids = {e["id"] for e in events if e["data"]["run_id"] == done[0].run_id}
        if len(ids) != 1:
            figures.problems.append(f"{name}: {len(ids)} distinct published results (want 1)")
        for build_id in builds:
            log = (cluster.workdir / "logs" / f"{name}-{build_id}.log").read_text(errors="replace")
            if "ended:" not in log or "Traceback" in log:
                figures.problems.append(f"{name}: builder {build_id} did not end cleanly:\n{log[-1500:]}")
    figures.rejected = cluster.rejections(since)
    failed = cluster.worker_errors()
    figures.notes += [
        f"{outages}x {outage_seconds:g}s outage, {len(workers)} workers",
        "runs " + ", ".join(f"{s}={n}" for s, n in sorted(states.items())),
        "failed invocations " + (", ".join(f"{f}={n}" for f, n in sorted(failed.items())) or "none"),
    ]
    return figures
