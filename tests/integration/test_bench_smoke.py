"""The benchmarks still run: P1 and P3 in their quick variants, as `make bench` runs them (a new
interpreter each). Only that they end and print their figure lines; the figures themselves are for
people (docs/benchmarks.md), not assertions. The other benchmarks need Azurite or minutes: run them
with `make bench` / `bench/run_all.py --quick`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
FIGURE = re.compile(r"^\[(P\d)\] [^:]+: .+ \| (?:.+ \| )?(PASS|MISS|info)(?:  \(.*\))?$")


def run(script: str) -> list[re.Match]:
    done = subprocess.run([sys.executable, str(BENCH / script), "--quick"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return [m for m in map(FIGURE.match, done.stdout.splitlines()) if m]


@pytest.mark.parametrize("script, key, targets", [("p1_cold_start.py", "P1", 1), ("p3_planner.py", "P3", 2)])
def test_the_quick_benchmark_prints_its_figures(script, key, targets):
    figures = run(script)
    assert {m.group(1) for m in figures} == {key}
    assert sum(m.group(2) in ("PASS", "MISS") for m in figures) == targets
    assert all("baseline" in m.group(0) for m in figures)
