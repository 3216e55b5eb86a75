"""Azure SDK clients, built on first use and shared (they are thread-safe), one per subscription.

Production and tests differ only in the credential and the ARM endpoint (plus, in tests, the CA file
that makes the fake's certificate trusted: `connection_verify`). Retries are azure-core's own
RetryPolicy, configured with the usual client kwargs (`retry_total`, `retry_backoff_factor`, ...),
with one change: a Run POST is never re-sent on a 5xx.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from azure.core.pipeline.policies import RetryPolicy

# Enough to ride out a throttling window (Retry-After is honoured) without holding a function
# invocation for minutes.
DEFAULT_OPTIONS: dict[str, Any] = {"retry_total": 5, "retry_backoff_factor": 0.8, "retry_backoff_max": 60}
# Transport settings the Storage clients accept too (their retry policy is their own).
_TRANSPORT_KEYS = ("connection_verify", "connection_cert", "connection_timeout", "read_timeout")


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


class ArmClients:
    def __init__(self, credential, *, arm_endpoint: str | None = None, options: Mapping[str, Any] | None = None):
        self.credential = credential
        self._endpoint = arm_endpoint.rstrip("/") if arm_endpoint else None  # None: the SDK's public cloud
        self._options = {**DEFAULT_OPTIONS, **(options or {})}
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
            kwargs = {"base_url": self._endpoint} if self._endpoint else {}
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
