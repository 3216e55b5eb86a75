"""Fault injection: the failures ARM and AIB are known for, each matched to a request kind."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Fault:
    # a route kind: template, run, cancel, runOutputs, operation, vmImages, galleryVersion (GET, PATCH,
    # DELETE), galleryVersions, galleryOperation, resources, storageAccount
    kind: str
    method: str = "GET"
    status: int | None = None  # answer with this error; None: answer normally (after `delay`)
    code: str = ""
    message: str = ""
    retry_after: int | None = None
    delay: float = 0.0  # seconds before answering: a slow response (beyond read_timeout: no answer)
    start_build: bool = False  # Run/race faults: start the build first (it did start; or someone else started it)
    template: str | None = None  # only requests for this template
    times: int = 1  # how many matching requests it hits
    # A 429 with Retry-After keeps refusing until Retry-After has passed, as ARM's bucket does: a
    # client that retried early would collect a second 429 (so counts prove Retry-After is honoured).
    until: float | None = field(default=None, repr=False)

    # The faults users report, by name.
    @classmethod
    def throttled(cls, kind: str, method: str = "GET", *, retry_after: int = 1) -> Fault:
        op = "Write" if method != "GET" else "Read"
        return cls(
            kind,
            method,
            429,
            "TooManyRequests",
            f"The request is being throttled as the limit has been "
            f"reached for operation type - {op}_ObservationWindow_00:05:00. For more information, see - "
            "https://aka.ms/armthrottling",
            retry_after=retry_after,
        )

    @classmethod
    def gateway_timeout_on_run(cls, *, build_started: bool, times: int = 1) -> Fault:
        return cls(
            "run",
            "POST",
            504,
            "GatewayTimeout",
            "The gateway did not receive a response from "
            "'Microsoft.VirtualMachineImages' within the specified time period.",
            start_build=build_started,
            times=times,
        )

    @classmethod
    def internal_error(cls, kind: str = "template", method: str = "GET", *, status: int = 500, times: int = 1) -> Fault:
        return cls(kind, method, status, "InternalServerError", "Internal error occurred", times=times)

    @classmethod
    def unavailable(cls, kind: str, method: str = "GET", *, times: int = 1) -> Fault:
        return cls(kind, method, 503, "ServiceUnavailable", "The service is temporarily unavailable.", times=times)

    @classmethod
    def race_on_run(cls) -> Fault:
        """Another instance starts the build between our read and our Run: AIB refuses ours (with the
        world's `refusal_status` and `error_style`)."""
        return cls("run", "POST", None, start_build=True)

    @classmethod
    def authorization_failed(
        cls,
        kind: str = "galleryVersion",
        method: str = "PATCH",
        *,
        action: str = "Microsoft.Compute/galleries/images/versions/write",
        scope: str = "/subscriptions/00000000-0000-4000-8000-00000000a1b0/resourceGroups/rg-gallery",
        times: int = 1,
    ) -> Fault:
        """ARM's refusal when the identity lacks the role (the same every time: a retry never helps)."""
        return cls(
            kind,
            method,
            403,
            "AuthorizationFailed",
            "The client '00000000-0000-4000-8000-0000000000c2' with object id "
            f"'00000000-0000-4000-8000-0000000000c2' does not have authorization to perform action '{action}' "
            f"over scope '{scope}' or the scope is invalid. If access was recently granted, please refresh "
            "your credentials.",
            times=times,
        )

    @classmethod
    def gallery_conflict(cls, method: str = "PATCH", *, times: int = 1) -> Fault:
        """A change refused while the version is still being replicated (ARM's generic 409 shape; the
        exact text Azure uses is not recorded publicly)."""
        return cls(
            "galleryVersion",
            method,
            409,
            "OperationNotAllowed",
            "Operation 'Update' is not allowed on a gallery image version whose replication is in progress. "
            "Retry the operation after replication completes.",
            times=times,
        )

    @classmethod
    def slow(cls, kind: str, method: str = "GET", *, delay: float, start_build: bool = False, times: int = 1) -> Fault:
        return cls(kind, method, None, delay=delay, start_build=start_build, times=times)


class Faults:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self.fired: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, kind: str, method: str, template: str | None) -> Fault | None:
        now = time.monotonic()
        with self._lock:
            for fault in list(self._faults):
                if fault.kind != kind or fault.method != method or fault.template not in (None, template):
                    continue
                if fault.until is not None:
                    if now >= fault.until:
                        self._faults.remove(fault)  # its window is over
                        continue
                elif fault.status == 429 and fault.retry_after:
                    fault.until = now + fault.retry_after
                else:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                self.fired.append(fault)
                return fault
        return None
