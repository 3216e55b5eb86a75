"""P3 planner: deciding over a large catalog, in process (issue 6 targets).

10,000 templates, 500 marketplace sources, lineage depth 3 (four layers), a mix of policies
(paused, schedules, only-if-changed, maintenance windows) and a day-old history for every template.
Figures (medians, ms):
  - one new source version decided (SourceChanged on one source: its users and their cascade as
    `wait`s), target <= 5 ms; baseline: the same decision without the prebuilt index (the index is
    built from the catalog for the signal, what a planner that scans the catalog would pay);
  - a full sweep decision (every template, every rule), target <= 200 ms; baseline: a trivial loop
    over the same 10,000 entries (this machine's speed, the floor of any full pass).
Run: .venv/bin/python bench/p3_planner.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402,F401 - puts the repository on sys.path

from aibtrigger.catalog import TemplateDefinition  # noqa: E402
from aibtrigger.domain.planner import plan  # noqa: E402
from aibtrigger.domain.planner_index import PlannerIndex  # noqa: E402
from aibtrigger.domain.planner_types import SourceChanged, Sweep, TemplateHistory, gallery_key, platform_key  # noqa: E402

IMAGES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/golden/images/"
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
OLD, NEW = "22.04.202410020", "22.04.202411050"
SOURCES, LAYERS = 500, (2500, 3000, 2500, 2000)  # templates per lineage depth 0..3: 10,000 in all
SCHEDULES = ("0 0 3 * * *", "0 0 2 * * Sun", "0 30 1 * * 1-5", "0 0 */6 * * *", "0 15 4 1 * *")


def entry(name: str, source: dict, index: int) -> SimpleNamespace:
    definition = TemplateDefinition.model_validate(
        {
            "source": source,
            "distribute": [{"type": "SharedImage", "galleryImageId": IMAGES + name, "runOutputName": name}],
        }
    )
    mix = random.Random(index).randrange(1000)  # deterministic, and not lined up with sources or layers
    policy = SimpleNamespace(
        paused=mix < 10,
        only_if_changed=mix % 10 == 1,
        max_consecutive_failures=5,
        schedule=SCHEDULES[mix % 5] if mix % 5 < 2 else None,  # 40% scheduled
        maintenance_window={"days": ["Sat", "Sun"], "start": "02:00", "end": "06:00"} if mix % 7 == 0 else None,
    )
    return SimpleNamespace(name=name, location="westeurope", definition=definition, policy=policy)


def build_catalog() -> SimpleNamespace:
    templates, previous = [], []
    for depth, count in enumerate(LAYERS):
        layer = []
        for i in range(count):
            name = f"t{depth}-{i}"
            if depth == 0:
                source = {
                    "type": "PlatformImage",
                    "publisher": "Canonical",
                    "offer": "ubuntu",
                    "sku": f"sku{i % SOURCES}",
                }
            else:  # each template of this layer builds on one of the previous layer's images
                parent = previous[i % len(previous)]
                source = {"type": "SharedImageVersion", "imageVersionId": f"{IMAGES}{parent}/versions/latest"}
            layer.append(name)
            templates.append(entry(name, source, len(templates)))
        previous = layer
    return SimpleNamespace(templates=templates)


def median_ms(action, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="P3: the planner over 10,000 templates")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (same catalog size)")
    args = parser.parse_args(argv)
    runs_one, runs_sweep, runs_base = (21, 3, 3) if args.quick else (101, 9, 5)

    catalog = build_catalog()
    start = time.perf_counter()
    index = PlannerIndex.from_catalog(catalog)
    index_ms = (time.perf_counter() - start) * 1000
    keys = [platform_key("westeurope", "Canonical", "ubuntu", f"sku{s}") for s in range(SOURCES)]
    observed = {k: NEW for k in keys[::3]} | {k: OLD for i, k in enumerate(keys) if i % 3}
    observed |= {gallery_key(IMAGES + e.name): "1.0.0" for e in catalog.templates}
    history = {
        e.name: TemplateHistory(
            last_success_at=NOW - timedelta(days=1),
            last_success_source_version=OLD if e.name.startswith("t0-") else "1.0.0",
            last_schedule_tick=NOW - timedelta(hours=3),
        )
        for e in catalog.templates
    }

    def trivial_loop():  # the floor: touch every entry once
        return [(e.name, e.policy.paused) for e in catalog.templates]

    changed = iter(range(10**9))

    def one_source(index=index):
        key = keys[next(changed) % SOURCES]
        return plan(index, observed=observed, history=history, now=NOW, signal=SourceChanged(key, OLD, NEW))

    def one_source_unindexed():
        return one_source(PlannerIndex.from_catalog(catalog))

    def sweep():
        return plan(index, observed=observed, history=history, now=NOW, signal=Sweep(NOW))

    one_source(), sweep()  # warm up (imports, caches that persist across calls)
    cascade = one_source()
    decisions = sweep()
    common.info(
        "P3",
        f"catalog: {len(catalog.templates)} templates, {SOURCES} marketplace sources, max depth "
        f"{max(f.depth for f in index.facts.values())}; index built once in {index_ms:.0f} ms; "
        f"one source change -> {len(cascade)} decisions incl. cascade; sweep -> {len(decisions)} "
        "decisions ("
        + ", ".join(f"{a} {sum(d.action == a for d in decisions)}" for a in ("build", "wait", "skip"))
        + ")",
    )
    one = median_ms(one_source, runs_one)
    unindexed = median_ms(one_source_unindexed, runs_base)
    common.figure(
        "P3",
        f"one new source version decided (median of {runs_one})",
        one,
        "ms",
        baseline=unindexed,
        baseline_label=f"same decision, index built per signal, median of {runs_base}",
        target=5.0,
    )
    full = median_ms(sweep, runs_sweep)
    floor = median_ms(trivial_loop, 15)
    common.figure(
        "P3",
        f"full sweep decision (median of {runs_sweep})",
        full,
        "ms",
        baseline=floor,
        baseline_label="trivial loop over the 10,000 entries, median of 15",
        target=200.0,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
