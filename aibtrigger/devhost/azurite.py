"""Start and stop Azurite (npm package, installed by `make` into ./node_modules)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

# Azurite's documented development account: a well-known public value, not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
OUTPUT_FILE = "azurite.log"  # in the data folder
_LISTENING = re.compile(r"Azurite (Blob|Queue|Table) service is successfully listening at (http\S+)")


@dataclass
class Azurite:
    """A running Azurite; `connection_string` points every client at it."""

    blob_endpoint: str
    queue_endpoint: str
    table_endpoint: str
    process: subprocess.Popen | None = None  # None when attached to one started elsewhere

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={self.blob_endpoint}/{DEV_ACCOUNT};"
            f"QueueEndpoint={self.queue_endpoint}/{DEV_ACCOUNT};"
            f"TableEndpoint={self.table_endpoint}/{DEV_ACCOUNT};"
        )

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)


def stop_process(process: subprocess.Popen, *, grace: float = 10.0) -> None:
    """Terminate, and kill if it has not ended within `grace` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def find_azurite(project_root: Path | None = None) -> str:
    root = project_root or Path(__file__).resolve().parents[2]
    local = root / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise FileNotFoundError("Azurite is not installed: run `npm ci` in the project folder (or `make setup`)")


def start_azurite(
    *, data_dir: Path | None = None, timeout: float = 30.0, ports: tuple[int, int, int] | None = None
) -> Azurite:
    """Start Azurite on free ports: in memory, or persisted under `data_dir` (survives restarts).

    `ports` (blob, queue, table) pins the ports instead: a restart with the same `data_dir` and the
    ports of the previous instance comes back at the same endpoints, so running clients reconnect."""
    blob, queue, table = ports or (0, 0, 0)
    cmd = [
        find_azurite(),
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--loose",
        "--silent",  # no access log
        "--blobPort",
        str(blob),
        "--queuePort",
        str(queue),
        "--tablePort",
        str(table),
        "--blobHost",
        "127.0.0.1",
        "--queueHost",
        "127.0.0.1",
        "--tableHost",
        "127.0.0.1",
    ]
    cmd += ["--location", str(data_dir)] if data_dir else ["--inMemoryPersistence"]
    env = {**os.environ, "NODE_NO_WARNINGS": "1"}

    def start(stdout: IO[str] | int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            cmd, stdout=stdout, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env
        )

    pipe = None  # Azurite's output when it goes to a pipe
    if data_dir:
        # Its output goes to a file, not a pipe: when a killed parent's pipe closes, Azurite's next
        # write would end it at once, losing the writes of its last seconds (it saves every 5 s).
        output_path = Path(data_dir) / OUTPUT_FILE
        with output_path.open("w") as output:
            process = start(output)
        lines = _lines_of(output_path, process)
    else:
        process = start(subprocess.PIPE)
        pipe = process.stdout
        assert pipe is not None  # stdout=PIPE makes one
        lines = iter(pipe.readline, "")
    endpoints = _endpoints(lines, process, timeout)
    if pipe is not None:  # keep draining its output so a full pipe never blocks it
        threading.Thread(target=lambda: [None for _ in pipe], daemon=True).start()
    return Azurite(endpoints["blob"], endpoints["queue"], endpoints["table"], process)


def _endpoints(lines, process: subprocess.Popen, timeout: float) -> dict[str, str]:
    endpoints: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    said: list[str] = []
    for line in lines:
        if line.strip():
            said.append(line.strip())
        match = _LISTENING.search(line)
        if match:
            endpoints[match.group(1).lower()] = match.group(2).rstrip("/")
            if len(endpoints) == 3:
                return endpoints
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError("Azurite did not start in time")
    last = f": {' / '.join(said[-3:])}" if said else ""
    raise RuntimeError(f"Azurite exited early (code {process.wait()}){last}")


def _lines_of(path: Path, process: subprocess.Popen):
    """The lines written to `path`, as they come, until the process ends ("" while none comes)."""
    with path.open() as output:
        pending = ""
        while True:
            pending += output.readline()
            if pending.endswith("\n"):
                yield pending
                pending = ""
            elif process.poll() is not None:
                yield from (pending + output.read()).splitlines(keepends=True)
                return
            else:
                time.sleep(0.05)
                yield ""  # nothing yet: lets the reader check its deadline
