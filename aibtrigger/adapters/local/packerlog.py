"""customization.log in AIB's 2019-2023 dialect, appended to `packerlogs/<buildId>/` while the build runs.

Shapes (what aibtrigger.domain.logexcerpt parses, and what AIB writes):
  [<id>] PACKER OUT ==> azure-arm: (telemetry) Starting provisioner shell     step boundaries
  [<id>] PACKER OUT     azure-arm: <script stdout line>
  [<id>] PACKER ERR     azure-arm: <script stderr line>
  [<id>] PACKER OUT Build 'azure-arm' errored after <duration>: <reason>    end of a failed build
Lines are buffered and appended every half second (and on flush), so a reader sees the log grow.
"""

from __future__ import annotations

import threading

from aibtrigger.adapters.local.layout import LOG_BLOB, LOGS_CONTAINER, container

_MAX_BLOCK = 4 * 1024 * 1024  # an append block holds at most 4 MiB


class PackerLog:
    def __init__(self, blob_service, build_id: str, *, flush_interval: float = 0.5):
        blob = container(blob_service, LOGS_CONTAINER).get_blob_client(f"{build_id}/{LOG_BLOB}")
        blob.create_append_blob()
        self._blob = blob
        self._prefix = f"[{build_id}] PACKER "
        self._pending: list[str] = []
        self._lock = threading.Lock()  # script output arrives from reader threads
        self._write_lock = threading.Lock()
        self._closed = threading.Event()
        self._interval = flush_interval
        self._flusher = threading.Thread(target=self._flush_loop, name="packerlog-flush", daemon=True)
        self._flusher.start()

    @property
    def url(self) -> str:
        """The log's address without any query string, so a SAS token can never leak into a message."""
        return self._blob.url.split("?", 1)[0]

    def ui(self, text: str) -> None:
        """A Packer UI line: `PACKER OUT ==> azure-arm: ...`."""
        self._add(f"OUT ==> azure-arm: {text}")

    def out(self, text: str) -> None:
        self._add(f"OUT     azure-arm: {text}")

    def err(self, text: str) -> None:
        self._add(f"ERR     azure-arm: {text}")

    def packer(self, text: str) -> None:
        """A line from Packer itself, not from a builder: `PACKER OUT Build 'azure-arm' ...`."""
        self._add(f"OUT {text}")

    def flush(self) -> None:
        with self._write_lock:
            with self._lock:
                lines, self._pending = self._pending, []
            data = "".join(lines).encode("utf-8")
            for start in range(0, len(data), _MAX_BLOCK):
                try:
                    self._blob.append_block(data[start : start + _MAX_BLOCK])
                except Exception:
                    with self._lock:  # keep what was not written, ahead of newer lines
                        self._pending[:0] = [data[start:].decode("utf-8", errors="replace")]
                    raise

    def close(self) -> None:
        self._closed.set()
        self._flusher.join(timeout=5)
        self.flush()

    def _add(self, line: str) -> None:
        with self._lock:
            self._pending.append(self._prefix + line.rstrip("\r\n") + "\n")

    def _flush_loop(self) -> None:
        while not self._closed.wait(self._interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - a storage hiccup: the lines stay queued for the next round
                pass


def packer_duration(seconds: float) -> str:
    """Packer's wording: the two largest units, e.g. '4 minutes 29 seconds', '2 seconds 402 milliseconds'."""
    millis = int(round(seconds * 1000))
    units = [("hour", 3_600_000), ("minute", 60_000), ("second", 1000), ("millisecond", 1)]
    parts = []
    for name, size in units:
        amount, millis = divmod(millis, size)
        if amount:
            parts.append(f"{amount} {name}{'' if amount == 1 else 's'}")
    return " ".join(parts[:2]) or "0 seconds"
