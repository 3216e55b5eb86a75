"""P7 reconciler: what one pass costs over a large catalog, counted in storage requests (issue 10).

10,000 templates, each with a summary, on Azure Tables (Azurite); the pass is the reconciler timer's.
Figures: storage requests and wall time of one pass with every template idle; then with 200 claims
whose leases have run out (their chains dead), where the pass is bounded to 50 steps. Baseline: one
bare listing of the summaries table (the floor: a pass must at least read what it reconciles).
Run: .venv/bin/python bench/p7_reconcile.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402 - puts the repository on sys.path

from aibtrigger.adapters.logstore import InMemoryLogStore  # noqa: E402
from aibtrigger.adapters.publisher import InMemoryPublisher  # noqa: E402
from aibtrigger.adapters.queues import InMemoryQueue  # noqa: E402
from aibtrigger.adapters.tables_store import TableStateStore  # noqa: E402
from aibtrigger.catalog import parse_catalog  # noqa: E402
from aibtrigger.domain.model import RunState  # noqa: E402
from aibtrigger.domain.records import Claim, TemplateSummary  # noqa: E402
from aibtrigger.service_layer.deps import Deps  # noqa: E402
from aibtrigger.service_layer.reconciler import MAX_ACTIONS, reconcile  # noqa: E402
from tests.fakes import Clock, FakeSources, ScriptedBackend  # noqa: E402

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GALLERY = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/"


def catalog(count: int):
    return parse_catalog(
        {
            "templates": [
                {
                    "name": f"t{i:05d}",
                    "definition": {
                        "source": {
                            "type": "PlatformImage",
                            "publisher": "Canonical",
                            "offer": "ubuntu",
                            "sku": f"s{i % 500}",
                            "version": "latest",
                        },
                        "distribute": [
                            {"type": "SharedImage", "galleryImageId": GALLERY + f"t{i:05d}", "runOutputName": "o"}
                        ],
                    },
                }
                for i in range(count)
            ]
        }
    )


class Counted:
    """Counts every HTTP request the Tables client sends."""

    def __init__(self) -> None:
        self.requests = 0

    def __call__(self, request) -> None:
        self.requests += 1


def main() -> int:
    import logging

    logging.disable(logging.WARNING)  # the pass logs each step it takes; the figures are what matter here
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1,000 templates instead of 10,000")
    args = parser.parse_args()
    count = 1_000 if args.quick else 10_000
    from azure.data.tables import TableServiceClient

    from aibtrigger.devhost.azurite import start_azurite  # the dev host's launcher

    azurite = start_azurite()
    try:
        counter = Counted()
        service = TableServiceClient.from_connection_string(azurite.connection_string, raw_request_hook=counter)
        store = TableStateStore(service, prefix="p7")
        store.create_tables()
        names = [f"t{i:05d}" for i in range(count)]
        for name in names:
            store.put_summary(
                TemplateSummary(
                    name, last_success_at=NOW - timedelta(days=1), last_success_source_version="22.04.202411050"
                )
            )
        clock = Clock(NOW)
        deps = Deps(
            catalog=catalog(count),
            store=store,
            backend=ScriptedBackend(clock, set(names)),
            queue=InMemoryQueue(),
            publisher=InMemoryPublisher(),
            logs=InMemoryLogStore(),
            sources=FakeSources(),
            clock=clock,
        )

        counter.requests, started = 0, time.perf_counter()
        list(service.get_table_client("p7" + "aibtemplates").list_entities())
        floor_requests, floor_seconds = counter.requests, time.perf_counter() - started

        counter.requests, started = 0, time.perf_counter()
        steps = reconcile(deps)
        idle_requests, idle_seconds = counter.requests, time.perf_counter() - started
        common.figure(
            "P7",
            f"one pass, {count:,} idle templates: storage requests",
            idle_requests,
            baseline=floor_requests,
            baseline_label="bare listing of the summaries",
        )
        common.info("P7", f"planner sweep inside the pass included; steps taken: {len(steps)}")
        common.figure(
            "P7",
            f"one pass, {count:,} idle templates: wall",
            idle_seconds,
            "s",
            baseline=floor_seconds,
            baseline_label="bare listing of the summaries",
        )
        assert steps == [], steps

        for name in names[:200]:  # 200 chains dead: claims 'running' whose leases ran out an hour ago
            deps.backend.start_run(name)
            deps.backend.finish(name, RunState.SUCCEEDED)
            store.create_claim(
                Claim(
                    name,
                    f"{name}.20261201T110000Z.aaaaaa",
                    "r",
                    "starting",
                    NOW - timedelta(hours=1),
                    lease_until=NOW - timedelta(hours=1),
                )
            )
        counter.requests, started = 0, time.perf_counter()
        steps = reconcile(deps)
        busy_requests, busy_seconds = counter.requests, time.perf_counter() - started
        common.info(
            "P7",
            f"200 expired leases: {len(steps)} steps taken (bound {MAX_ACTIONS}), "
            f"{busy_requests} storage requests ({busy_requests / max(1, len(steps)):.1f} per step), "
            f"{busy_seconds:.2f} s",
        )
    finally:
        azurite.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
