"""Reliability bench (issue 5): every scenario in its heavy form, one line of figures per scenario.

    .venv/bin/python bench/reliability/run.py                 # heavy forms, then the hostile-input fuzzing
    .venv/bin/python bench/reliability/run.py --quick         # the fast forms the test suite runs
    .venv/bin/python bench/reliability/run.py --only storm,crash

Each line: signals sent, builds started (Runs the backend accepted), duplicates (must be 0), lost (must
be 0), rejected (with the most common reasons), wall time (first signal to everything settled), then
notes. Real Azurite, real `aibtrigger dev` worker processes, full local builds (scenarios.py says how
each figure is counted). Exit status 1 when any invariant was violated (the violations are printed).

Heavy forms: 1,000 deliveries of one event to 4 workers; 4 rounds of racing triggers on 4 workers;
every crash step, twice; 2 outages of 10 s during 3 builds. Hostile-input fuzzing is
bench/reliability/fuzz.py's (run last, when that module is there).
"""

from __future__ import annotations

import argparse
import inspect
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.reliability import scenarios  # noqa: E402

HEAVY = {
    "storm": {"deliveries": 1000, "workers": 4, "concurrency": 64},
    "racing": {"rounds": 4, "workers": 4, "period": 20},
    "crash": {"repeat": 2, "visibility": 3.0},
    "outage": {"templates": 3, "outages": 2, "seconds": 10.0, "workers": 2},
    "long-outage": {},
    "poison": {},
}
QUICK = {
    "storm": {"deliveries": 100, "workers": 4, "concurrency": 48},
    "racing": {"rounds": 1, "workers": 4, "period": 20},
    "crash": {"repeat": 1, "visibility": 3.0},
    "outage": {"templates": 1, "outages": 1, "seconds": 6.0, "workers": 2},
    "long-outage": {},
    "poison": {},
}


def storm(root: Path, o: dict) -> scenarios.Figures:
    cluster = scenarios.storm_cluster(root, workers=o["workers"])
    try:
        return scenarios.duplicate_storm(cluster, deliveries=o["deliveries"], concurrency=o["concurrency"])
    finally:
        cluster.close()


def racing(root: Path, o: dict) -> scenarios.Figures:
    cluster = scenarios.racing_cluster(root, rounds=o["rounds"], period=o["period"], workers=o["workers"])
    try:
        return scenarios.racing_triggers(cluster)
    finally:
        cluster.close()


def crash(root: Path, o: dict) -> scenarios.Figures:
    cluster = scenarios.crash_cluster(root)
    try:
        return scenarios.crash_at_every_step(cluster, visibility=o["visibility"], repeat=o["repeat"])
    finally:
        cluster.close()


def outage(root: Path, o: dict) -> scenarios.Figures:
    cluster = scenarios.outage_cluster(root, workers=o["workers"])
    try:
        return scenarios.storage_outage(
            cluster,
            templates=scenarios.OUTAGE_TEMPLATES[: o["templates"]],
            outages=o["outages"],
            outage_seconds=o["seconds"],
        )
    finally:
        cluster.close()


def lasting_scenario(name: str):
    def run(root: Path, o: dict):
        from bench.reliability import lasting

        cluster = lasting.cluster_for(root)
        try:
            return getattr(lasting, name)(cluster)
        finally:
            cluster.close()

    return run


SCENARIOS = {
    "storm": storm,
    "racing": racing,
    "crash": crash,
    "outage": outage,
    "long-outage": lasting_scenario("long_outage"),
    "poison": lasting_scenario("poison_each"),
}


def run_fuzz(argv: list[str]) -> int:
    """bench/reliability/fuzz.py's entry point (main, else run), if that module exists."""
    try:
        from bench.reliability import fuzz
    except ModuleNotFoundError as exc:
        if exc.name != "bench.reliability.fuzz":
            raise
        print("hostile input: bench/reliability/fuzz.py is not there; fuzzing not run", flush=True)
        return 0
    entry = getattr(fuzz, "main", None) or getattr(fuzz, "run", None)
    if entry is None:
        print("hostile input: bench/reliability/fuzz.py has no main() or run(); fuzzing not run", flush=True)
        return 1
    try:
        result = entry(argv) if inspect.signature(entry).parameters else entry()
    except SystemExit as exc:  # an argparse-style main
        result = exc.code
    except Exception as exc:  # noqa: BLE001 - report it like a scenario, then go on to the total
        print(
            f"hostile input: fuzz.py failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
            flush=True,
        )
        return 1
    return result if isinstance(result, int) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the fast forms (what the test suite runs)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SCENARIOS)},fuzz")
    parser.add_argument("--fuzz-args", default="", help="arguments passed to fuzz.py's main (one string)")
    parser.add_argument("--keep", action="store_true", help="keep the scenario folders (logs) and print where")
    args = parser.parse_args(argv)
    chosen = args.only.split(",") if args.only else [*SCENARIOS, "fuzz"]
    unknown = set(chosen) - set(SCENARIOS) - {"fuzz"}
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    options = QUICK if args.quick else HEAVY
    base = Path(tempfile.mkdtemp(prefix="aibtrigger-reliability-"))
    print(
        f"reliability bench ({'quick' if args.quick else 'heavy'} forms), "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}; workdirs under {base}",
        flush=True,
    )
    failures: list[str] = []
    started = time.monotonic()
    try:
        for name in chosen:
            if name == "fuzz":
                if run_fuzz(shlex.split(args.fuzz_args)):
                    failures.append("fuzz: non-zero exit")
                continue
            try:
                figures = SCENARIOS[name](base / name, options[name])
            except Exception as exc:  # noqa: BLE001 - one broken scenario must not hide the others' figures
                figures = scenarios.Figures(name, problems=[f"{type(exc).__name__}: {exc}"])
            print(figures.line(), flush=True)
            if figures.problems or figures.duplicates or figures.lost or getattr(figures, "stuck", 0):
                failures.append(f"{figures.scenario}: " + " / ".join(figures.problems or ["duplicates or lost"]))
    finally:
        if args.keep:
            print(f"kept: {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    print(
        f"total {time.monotonic() - started:.0f}s: "
        + ("every invariant held" if not failures else f"{len(failures)} scenario(s) FAILED"),
        flush=True,
    )
    for failure in failures:
        print("  " + failure[:2000])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
