"""Azure SDK clients, built on first use and shared (they are thread-safe), one per subscription.

Production and tests differ only in the credential and the ARM endpoint (plus, in tests, the CA file
that makes the fake's certificate trusted: `connection_verify`). Retries are azure-core's own
RetryPolicy, configured with the usual client kwargs (`retry_total`, `retry_backoff_factor`, ...),
with one change: a Run POST is never re-sent on a 5xx.

Every ARM request (each attempt, retries included) first takes a token from a client-side copy of
ARM's throttling buckets (ArmBudget): reads 250 at once then 25/s, writes 200 then 10/s, per
subscription. A process therefore waits a little instead of collecting 429s, which would cost
Retry-After waits (and, past `retry_total`, a failed call). The copy also follows what ARM says:
`x-ms-ratelimit-remaining-subscription-reads|writes` lowers its count (other processes spend the
same budget), and a 429 holds every request of that bucket until its Retry-After.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from azure.core.pipeline.policies import HTTPPolicy, RetryPolicy

# Enough to ride out a throttling window (Retry-After is honoured) without holding a function
# invocation for minutes.
DEFAULT_OPTIONS: dict[str, Any] = {"retry_total": 5, "retry_backoff_factor": 0.8, "retry_backoff_max": 60}
# Transport settings the Storage clients accept too (their retry policy is their own).
_TRANSPORT_KEYS = ("connection_verify", "connection_cert", "connection_timeout", "read_timeout")

# ARM's documented buckets (public cloud, per subscription, region and principal): (burst, refill per second).
ARM_LIMITS: dict[str, tuple[float, float]] = {"reads": (250.0, 25.0), "writes": (200.0, 10.0)}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REMAINING_HEADER = "x-ms-ratelimit-remaining-subscription-{kind}"
_SUBSCRIPTION = re.compile(r"/subscriptions/([^/?#]+)", re.IGNORECASE)
_EPSILON = 1e-9  # float refills (0.04 s * 25/s) may fall a hair short of a whole token
_MIN_WAIT = 0.001  # never spin on a wait too small to move the clock


class RunSafeRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy re-sends a POST on 500/503/504 (and on any status with Retry-After).
    Run is not idempotent: a 5xx may come after AIB accepted it. So a Run POST is retried only on 429,
    which ARM returns before the request reaches AIB; any other failure is resolved by re-reading the
    template (backend.py)."""

    def is_retry(self, settings, response) -> bool:
        request = response.http_request
        if request.method.upper() == "POST" and _path(request.url).lower().endswith("/run"):
            return response.http_response.status_code == 429 and super().is_retry(settings, response)
        return super().is_retry(settings, response)


class TokenBucket:
    """One ARM bucket as the client sees it: `capacity` tokens, refilled at `rate` per second.

    A request may go when a whole token is there (ARM's rule), and takes it. The count can only be
    lowered from outside: by ARM's remaining-budget header, or to nothing by a 429 (plus a hold until
    its Retry-After). Thread-safe; waiting happens outside the lock."""

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float]) -> None:
        self.capacity, self.rate, self._clock = float(capacity), float(rate), clock
        self.tokens, self._stamp = float(capacity), clock()
        self.blocked_until = float("-inf")
        self.taken = 0  # tokens taken so far: a request's number, to tell which later ones ARM may not have counted
        self.in_flight = 0  # taken and not answered yet
        self._freshest = 0  # the latest-taken request whose answer said what ARM has left
        self._lock = threading.Lock()

    def _refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self) -> tuple[float, int]:
        """(0.0, the request's number) when a token was taken; otherwise (seconds to wait, 0)."""
        with self._lock:
            now = self._clock()
            self._refill(now)
            if now < self.blocked_until:
                return max(_MIN_WAIT, self.blocked_until - now), 0
            if self.tokens >= 1.0 - _EPSILON:
                self.tokens -= 1.0
                self.in_flight += 1
                self.taken += 1
                return 0.0, self.taken
            return max(_MIN_WAIT, (1.0 - self.tokens) / self.rate), 0

    def answered(self, number: int = 0, *, remaining: int | None = None, retry_after: float | None = None) -> None:
        """Request `number` was answered: with ARM's count of what is left, and/or a 429's Retry-After."""
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
            now = self._clock()
            self._refill(now)
            if remaining is not None and number >= self._freshest:  # an answer to an older request is stale
                self._freshest = number
                # The requests taken after this one may have reached ARM after it counted: keep them off
                # (ARM's refill since then is left out too: it only errs on the safe side).
                later = self.taken - number if number else self.in_flight
                self.tokens = min(self.tokens, float(remaining - later))
            if retry_after is not None:
                self.tokens = min(self.tokens, 0.0)
                self.blocked_until = max(self.blocked_until, now + retry_after)

    def abandoned(self) -> None:
        """The request never got an answer (connection error): it no longer counts as in flight."""
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)


class ArmBudget:
    """The client-side copy of ARM's buckets, one per (ARM endpoint, subscription, reads|writes).

    Share one per process (`ArmBudget.shared()`, the default of ArmClients): the buckets are ARM's,
    whichever client spends them. `clock` and `sleep` are injectable (tests use a fake clock)."""

    _shared: ArmBudget | None = None
    _shared_lock = threading.Lock()

    def __init__(
        self,
        limits: Mapping[str, tuple[float, float]] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits = dict(limits or ARM_LIMITS)
        self.clock, self.sleep = clock, sleep
        self._buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()
        self.waited = 0.0  # seconds spent waiting for tokens, summed over requests (for benchmarks and logs)

    @classmethod
    def shared(cls) -> ArmBudget:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def bucket(self, endpoint: str, subscription: str, kind: str) -> TokenBucket:
        key = (endpoint.lower(), subscription.lower(), kind)
        with self._lock:
            found = self._buckets.get(key)
            if found is None:
                found = self._buckets[key] = TokenBucket(*self.limits[kind], self.clock)
            return found

    def bucket_for(self, method: str, url: str) -> TokenBucket:
        return self.bucket(*classify(method, url))

    def acquire(self, bucket: TokenBucket) -> int:
        """Wait until `bucket` gives a token; returns the request's number (for `answered`)."""
        waited = 0.0
        while True:
            wait, number = bucket.try_take()
            if number:
                if waited:
                    with self._lock:
                        self.waited += waited
                return number
            self.sleep(wait)
            waited += wait


def classify(method: str, url: str) -> tuple[str, str, str]:
    """(endpoint, subscription, 'reads'|'writes') of an ARM request; '' for tenant-level calls."""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0]
    found = _SUBSCRIPTION.search(_path(url))
    kind = "writes" if method.upper() in WRITE_METHODS else "reads"
    return f"{scheme}://{host}", found.group(1) if found else "", kind


class ArmBudgetPolicy(HTTPPolicy):
    """Takes a token before each attempt (it sits after the RetryPolicy) and feeds ARM's answer back."""

    def __init__(self, budget: ArmBudget) -> None:
        super().__init__()
        self.budget = budget

    def send(self, request):
        http = request.http_request
        bucket = self.budget.bucket_for(http.method, http.url)
        kind = classify(http.method, http.url)[2]
        number = self.budget.acquire(bucket)
        try:
            response = self.next.send(request)
        except BaseException:
            bucket.abandoned()
            raise
        headers = response.http_response.headers
        remaining = _int(headers.get(REMAINING_HEADER.format(kind=kind)))
        retry_after = None
        if response.http_response.status_code == 429:
            retry_after = _float(headers.get("Retry-After"))
            retry_after = 1.0 if retry_after is None else retry_after
        bucket.answered(number, remaining=remaining, retry_after=retry_after)
        return response


_DEFAULT = object()


class ArmClients:
    def __init__(
        self,
        credential,
        *,
        arm_endpoint: str | None = None,
        options: Mapping[str, Any] | None = None,
        budget: ArmBudget | None | object = _DEFAULT,
    ):
        """budget: the client-side throttle every ARM call of these clients goes through: by default the
        process-wide ArmBudget.shared(); None turns it off (benchmarks compare against that)."""
        self.credential = credential
        self._endpoint = arm_endpoint.rstrip("/") if arm_endpoint else None  # None: the SDK's public cloud
        self._options = {**DEFAULT_OPTIONS, **(options or {})}
        self.budget: ArmBudget | None = ArmBudget.shared() if budget is _DEFAULT else budget  # type: ignore[assignment]
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def image_builder(self, subscription: str):
        from azure.mgmt.imagebuilder import ImageBuilderClient

        return self._client("imagebuilder", subscription, ImageBuilderClient)

    def resources(self, subscription: str):
        from azure.mgmt.resource.resources import ResourceManagementClient

        return self._client("resources", subscription, ResourceManagementClient)

    def compute(self, subscription: str):
        from azure.mgmt.compute import ComputeManagementClient

        return self._client("compute", subscription, ComputeManagementClient)

    def blob_service(self, account_url: str):
        """A Blob client for a staging account, with the service's token (never a key or a SAS)."""
        from azure.storage.blob import BlobServiceClient

        def build():
            transport = {k: v for k, v in self._options.items() if k in _TRANSPORT_KEYS}
            return BlobServiceClient(account_url, credential=self.credential, retry_total=3, **transport)

        return self._cached("blob", account_url, build)

    def _client(self, kind: str, subscription: str, cls):
        def build():
            retry = {k: v for k, v in self._options.items() if k.startswith("retry_")}
            rest = {k: v for k, v in self._options.items() if not k.startswith("retry_")}
            kwargs: dict[str, Any] = {"base_url": self._endpoint} if self._endpoint else {}
            if self.budget is not None:
                kwargs["per_retry_policies"] = [ArmBudgetPolicy(self.budget)]
            return cls(self.credential, subscription, retry_policy=RunSafeRetryPolicy(**retry), **kwargs, **rest)

        return self._cached(kind, subscription, build)

    def _cached(self, kind: str, key: str, build):
        with self._lock:
            client = self._cache.get((kind, key))
            if client is None:
                client = self._cache[(kind, key)] = build()
            return client


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def _int(value) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _float(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP date: azure-core's RetryPolicy reads it; the hold then uses 1 s
