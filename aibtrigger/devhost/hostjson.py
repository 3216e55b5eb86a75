"""host.json settings the dev host honours, with the Functions host's defaults."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# .NET TimeSpan text as host.json writes it: "hh:mm:ss", "d.hh:mm:ss", "hh:mm:ss.fff".
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")
MAX_BATCH_SIZE = 32  # the Storage queue API returns at most 32 messages per call
log = logging.getLogger("aibtrigger.devhost")


OVERRIDE_PREFIX = "AzureFunctionsJobHost__"


def load(host_json: dict | Path | str | None, environ: dict | None = None) -> dict:
    """host.json as a dict: given as a dict, a path, or None (every default). A missing file
    means the defaults, as for the host. App settings named `AzureFunctionsJobHost__a__b` override
    host.json's `a.b`, as the Functions host reads them (e.g. a shorter queue retry budget in tests)."""
    import os

    if host_json is None:
        config: dict = {}
    elif isinstance(host_json, dict):
        config = host_json
    elif not Path(host_json).exists():
        log.warning("%s not found: using the host's defaults", host_json)
        config = {}
    else:
        config = json.loads(Path(host_json).read_text(encoding="utf-8"))
    for name, value in (os.environ if environ is None else environ).items():
        if name.lower().startswith(OVERRIDE_PREFIX.lower()):
            config = _overridden(config, name[len(OVERRIDE_PREFIX) :].split("__"), value)
    return config


def _overridden(config: dict, path: list[str], value: str) -> dict:
    """A copy of `config` with `path` (matched case-insensitively) set to `value`."""
    key = next((k for k in config if str(k).lower() == path[0].lower()), path[0])
    if len(path) == 1:
        return {**config, key: value}
    inner = config.get(key)
    return {**config, key: _overridden(inner if isinstance(inner, dict) else {}, path[1:], value)}


def parse_timespan(value: Any, *, number_unit: float = 1.0) -> float:
    """Seconds from a TimeSpan string; a bare number is taken in `number_unit` seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) * number_unit
    match = _TIMESPAN.match(str(value).strip())
    if not match:
        raise ValueError(f"not a TimeSpan (expected hh:mm:ss): {value!r}")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _section(config: dict, *path: str) -> dict:
    """A nested section; the host reads configuration keys case-insensitively, so do we."""
    for key in path:
        lowered = {str(k).lower(): v for k, v in config.items()}
        config = lowered.get(key.lower()) or {}
        if not isinstance(config, dict):
            raise ValueError(f"host.json: {'.'.join(path)} must be an object")
    return {str(k).lower(): v for k, v in config.items()}


@dataclass(frozen=True)
class QueueOptions:
    batch_size: int = 16
    new_batch_threshold: int = 8
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0  # seconds before a failed message is retried
    max_polling_interval: float = 60.0  # seconds: the cap of the empty-queue back-off
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, config: dict) -> QueueOptions:
        queues = _section(config, "extensions", "queues")
        batch_size = int(queues.get("batchsize", 16))
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"host.json: extensions.queues.batchSize must be 1..{MAX_BATCH_SIZE}")
        encoding = str(queues.get("messageencoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise ValueError("host.json: extensions.queues.messageEncoding must be base64 or none")
        return cls(
            batch_size=batch_size,
            new_batch_threshold=int(queues.get("newbatchthreshold", batch_size // 2)),
            max_dequeue_count=int(queues.get("maxdequeuecount", 5)),
            visibility_timeout=parse_timespan(queues.get("visibilitytimeout", 0)),
            # Functions v1's schema gave this one in milliseconds; later ones use a TimeSpan.
            max_polling_interval=parse_timespan(queues.get("maxpollinginterval", 60_000), number_unit=0.001),
            message_encoding=encoding,
        )


def function_timeout(config: dict) -> float | None:
    """functionTimeout in seconds; None when unlimited ("-1") or unset."""
    value = {str(k).lower(): v for k, v in config.items()}.get("functiontimeout")
    if value is None or str(value).strip() == "-1":
        return None
    return parse_timespan(value)


def route_prefix(config: dict) -> str:
    """extensions.http.routePrefix ("api" unless set; "" puts routes at the root)."""
    return str(_section(config, "extensions", "http").get("routeprefix", "api")).strip("/")


def enabled_functions(config: dict) -> set[str] | None:
    """host.json `functions`: when present, only the functions it lists run."""
    names = {str(k).lower(): v for k, v in config.items()}.get("functions")
    return None if names is None else {str(n).lower() for n in names}
