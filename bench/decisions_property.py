"""The stateful property test of rebuild decisions (issue 11), at scale: 10,000 random interleavings.

The same machine as the CI test (tests/decisions_machine.py, a few hundred examples there): random
marketplace patches, gallery events (duplicated, reordered, late, lost), builds that succeed or
fail, lost requests and polls, pauses, schedule ticks, catalog source switches and reconciliation
passes on random lineages, checked against the world's own view of each template's inputs.
With --promotion, the machine with gated promotion (tests/promotion_machine.py, issue 14): people
promote, reject and roll back at any moment on top of all that.
Prints how many examples ran and passed, and how long it took.
Run: .venv/bin/python bench/decisions_property.py [--examples N] [--promotion]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402,F401 - puts the repository on sys.path
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis.stateful import run_state_machine_as_test  # noqa: E402

from tests.decisions_machine import DecisionsMachine  # noqa: E402
from tests.promotion_machine import PromotionMachine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--promotion", action="store_true", help="the machine with gated promotion")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the reconciler logs every step it takes
    ran = 0

    machine = PromotionMachine if args.promotion else DecisionsMachine

    class Counted(machine):  # type: ignore[valid-type,misc]  # why: a class chosen at run time
        def teardown(self):
            nonlocal ran
            super().teardown()
            ran += 1

    started = time.perf_counter()
    run_state_machine_as_test(
        Counted,
        settings=settings(
            max_examples=args.examples,
            stateful_step_count=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    elapsed = time.perf_counter() - started
    label = "promotion" if args.promotion else "decisions"
    print(f"[{label}] property examples run: {ran} (asked {args.examples}), all passed | {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
