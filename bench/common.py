"""Shared helpers of the benchmarks in bench/ (issue 6): figures printed one per line, statistics,
generated catalogs, the fake ARM, Azurite and a dev host subprocess, process memory.

Every figure line has the same shape, so bench/run_all.py (and a reader) can find it:

    [P2] reaction p95: 1.62 s | baseline 57.1 s (host default polling, modelled) | ratio 0.03 | target <= 2.5 s | PASS

`PASS`/`MISS` only where the issue sets a target; `info` lines carry context (no verdict).
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# Local builds here measure the service, not images: the few-MB busybox base image (issue 13).
os.environ.setdefault("AIBTRIGGER_LOCAL_IMAGE", "busybox")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULT_MARK = "[P"  # figure lines start with [P1] .. [P6]
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
GALLERY = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/images/providers/Microsoft.Compute/galleries/bench/images/"


# --- printing -----------------------------------------------------------------------------------------
def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 100):
        text = f"{int(value):,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    elif abs(value) >= 1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3f}"
    return f"{text} {unit}".rstrip()


def figure(
    bench: str,
    name: str,
    value: float | None,
    unit: str = "",
    *,
    baseline: float | None = None,
    baseline_label: str = "",
    target: float | None = None,
    op: str = "<=",
    note: str = "",
) -> bool | None:
    """Print one figure line; returns True (PASS), False (MISS) or None (no target)."""
    parts = [f"[{bench}] {name}: {fmt(value, unit)}"]
    if baseline is not None or baseline_label:
        parts.append(f"baseline {fmt(baseline, unit)}" + (f" ({baseline_label})" if baseline_label else ""))
        if baseline and value is not None:
            parts.append(f"ratio {value / baseline:.3g}")
    verdict = None
    if target is not None:
        verdict = value is not None and {"<=": value <= target, ">=": value >= target, "==": value == target}[op]
        parts.append(f"target {op} {fmt(target, unit)}")
        parts.append("PASS" if verdict else "MISS")
    else:
        parts.append("info")
    line = " | ".join(parts)
    if note:
        line += f"  ({note})"
    print(line, flush=True)
    return verdict


def ratio_figure(
    bench: str,
    name: str,
    value: float,
    baseline: float,
    baseline_label: str,
    *,
    unit: str,
    target_ratio: float,
    note: str = "",
) -> bool:
    """A figure whose target is a ratio to its baseline (P1)."""
    ratio = value / baseline
    ok = ratio <= target_ratio
    print(
        f"[{bench}] {name}: {fmt(value, unit)} | baseline {fmt(baseline, unit)} ({baseline_label}) | "
        f"ratio {ratio:.2f} | target ratio <= {target_ratio} | {'PASS' if ok else 'MISS'}"
        + (f"  ({note})" if note else ""),
        flush=True,
    )
    return ok


def miss_by(value: float, target: float, unit: str = "") -> str:
    return f"missed by {fmt(value - target, unit)} ({(value / target - 1) * 100:.0f}% over)"


def info(bench: str, text: str) -> None:
    print(f"    {bench}: {text}", flush=True)


# --- statistics -----------------------------------------------------------------------------------------
def median(values) -> float:
    return statistics.median(values)


def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100): a value that was actually observed."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


# --- catalogs -------------------------------------------------------------------------------------------
def child_template(
    name: str, source_image: str, *, script: tuple[str, ...] = ("true",), policy: dict | None = None
) -> dict:
    """A template built from `source_image` (a gallery image, /versions/latest), one trivial Shell step,
    distributed to its own gallery image."""
    return {
        "name": name,
        "location": "westeurope",
        "policy": policy or {},
        "definition": {
            "source": {"type": "SharedImageVersion", "imageVersionId": f"{source_image}/versions/latest"},
            "customize": [{"type": "Shell", "name": "noop", "inline": list(script)}],
            "distribute": [{"type": "SharedImage", "galleryImageId": GALLERY + name, "runOutputName": name}],
            "buildTimeoutInMinutes": 30,
        },
    }


def platform_template(
    name: str,
    sku: str,
    *,
    offer: str = "0001-com-ubuntu-server-jammy",
    policy: dict | None = None,
    script: tuple[str, ...] = ("true",),
) -> dict:
    return {
        "name": name,
        "location": "westeurope",
        "policy": policy or {},
        "definition": {
            "source": {
                "type": "PlatformImage",
                "publisher": "Canonical",
                "offer": offer,
                "sku": sku,
                "version": "latest",
            },
            "customize": [{"type": "Shell", "name": "noop", "inline": list(script)}],
            "distribute": [{"type": "SharedImage", "galleryImageId": GALLERY + name, "runOutputName": name}],
            "buildTimeoutInMinutes": 30,
        },
    }


def write_catalog(path: Path, templates: list[dict]) -> Path:
    """JSON (the loader reads YAML or JSON; JSON parses much faster, and every builder loads it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"templates": templates}))
    return path


# --- processes ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict[str, str]:
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def rss_mb(pid: int, field: str = "VmRSS") -> float | None:
    """VmRSS (now) or VmHWM (peak) of a process, in MB (10^6 bytes), from /proc."""
    value = proc_status(pid).get(field)
    return int(value.split()[0]) * 1024 / 1e6 if value else None


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(CPU seconds of the process itself, of its children it has waited for), from /proc/<pid>/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0, 0.0
    fields = stat[stat.rfind(")") + 2 :].split()  # fields from the 3rd (state) on
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime) / tick, (cutime + cstime) / tick


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024 / 1e6
    return float("nan")


def children_of(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc/<p>/stat's ppid field)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def cwd_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def processes_in(directory: Path) -> list[int]:
    """Processes whose working directory is `directory` or below (the local builders of one run:
    they start in its work folder). Used to end only what a benchmark started."""
    prefix = str(directory.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            cwd = cwd_of(int(entry.name))
            if cwd and (cwd == prefix or cwd.startswith(prefix + "/")):
                found.append(int(entry.name))
    return found


def end_process(pid: int, *, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` s, one process by id."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists() or _zombie(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _zombie(pid: int) -> bool:
    return proc_status(pid).get("State", "").startswith("Z")


# --- Azurite + `aibtrigger dev` in its own process ---------------------------------------------------------
@dataclass
class DevStack:
    """Azurite and `python -m aibtrigger.cli dev` (the dev host: the Functions worker of this service),
    as tests/e2e/conftest.py starts them, in `workdir`."""

    workdir: Path
    azurite: object
    process: subprocess.Popen
    url: str
    log_path: Path
    env: dict

    @property
    def connection_string(self) -> str:
        return self.azurite.connection_string

    def stop(self) -> None:
        if self.process.poll() is None:
            end_process(self.process.pid, grace=30)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        for pid in processes_in(self.workdir):  # builders still running (their own sessions)
            end_process(pid, grace=5)
        self.azurite.stop()

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text()[-chars:]
        except OSError:
            return ""


def start_dev_stack(
    workdir: Path,
    catalog_path: Path,
    *,
    poll_seconds=(1.0, 5.0),
    extra_env: dict | None = None,
    host_json: Path | None = None,
) -> DevStack:
    """Start Azurite (in memory) and the dev host with the shipped host.json (the app folder is the
    repository), the local backend, and a catalog of our own."""
    from aibtrigger.devhost.azurite import start_azurite

    workdir.mkdir(parents=True, exist_ok=True)
    azurite = start_azurite()
    port = free_port()
    env = {
        **os.environ,
        "AzureWebJobsStorage": azurite.connection_string,
        "AIBTRIGGER_CATALOG_PATH": str(catalog_path),
        "AIBTRIGGER_BACKEND": "local",
        "AIBTRIGGER_LOCAL_WORKDIR": str(workdir / "work"),
        "AIBTRIGGER_POLL_MIN_SECONDS": str(poll_seconds[0]),
        "AIBTRIGGER_POLL_MAX_SECONDS": str(poll_seconds[1]),
        # The schedule check, the sweep and prune stay out of the way: they are not what is measured.
        "AIBTRIGGER_TICK_SCHEDULE": "0 0 0 1 1 *",
        "AIBTRIGGER_PRUNE_SCHEDULE": "0 0 0 1 1 *",
        "AIBTRIGGER_SWEEP_SCHEDULE": "0 0 0 1 1 *",
        "AIBTRIGGER_LOCAL_EVENT_WEBHOOK": f"http://127.0.0.1:{port}/runtime/webhooks/EventGrid?functionName=on_gallery_event",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **(extra_env or {}),
    }
    log_path = workdir / "dev.log"
    (workdir / "work").mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        # cwd: the work folder, so the state file (.aibtrigger/dev.json) and builders stay in it.
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aibtrigger.cli",
                "dev",
                "--storage",
                azurite.connection_string,
                "--port",
                str(port),
            ],
            cwd=workdir / "work",
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    stack = DevStack(workdir, azurite, process, url, log_path, env)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stack.stop()
            raise RuntimeError(f"the dev host exited early:\n{stack.log_tail()}")
        if _responds(url):
            return stack
        time.sleep(0.2)
    stack.stop()
    raise TimeoutError(f"the dev host did not answer in time:\n{stack.log_tail()}")


def _responds(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/api/nothing-here", timeout=1)
    except urllib.error.HTTPError:
        return True  # it answered (404)
    except OSError:
        return False
    return True


def use_storage(connection_string: str, catalog_path: Path) -> None:
    """Point this process's settings at the stack (to read its tables and queues with the service's own code)."""
    os.environ.update(
        {
            "AzureWebJobsStorage": connection_string,
            "AIBTRIGGER_CATALOG_PATH": str(catalog_path),
            "AIBTRIGGER_BACKEND": "local",
        }
    )


# --- fake ARM ---------------------------------------------------------------------------------------------
def fake_arm(tmp: Path, *, clock=None, throttle=None):
    """The tests' fake ARM (HTTPS on loopback, real shapes, token buckets), with its CA file."""
    from tests.fakearm import FakeArm, make_tls

    tls = make_tls(tmp / "tls")
    return FakeArm(tls, clock=clock, throttle=throttle), tls
