"""ARM's throttling, as documented for the public cloud: per subscription (and region and principal),
token buckets of 250 reads refilling 25/s and 200 writes refilling 10/s. A POST/PUT/PATCH/DELETE is a
write. The buckets run on real (monotonic) time by default; a test may give them a virtual clock."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class TokenBucket:
    def __init__(self, capacity: float, refill_per_second: float, now: Callable[[], float]) -> None:
        self.capacity, self.refill, self._now = capacity, refill_per_second, now
        self.tokens, self.stamp = capacity, now()

    def take(self) -> tuple[bool, int, int]:
        """(allowed, remaining, retry_after_seconds)."""
        now = self._now()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.refill)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True, int(self.tokens), 0
        return False, 0, max(1, math.ceil((1 - self.tokens) / self.refill))


class Throttle:
    def __init__(
        self,
        *,
        reads: tuple[float, float] = (250, 25),
        writes: tuple[float, float] = (200, 10),
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits, self._now = {"reads": reads, "writes": writes}, now
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def take(self, subscription: str, method: str) -> tuple[str, bool, int, int]:
        """(kind 'reads'|'writes', allowed, remaining, retry_after)."""
        kind = "writes" if method.upper() in WRITE_METHODS else "reads"
        with self._lock:
            bucket = self._buckets.get((subscription, kind))
            if bucket is None:
                bucket = self._buckets[(subscription, kind)] = TokenBucket(*self.limits[kind], self._now)
            return (kind, *bucket.take())


class SleptTime:
    """A clock that moves only when the client sleeps (patch azure-core's transport sleep to `sleep`):
    the buckets then refill exactly as much as the client waited, so counts are deterministic and
    prove that Retry-After was honoured."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.seconds

    def sleep(self, duration: float) -> None:
        self.sleeps.append(duration)
        self.seconds += duration
