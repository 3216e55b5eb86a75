"""A second Azurite, blob only, over HTTPS with `--oauth basic`: the staging storage accounts AIB
creates, read by the backend with a bearer token exactly as in Azure.

The project's start_azurite() has no TLS/OAuth/accounts options, so this small launcher exists; the
suggested change to start_azurite is `cert`, `key`, `oauth`, `accounts` and `services` keyword
arguments (see the closing note of issue 4).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from aibtrigger.devhost.azurite import find_azurite

# azurite-blob words it differently from the all-in-one azurite.
_LISTENING = re.compile(r"Azurite Blob service (?:is successfully listening at|successfully listens on) (https://\S+)")
POOL = 48  # staging accounts available to one test session (one per template that builds)


@dataclass
class StagingStorage:
    """Plays AIB's side: owns the staging accounts and writes customization.log into them."""

    blob_endpoint: str  # https://127.0.0.1:<port>
    ca: str
    process: subprocess.Popen
    accounts: list[str] = field(default_factory=list)
    _next: itertools.count = field(default_factory=itertools.count)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allocate(self) -> tuple[str, str]:
        """A fresh account: (name, blob endpoint). Azurite takes the account from the path."""
        with self._lock:
            index = next(self._next)
        if index >= len(self.accounts):
            raise RuntimeError(f"staging account pool of {len(self.accounts)} exhausted: raise POOL")
        name = self.accounts[index]
        return name, f"{self.blob_endpoint}/{name}"

    def write_log(self, account: str, folder: str, text: str, *, name: str = "customization.log") -> None:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient(
            f"{self.blob_endpoint}/{account}",
            connection_verify=self.ca,
            credential={"account_name": account, "account_key": account_key(account)},
        )
        container = service.get_container_client("packerlogs")
        if not container.exists():
            container.create_container()
        container.upload_blob(f"{folder}/{name}", text.encode(), overwrite=True)

    def stop(self) -> None:
        from aibtrigger.devhost.azurite import stop_process

        stop_process(self.process)


def account_key(account: str) -> str:
    """A deterministic key per test account (test data, not a secret)."""
    return base64.b64encode(hashlib.sha512(account.encode()).digest()).decode()


def start_staging_azurite(tls, *, timeout: float = 30.0) -> StagingStorage:
    accounts = [f"aibstg{i:02d}" for i in range(POOL)]
    binary = Path(find_azurite()).with_name("azurite-blob")
    cmd = [
        str(binary),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        "0",
        "--inMemoryPersistence",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--loose",
        "--cert",
        tls.cert,
        "--key",
        tls.key,
        "--oauth",
        "basic",
    ]
    env = {
        **os.environ,
        "NODE_NO_WARNINGS": "1",
        "AZURITE_ACCOUNTS": ";".join(f"{a}:{account_key(a)}" for a in accounts),
    }
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env
    )
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"staging Azurite exited early (code {process.wait()})")
        match = _LISTENING.search(line)
        if match:
            break
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError("staging Azurite did not start in time")
    threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
    return StagingStorage(match.group(1).rstrip("/"), tls.ca, process, accounts)
