"""P6 burst: 1,000 manual requests for 1,000 templates, drained by the dev host.

`aibtrigger dev` (the dev host: the Functions worker of this app, with the shipped host.json) on its
own Azurite, the local backend, a generated catalog of 1,000 templates with one trivial Shell step
(`true`) and a VHD output (no gallery event), all on one marketplace source. The 1,000 request
messages are put on `aib-requests` at once (8 senders); the dev host drains them: per request a claim,
Run (the local backend starts a builder process), the run record, the first poll message.

Figures:
  - requests/s: 1,000 / (last `started` outcome recorded - first message sent); baseline, same run,
    same host: 1,000 requests for a *paused* template (intake, dedup check and a `skipped` outcome
    only: no claim, no Run, no builder), i.e. the host's and the queue's own cost per request;
  - peak RSS of the dev host process (VmHWM), target <= 150 MB; baseline: its VmHWM once started, idle;
  - info: all 1,000 builds finished and recorded (claims released, polls done) after how long; how
    many local builder processes ran at once, their memory, the machine's available memory.

Safety: each local build is a separate process (~55 MB). If the machine's available memory falls
below --mem-floor-mb, the benchmark stops the dev host and its builders (by pid) and reports how far
it got instead of letting the kernel's OOM killer choose.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SKU = "22_04-lts-gen2"
OFFER = "0001-com-ubuntu-server-jammy"
PAUSED = "burst-paused"


def templates(count: int) -> list[dict]:
    found = []
    for i in range(count):
        entry = common.platform_template(f"burst-{i:04d}", SKU, offer=OFFER)
        entry["definition"]["distribute"] = [{"type": "VHD", "runOutputName": "vhd"}]
        found.append(entry)
    paused = common.platform_template(PAUSED, SKU, offer=OFFER, policy={"paused": True})
    return found + [paused]


@dataclass
class Monitor:
    """Samples the dev host and the builders every 0.25 s; aborts below the memory floor."""

    stack: common.DevStack
    mem_floor_mb: float
    renice: int = 0  # --renice-builders: an experiment, not the product's behaviour
    peak_builders: int = 0
    peak_builders_mb: float = 0.0
    min_available_mb: float = float("inf")
    host_hwm_mb: float = 0.0  # the dev host's VmHWM as last seen (it survives an abort here)
    aborted: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        host = self.stack.process.pid
        work = self.stack.workdir / "work"
        while not self._stop.wait(0.25):
            self.host_hwm_mb = max(self.host_hwm_mb, common.rss_mb(host, "VmHWM") or 0.0)
            pids = [p for p in common.processes_in(work) if p != host]
            builders = [p for p in pids if "aibtrigger.adapters.local.builder" in _cmdline(p)]
            for pid in builders if self.renice else ():
                try:
                    os.setpriority(os.PRIO_PROCESS, pid, self.renice)
                except OSError:
                    pass
            self.peak_builders = max(self.peak_builders, len(builders))
            self.peak_builders_mb = max(self.peak_builders_mb, sum(common.rss_mb(p) or 0 for p in pids))
            available = common.mem_available_mb()
            self.min_available_mb = min(self.min_available_mb, available)
            if available < self.mem_floor_mb and self.aborted is None:
                self.aborted = (
                    f"available memory fell to {available:.0f} MB with {len(builders)} builder "
                    f"processes running: stopped the dev host and its builders"
                )
                common.end_process(host, grace=5)
                for pid in common.processes_in(work):
                    common.end_process(pid, grace=2)
                return


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def send_all(queue, bodies: list[dict]) -> float:
    """Send every request (8 at a time); returns when the first one was sent (epoch seconds)."""
    from aibtrigger.names import REQUESTS_QUEUE

    first = time.time()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda body: queue.send(REQUESTS_QUEUE, body), bodies))
    return first


def wait_until(predicate, *, timeout: float, monitor: Monitor, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if monitor.aborted:
            return False
        if predicate():
            return True
        time.sleep(every)
    return False


def queue_empty(client) -> bool:
    return client.get_queue_properties().approximate_message_count == 0


def outcomes(deps, outcome: str) -> list:
    return [o for o in deps.store.list_outcomes(None, limit=10**6) if o.outcome.value == outcome]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="P6: a burst of requests drained by the dev host")
    parser.add_argument("--quick", action="store_true", help="100 requests instead of 1,000")
    parser.add_argument("--count", type=int)
    parser.add_argument(
        "--mem-floor-mb",
        type=float,
        default=3000.0,
        help="stop everything if the machine's available memory falls below this",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=480.0,
        help="seconds to wait for every build to finish after the requests are drained",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    parser.add_argument(
        "--renice-builders",
        type=int,
        default=0,
        metavar="N",
        help="experiment (not part of `make bench`): lower the builders' CPU priority to nice N "
        "as they appear, to see what the host drains when builds cannot starve it",
    )
    args = parser.parse_args(argv)
    count = args.count or (100 if args.quick else 1000)

    from azure.storage.queue import QueueClient

    from aibtrigger import bootstrap
    from aibtrigger.adapters.local.layout import blob_service
    from aibtrigger.adapters.local.marketplace import LocalMarketplace
    from aibtrigger.config import load_settings
    from aibtrigger.names import POLLS_QUEUE, REQUESTS_QUEUE

    tmp = Path(tempfile.mkdtemp(prefix="aibtrigger-p6-"))
    catalog = common.write_catalog(tmp / "catalog.json", templates(count))
    stack = common.start_dev_stack(tmp, catalog, poll_seconds=(1.0, 5.0))
    monitor = Monitor(stack, args.mem_floor_mb, args.renice_builders)
    try:
        common.use_storage(stack.connection_string, catalog)
        bootstrap.reset()
        deps = bootstrap.build_deps(load_settings())
        LocalMarketplace(blob_service(stack.connection_string)).publish("westeurope", "Canonical", OFFER, SKU)
        requests_q = QueueClient.from_connection_string(stack.connection_string, REQUESTS_QUEUE)
        polls_q = QueueClient.from_connection_string(stack.connection_string, POLLS_QUEUE)
        host = stack.process.pid
        time.sleep(1.0)
        idle_hwm = common.rss_mb(host, "VmHWM")
        monitor.start()

        # Baseline: the same number of requests for a paused template (no claim, no Run, no builder).
        first = send_all(
            deps.queue,
            [
                {"template": PAUSED, "id": f"paused-{i}", "reason": "bench baseline", "requested_by": "p6"}
                for i in range(count)
            ],
        )
        wait_until(
            lambda: queue_empty(requests_q) and len(outcomes(deps, "skipped")) >= count, timeout=300, monitor=monitor
        )
        skipped = outcomes(deps, "skipped")
        base_rate = len(skipped) / max(1e-9, max(o.at for o in skipped).timestamp() - first) if skipped else None
        base_hwm = common.rss_mb(host, "VmHWM")

        # The burst.
        azurite = stack.azurite.process.pid
        cpu_before = common.cpu_seconds(host), common.cpu_seconds(azurite)[0], time.monotonic()
        first = send_all(
            deps.queue,
            [
                {"template": f"burst-{i:04d}", "id": f"burst-{i}", "reason": "bench burst", "requested_by": "p6"}
                for i in range(count)
            ],
        )
        sent = time.time()
        drained = wait_until(
            lambda: queue_empty(requests_q) and len(outcomes(deps, "started")) >= count, timeout=600, monitor=monitor
        )
        cpu_after = common.cpu_seconds(host), common.cpu_seconds(azurite)[0], time.monotonic()
        started = outcomes(deps, "started")
        last = max((o.at.timestamp() for o in started), default=None)
        rate = len(started) / (last - first) if started and last else None
        finished_after = None
        if drained:
            done = wait_until(
                lambda: queue_empty(polls_q) and not deps.store.list_claims(),
                timeout=args.drain_timeout,
                monitor=monitor,
                every=2.0,
            )
            finished_after = time.time() - first if done else None
        runs = [r for r in deps.store.list_runs(None, limit=10**6) if r.template.startswith("burst-")]
        hwm = max(common.rss_mb(host, "VmHWM") or 0.0, monitor.host_hwm_mb) or None
    finally:
        monitor.stop()
        stack.stop()
    log_mb = stack.log_path.stat().st_size / 1e6 if stack.log_path.exists() else 0.0
    with stack.log_path.open(errors="replace") as log:
        sdk_requests = sum("http_logging_policy: Request URL" in line for line in log)

    states: dict[str, int] = {}
    for run in runs:
        key = run.state.value if run.state else "none"
        states[key] = states.get(key, 0) + 1
    common.info(
        "P6",
        f"{count:,} templates; requests sent in {sent - first:.1f} s; dev host idle VmHWM "
        f"{common.fmt(idle_hwm, 'MB')}, after the paused baseline {common.fmt(base_hwm, 'MB')}",
    )
    common.figure(
        "P6",
        f"requests drained ({len(started):,} of {count:,} Run invoked)",
        rate,
        "requests/s",
        baseline=base_rate,
        baseline_label=f"{count:,} requests for a paused template: intake + outcome only",
    )
    ok = common.figure(
        "P6",
        "dev host peak RSS (VmHWM)",
        hwm,
        "MB",
        baseline=idle_hwm,
        baseline_label="the same process started, idle",
        target=150.0,
    )
    if ok is False:
        common.info("P6", common.miss_by(hwm, 150.0, "MB"))
    common.info(
        "P6",
        f"local builder processes at once: peak {monitor.peak_builders} using "
        f"{monitor.peak_builders_mb:,.0f} MB together; machine's available memory at least "
        f"{monitor.min_available_mb:,.0f} MB",
    )
    (host_before, builders_before), azurite_before, t0 = cpu_before
    (host_after, builders_after), azurite_after, t1 = cpu_after
    handled = max(1, len(started))
    host_cpu = host_after - host_before
    common.info(
        "P6",
        f"CPU while the requests drained ({t1 - t0:.0f} s, {2 * (t1 - t0):.0f} CPU-s on 2 cores): dev host "
        f"{host_cpu:.0f} s ({host_cpu / handled * 1000:.0f} ms per request: alone it would drain "
        f"~{handled / max(host_cpu, 1e-9):.0f} requests/s per core), Azurite {azurite_after - azurite_before:.0f} s, "
        f"builders reaped meanwhile {builders_after - builders_before:.0f} s "
        f"({(builders_after - builders_before) / handled:.2f} s per build)",
    )
    common.info(
        "P6",
        f"dev host log: {log_mb:.0f} MB, of it {sdk_requests:,} storage requests logged with their "
        "headers by azure-core's HTTP logging policy (the dev host logs at INFO)",
    )
    if finished_after is not None:
        common.info(
            "P6",
            f"all {count:,} builds finished, recorded and released {finished_after:.0f} s after the "
            f"first request; runs by state: {json.dumps(states, sort_keys=True)}",
        )
    else:
        common.info(
            "P6", f"NOT all builds finished within the limits; runs by state: {json.dumps(states, sort_keys=True)}"
        )
    if monitor.aborted:
        common.info("P6", f"ABORTED: {monitor.aborted}")
    if args.renice_builders:
        common.info("P6", f"EXPERIMENT: builders reniced to {args.renice_builders} as they appeared")
    if args.keep:
        common.info("P6", f"scratch folder kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
