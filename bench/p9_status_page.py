"""P9 status page (issue 15): the overview of 200 templates, rendered, against the JSON listings.

Every figure is measured in the same run, on the same state (tests/status/population.py: 200
templates in three lineage layers, 6 runs each, 10 building, realistic name and source lengths):
  - in process, in-memory store: what rendering costs. The overview's HTML against its own JSON
    (same view model) and against the dry-run JSON of `GET /api/plan`, medians of 9;
  - on Azurite (the Tables store, what `aibtrigger dev` uses): the whole request as the function
    computes it, reads included. Target: the HTML overview in under 1 s and under ~150 KB.
  - the lineage and one template page, for scale (info).
Run: .venv/bin/python bench/p9_status_page.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402 - puts the repository on sys.path

from aibtrigger.service_layer.planning import dry_run  # noqa: E402
from aibtrigger.status import web  # noqa: E402
from aibtrigger.status.html_page import Links  # noqa: E402
from tests.status.conftest import make_deps  # noqa: E402
from tests.status.population import catalog, populate  # noqa: E402

KEY = "k" * 56  # a function key's length: every link carries it
LINKS = Links("/api/status", KEY)


def timed(action, repeat: int) -> tuple[float, int]:
    """Median milliseconds of `action()` (after one warm-up) and the size of what it returned, in bytes."""
    size = len(action().encode())
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), size


def measure(deps, where: str, repeat: int) -> None:
    html_ms, html_bytes = timed(lambda: web.overview(deps, accept=None, links=LINKS).body, repeat)
    json_ms, json_bytes = timed(lambda: web.overview(deps, accept="application/json", links=LINKS).body, repeat)
    plan_ms, plan_bytes = timed(lambda: json.dumps({"decisions": [d.to_dict() for d in dry_run(deps)]}), repeat)
    common.figure(
        "P9",
        f"overview HTML, 200 templates ({where})",
        html_ms,
        "ms",
        baseline=json_ms,
        baseline_label="the overview's JSON, same run",
        target=1000,
    )
    common.figure(
        "P9",
        f"overview HTML size ({where})",
        html_bytes,
        "bytes",
        baseline=json_bytes,
        baseline_label="the overview's JSON",
        target=150_000,
    )
    common.figure("P9", f"dry-run JSON, GET /api/plan ({where})", plan_ms, "ms", note=f"{plan_bytes:,} bytes")
    lineage_ms, lineage_bytes = timed(lambda: web.lineage(deps, accept=None, links=LINKS).body, repeat)
    common.figure("P9", f"lineage HTML ({where})", lineage_ms, "ms", note=f"{lineage_bytes:,} bytes")
    name = deps.catalog.templates[-1].name
    page_ms, page_bytes = timed(lambda: web.template(deps, name, accept=None, links=LINKS).body, repeat)
    common.figure("P9", f"template page HTML ({where})", page_ms, "ms", note=f"{page_bytes:,} bytes")


def on_azurite(templates, repeat: int) -> None:
    from azure.data.tables import TableServiceClient

    from aibtrigger.adapters.tables_store import TableStateStore
    from aibtrigger.devhost.azurite import start_azurite

    azurite = start_azurite()
    try:
        deps = make_deps(templates, populated=False)
        deps.store = TableStateStore(TableServiceClient.from_connection_string(azurite.connection_string))
        deps.store.create_tables()
        start = time.perf_counter()
        populate(deps.store, templates)
        common.info("P9", f"Azurite populated in {time.perf_counter() - start:.1f} s")
        measure(deps, "Azurite tables", repeat)
    finally:
        azurite.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no Azurite")
    args = parser.parse_args()
    templates = catalog(200)
    repeat = 3 if args.quick else 9
    measure(make_deps(templates), "in-memory store", repeat)
    if not args.quick:
        on_azurite(templates, repeat)


if __name__ == "__main__":
    main()
