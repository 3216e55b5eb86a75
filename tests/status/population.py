"""A populated service for the status page: a catalog of N templates in three lineage layers and a
history written through the StateStore port (so an in-memory store and the Tables store on Azurite
both take it). Deterministic: the same N gives the same state. Used by tests and bench/status_page.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from aibtrigger.catalog import parse_catalog
from aibtrigger.domain.model import FailureExcerpt, RunState, RunSubState
from aibtrigger.domain.records import Claim, RunRecord, TemplateSummary

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
GALLERY = "/subscriptions/s/resourceGroups/images/providers/Microsoft.Compute/galleries/golden/images/"
SKUS = [f"22_04-lts-gen2-{i}" for i in range(10)]  # realistic lengths: page size depends on them
OFFER = "0001-com-ubuntu-server-jammy"
ROOT, CHILD, GRANDCHILD = "ubuntu-2204-hardened", "web-tier-nginx", "payments-service"
OLD, NEW = "22.04.202411050", "22.04.202411200"


def _template(name: str, source: dict, paused: bool) -> dict:
    return {
        "name": name,
        "location": "westeurope",
        "policy": {"paused": paused},
        "definition": {
            "source": source,
            "customize": [{"type": "Shell", "name": "work", "inline": ["true"]}],
            "distribute": [{"type": "SharedImage", "galleryImageId": GALLERY + name, "runOutputName": name}],
            "buildTimeoutInMinutes": 60,
        },
    }


def catalog(size: int = 200):
    """A quarter roots (marketplace sources), then children of roots, then grandchildren."""
    roots, children = max(1, size // 4), max(0, (size - size // 4) // 2)
    templates = []
    for i in range(size):
        if i < roots:
            name, source = (
                f"{ROOT}-{i:03}",
                {
                    "type": "PlatformImage",
                    "publisher": "Canonical",
                    "offer": OFFER,
                    "sku": SKUS[i % len(SKUS)],
                    "version": "latest",
                },
            )
        else:
            parent = f"{ROOT}-{i % roots:03}" if i < roots + children else f"{CHILD}-{roots + i % max(children, 1):03}"
            name = f"{CHILD if i < roots + children else GRANDCHILD}-{i:03}"
            source = {"type": "SharedImageVersion", "imageVersionId": GALLERY + parent + "/versions/latest"}
        templates.append(_template(name, source, paused=i % 37 == 5))
    return parse_catalog({"templates": templates})


def populate(store, catalog, *, runs_per_template: int = 6, now: datetime = NOW) -> None:
    """Runs, summaries, a few builds in progress and the observed source versions."""
    for sku in SKUS:
        store.put_observed(f"platform|westeurope|canonical|{OFFER}|{sku}", NEW if sku < SKUS[3] else OLD)
    for index, entry in enumerate(catalog.templates):
        pick = random.Random(index)
        runs = [_run(entry.name, k, now, pick) for k in range(runs_per_template)]
        for run in runs:
            store.save_run(run)
        failures = sum(1 for _ in _leading(runs, lambda r: r.state is RunState.FAILED))
        success = next((r for r in runs if r.state is RunState.SUCCEEDED), None)
        store.put_summary(
            TemplateSummary(
                entry.name,
                last_success_at=success.ended_at if success else None,
                last_success_source_version=success.source_version if success else None,
                consecutive_failures=failures,
                disabled=failures >= 3,
                last_counted_run=runs[0].run_id,
            )
        )
        if index % 20 == 7:  # building now
            run = RunRecord(
                run_id=f"{entry.name}.{now:%Y%m%dT%H%M%SZ}.live00",
                template=entry.name,
                request_ids=("r-live",),
                reasons=("source changed",),
                requested_by=("aibtrigger:source",),
                created_at=now - timedelta(minutes=12),
                state=RunState.RUNNING,
                sub_state=RunSubState.CUSTOMIZING,
                started_at=now - timedelta(minutes=11),
            )
            store.save_run(run)
            store.create_claim(
                Claim(
                    template=entry.name,
                    run_id=run.run_id,
                    request_id="r-live",
                    state="running",
                    claimed_at=run.created_at,
                    reasons=run.reasons,
                    request_ids=run.request_ids,
                )
            )


def _run(template: str, age: int, now: datetime, pick: random.Random) -> RunRecord:
    """The `age`-th newest finished run: a day apart, 20 to 50 minutes long, one in five failed."""
    started = now - timedelta(days=age + 1, minutes=pick.randrange(600))
    failed = pick.random() < 0.2
    excerpt = (
        FailureExcerpt(
            "Script exited with non-zero exit status: 100",
            "shell #1",
            100,
            ("E: Unable to locate package nginx-extras",),
        )
        if failed
        else None
    )
    return RunRecord(
        run_id=f"{template}.{started:%Y%m%dT%H%M%SZ}.{age:06}",
        template=template,
        request_ids=(f"r-{age}",),
        reasons=("schedule tick",),
        requested_by=("aibtrigger:schedule",),
        created_at=started - timedelta(seconds=20),
        state=RunState.FAILED if failed else RunState.SUCCEEDED,
        started_at=started,
        ended_at=started + timedelta(minutes=20 + pick.randrange(30)),
        message="build failed" if failed else "",
        excerpt=excerpt,
        source_version=OLD,
    )


def _leading(items, predicate):
    for item in items:
        if not predicate(item):
            return
        yield item
