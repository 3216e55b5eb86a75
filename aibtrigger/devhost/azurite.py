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

# Azurite's documented development account: a well-known public value, not a secret.
DEV_ACCOUNT = "devstoreaccount1"
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
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
        return (f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
                f"BlobEndpoint={self.blob_endpoint}/{DEV_ACCOUNT};"
                f"QueueEndpoint={self.queue_endpoint}/{DEV_ACCOUNT};"
                f"TableEndpoint={self.table_endpoint}/{DEV_ACCOUNT};")

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


def start_azurite(*, data_dir: Path | None = None, timeout: float = 30.0,
                  ports: tuple[int, int, int] | None = None) -> Azurite:
    """Start Azurite on free ports: in memory, or persisted under `data_dir` (survives restarts).

    `ports` (blob, queue, table) pins the ports instead: a restart with the same `data_dir` and the
    ports of the previous instance comes back at the same endpoints, so running clients reconnect."""
    blob, queue, table = ports or (0, 0, 0)
    cmd = [find_azurite(), "--disableTelemetry", "--skipApiVersionCheck", "--loose",
           "--blobPort", str(blob), "--queuePort", str(queue), "--tablePort", str(table),
           "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1"]
    cmd += ["--location", str(data_dir)] if data_dir else ["--inMemoryPersistence"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, env={**os.environ, "NODE_NO_WARNINGS": "1"})
    endpoints: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    said: list[str] = []
    while len(endpoints) < 3:
        line = process.stdout.readline()
        if not line:
            last = f": {' / '.join(said[-3:])}" if said else ""
            raise RuntimeError(f"Azurite exited early (code {process.wait()}){last}")
        said.append(line.strip())
        match = _LISTENING.search(line)
        if match:
            endpoints[match.group(1).lower()] = match.group(2).rstrip("/")
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError("Azurite did not start in time")
    # Keep draining its output so a full pipe never blocks it.
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    return Azurite(endpoints["blob"], endpoints["queue"], endpoints["table"], process)
