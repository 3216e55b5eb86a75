"""A builder's hold on its run: ownership-checked state writes, heartbeat, cancel and timeout.

The template's state blob says which build owns the run (buildId) and whether it is still active.
The builder writes only while both hold; when the backend has given the run another verdict (a
dead-builder Failed) or a new run replaced it, the builder stops without writing: "superseded".
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import TypeGuard

from aibtrigger.adapters.local.layout import redact, utc_now
from aibtrigger.adapters.local.state import TemplateStateStore, finished, is_active, running
from aibtrigger.adapters.local.steps import BuildStopped

logger = logging.getLogger("aibtrigger.local.builder")
POLL_SECONDS = 0.5  # how soon a cancel request is noticed


class RunControl:
    def __init__(
        self, state: TemplateStateStore, name: str, build_id: str, *, timeout_seconds: float, heartbeat_seconds: float
    ):
        self.state, self.name, self.build_id = state, name, build_id
        self.deadline = time.monotonic() + timeout_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self._stop = {reason: threading.Event() for reason in ("superseded", "terminated", "canceled")}
        self._done = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="run-control", daemon=True)

    def claim(self) -> bool:
        """Record this process as the run's builder; False when the run is no longer ours."""
        try:
            self.update(lambda doc: {**doc, "builderPid": os.getpid(), "heartbeat": utc_now()})
        except BuildStopped:
            return False
        self._monitor.start()
        return True

    def release(self) -> None:
        self._done.set()
        if self._monitor.is_alive():
            self._monitor.join(timeout=5)

    def terminate(self) -> None:
        """SIGTERM: stop the running step and end Failed."""
        self._stop["terminated"].set()

    def stop_reason(self) -> str | None:
        for reason, event in self._stop.items():
            if event.is_set():
                return reason
        return "timeout" if time.monotonic() > self.deadline else None

    def check(self) -> None:
        reason = self.stop_reason()
        if reason:
            raise BuildStopped(reason)

    def update(self, change: Callable[[dict], dict | None]) -> dict | None:
        """Write only while this build still owns the template's active run; otherwise stop."""

        def guarded(doc: dict | None) -> dict | None:
            if not self._owns(doc):
                raise BuildStopped("superseded")
            return change(doc)

        return self.state.update(self.name, guarded)

    def sub_state(self, sub_state: str) -> None:
        self.check()

        def change(doc):
            if doc["lastRunStatus"]["runState"] == "Canceling":
                raise BuildStopped("canceled")  # the cancel wins: no sub-state while canceling
            return {**doc, "lastRunStatus": running(sub_state, doc["lastRunStatus"]["startTime"])}

        self.update(change)

    def finish(self, run_state: str, message: str, outputs: list[dict]) -> None:
        """The verdict, unless someone else gave one already. A cancel asked for after the last
        step loses (the image is published by then). Retried: otherwise only the backend's
        heartbeat check would end the run."""

        def change(doc):
            if not self._owns(doc):
                return None
            return {
                **doc,
                "lastRunStatus": finished(doc["lastRunStatus"], run_state, message),
                "runOutputs": outputs,
                "cancelRequested": False,
                "heartbeat": utc_now(),
            }

        for attempt in range(5):
            try:
                self.state.update(self.name, change)
                return
            except Exception as exc:  # noqa: BLE001
                logger.warning("writing the result failed (%s), retrying", type(exc).__name__)
                time.sleep(0.5 * (attempt + 1))

    def _owns(self, doc: dict | None) -> TypeGuard[dict]:
        return is_active(doc) and doc.get("buildId") == self.build_id

    def _watch(self) -> None:
        last_beat = time.monotonic()
        while not self._done.wait(POLL_SECONDS):
            try:
                doc = self.state.read(self.name)
                if not self._owns(doc):
                    self._stop["superseded"].set()
                    continue
                if doc.get("cancelRequested") or doc["lastRunStatus"]["runState"] == "Canceling":
                    self._stop["canceled"].set()
                if time.monotonic() - last_beat >= self.heartbeat_seconds:
                    self.update(lambda d: {**d, "heartbeat": utc_now()})
                    last_beat = time.monotonic()
            except BuildStopped:
                self._stop["superseded"].set()
            except Exception as exc:  # noqa: BLE001 - a storage hiccup: try again next round
                logger.warning("state check failed: %s", redact(str(exc))[:200])
