"""The fake's clock: builds advance on it. Manual (tests call advance) or real time, optionally scaled."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Starts at the real 'now' (so blob creation times in Azurite are comparable) and moves only
    when told. Callable like tests.fakes.Clock, so it can be the service's clock too."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = (start or datetime.now(UTC)).replace(microsecond=0)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, seconds: float = 0, **kwargs) -> None:
        with self._lock:
            self.now += timedelta(seconds=seconds, **kwargs)


class ScaledClock:
    """Real time, `scale` times faster: a 45-minute timeline in 2.7 s at scale 1000."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self._start, self._t0 = datetime.now(UTC), time.monotonic()

    def __call__(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._t0) * self.scale)
