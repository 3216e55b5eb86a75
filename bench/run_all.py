"""Run every benchmark (P1-P6 of issue 6, P7 of issue 10), each in its own interpreter, then summarise.

    .venv/bin/python bench/run_all.py            # the full set (`make bench`), ~12 minutes on 2 cores
    .venv/bin/python bench/run_all.py --quick    # smaller variants, a smoke run (~2 minutes)
    .venv/bin/python bench/run_all.py --only P3 P4

Each script prints its figure lines ("[Pn] name: value | baseline ... | ratio ... | target ... | PASS");
they are repeated at the end with the time each script took. The exit status is 0 when every
script ran to its end (a MISS is a result, not an error), 1 when one failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    ("P1", "p1_cold_start.py", "cold start: import + index vs a bare azure.functions app"),
    ("P2", "p2_reaction.py", "reaction: Event Grid webhook -> Run accepted, through the dev host"),
    ("P3", "p3_planner.py", "planner: 10,000 templates, 500 sources, depth 3"),
    ("P4", "p4_sweep.py", "sweep economy: 500 sources against ARM's read bucket"),
    ("P5", "p5_polls.py", "poll economy: status reads per 30/45/70-min build"),
    ("P6", "p6_burst.py", "burst: 1,000 requests drained by the dev host"),
    ("P7", "p7_reconcile.py", "reconciler: one pass over 10,000 templates, idle and with 200 dead chains"),
    ("P8", "p8_builds.py", "local builds: cold and warm `try` against the old directory-based build"),
    ("P9", "p9_status_page.py", "status page: the 200-template overview against its JSON"),
]
BUDGET_SECONDS = 15 * 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the benchmarks P1-P7 and summarise their figures")
    parser.add_argument("--quick", action="store_true", help="the smaller smoke variant of each")
    parser.add_argument("--only", nargs="*", metavar="Pn", help="run only these (e.g. P1 P3)")
    args = parser.parse_args(argv)
    chosen = [s for s in SCRIPTS if not args.only or s[0] in {o.upper() for o in args.only}]

    started = time.perf_counter()
    results = []
    for key, script, what in chosen:
        print(f"\n=== {key} {what} ({script}{' --quick' if args.quick else ''})", flush=True)
        t0 = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, str(HERE / script), *(["--quick"] if args.quick else [])],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            lines.append(line.rstrip("\n"))
        code = process.wait()
        results.append(
            (key, script, code, time.perf_counter() - t0, [text for text in lines if text.startswith(f"[{key}]")])
        )

    total = time.perf_counter() - started
    print("\n=== summary", flush=True)
    passed = missed = 0
    for key, script, code, seconds, figures in results:
        status = "ran" if code == 0 else f"FAILED (exit {code})"
        print(f"{key} {script}: {status} in {seconds:.0f} s", flush=True)
        for line in figures:
            print(f"  {line}", flush=True)
            passed += line.rstrip().endswith("PASS") or " | PASS  (" in line
            missed += line.rstrip().endswith("MISS") or " | MISS  (" in line
    failed = [key for key, _, code, _, _ in results if code != 0]
    print(
        f"targets: {passed} PASS, {missed} MISS; scripts failed: {', '.join(failed) or 'none'}; "
        f"total {total:.0f} s ({total / 60:.1f} min; budget {BUDGET_SECONDS // 60} min"
        f"{'' if total <= BUDGET_SECONDS else ', OVER BUDGET'})",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
