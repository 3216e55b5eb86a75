"""P5 poll economy: how many status reads a build costs, and how late its end is noticed.

The service's own handlers (request -> Run -> poll messages -> collect -> publish) drive the
production AibBackend against the fake ARM (HTTPS, AIB's real shapes) on the fake's clock: each poll
message's visibility delay is slept by moving the clock, as tests/fakearm/service.py does. Production
poll settings (30 s .. 600 s). ARM throttling is not the subject here (P4): the fake's buckets are
made large and the client-side budget is off.

For each nominal duration (30, 45, 70 min) and each trial: three past builds whose durations vary
±10 % around it (seeded), then the measured build of that duration plus 0-60 s (so that its end is
not lined up with a poll). A status read is a GET of
the image template (the service reads it once before Run, the backend once more, then once per poll).
Figures (worst trial): reads per build <= 8; end detected within 5 % of the duration after it.
Baseline, same run, same handlers: fixed 15 s polling (poll min = max = 15 s, no history).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

DURATIONS = (30, 45, 70)
HISTORY = 3
JITTER = 0.10


@dataclass
class Build:
    reads: int
    lag_seconds: float
    duration_seconds: float
    arm_calls: int

    @property
    def lag_share(self) -> float:
        return self.lag_seconds / self.duration_seconds


class Harness:
    def __init__(self, tmp: Path) -> None:
        from aibtrigger.adapters.aib.backend import AibBackend
        from aibtrigger.adapters.aib.clients import ArmClients
        from tests.fakearm import FakeClock, FakeTokenCredential
        from tests.fakearm.throttle import Throttle

        self.clock = FakeClock()
        big = (1e9, 1e9)
        self.arm, tls = common.fake_arm(tmp, clock=self.clock, throttle=Throttle(reads=big, writes=big))
        for minutes in DURATIONS:
            self.arm.world.add_template(f"build-{minutes}")
        from aibtrigger.catalog import parse_catalog

        self.catalog = parse_catalog(
            {
                "templates": [
                    {"name": t["name"], "resource_id": t["id"], "location": t["location"]}
                    for t in self.arm.world.templates.values()
                ]
            }
        )
        clients = ArmClients(
            FakeTokenCredential(),
            arm_endpoint=self.arm.endpoint,
            budget=None,
            options={"connection_verify": tls.ca, "retry_total": 3, "retry_backoff_factor": 0.01},
        )
        self.backend = AibBackend(self.catalog, clients=clients)
        self._ids = iter(range(10**9))

    def deps(self, *, poll_min: float = 30.0, poll_max: float = 600.0):
        from tests.fakearm.service import service_deps

        deps = service_deps(self.catalog, self.backend, self.clock)
        deps.poll_min_seconds, deps.poll_max_seconds = poll_min, poll_max
        return deps

    def build(self, deps, template: str, minutes: float) -> Build:
        from tests.fakearm import Timeline
        from tests.fakearm.service import build_once

        self.arm.world.set_timeline(template, Timeline.minutes(minutes))
        self.clock.advance(3600)  # builds a while apart
        self.arm.reset_counts()
        build_once(deps, self.clock, template, f"req-{next(self._ids)}", max_polls=2000)
        [run] = deps.store.list_runs(template, limit=1)
        return Build(
            reads=self.arm.count("GET", "template"),
            lag_seconds=(self.clock() - run.ended_at).total_seconds(),
            duration_seconds=(run.ended_at - run.started_at).total_seconds(),
            arm_calls=self.arm.count(),
        )

    def close(self) -> None:
        self.arm.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="P5: status reads per build, with history vs fixed polling")
    parser.add_argument("--quick", action="store_true", help="2 trials per duration instead of 10")
    parser.add_argument("--trials", type=int)
    args = parser.parse_args(argv)
    trials = args.trials or (2 if args.quick else 10)

    with tempfile.TemporaryDirectory(prefix="aibtrigger-p5-") as tmp:
        harness = Harness(Path(tmp))
        try:
            adaptive: dict[int, list[Build]] = {}
            cold: dict[int, Build] = {}
            fixed: dict[int, Build] = {}
            for minutes in DURATIONS:
                template = f"build-{minutes}"
                adaptive[minutes] = []
                for trial in range(trials):
                    rng = random.Random(f"{minutes}/{trial}")
                    deps = harness.deps()
                    for past in range(HISTORY):
                        build = harness.build(deps, template, minutes * rng.uniform(1 - JITTER, 1 + JITTER))
                        if trial == 0 and past == 0:
                            cold[minutes] = build  # the very first build: no history yet
                    # Not a whole number of minutes: a build's end is not lined up with any poll grid.
                    adaptive[minutes].append(harness.build(deps, template, minutes + rng.random()))
                offset = random.Random(f"{minutes}/fixed").random()
                fixed[minutes] = harness.build(harness.deps(poll_min=15, poll_max=15), template, minutes + offset)
        finally:
            harness.close()

    worst_reads = max(b.reads for builds in adaptive.values() for b in builds)
    worst_lag = max(b.lag_share for builds in adaptive.values() for b in builds)
    for minutes in DURATIONS:
        builds = adaptive[minutes]
        reads = [b.reads for b in builds]
        lags = [b.lag_share * 100 for b in builds]
        base = fixed[minutes]
        common.figure(
            "P5",
            f"{minutes}-min build, status reads (worst of {trials}; median {common.median(reads):g})",
            max(reads),
            "reads",
            baseline=base.reads,
            baseline_label="fixed 15 s polling",
            target=8,
        )
        common.figure(
            "P5",
            f"{minutes}-min build, end noticed after (worst of {trials}; median {common.median(lags):.1f} %)",
            max(lags),
            "% of duration",
            baseline=base.lag_share * 100,
            baseline_label="fixed 15 s polling",
            target=5.0,
        )
        common.info(
            "P5",
            f"{minutes} min: worst lag {max(b.lag_seconds for b in builds) / 60:.1f} min; ARM calls per "
            f"build {common.median([b.arm_calls for b in builds]):g} (baseline {base.arm_calls}); without "
            f"history (first build, geometric back-off 30..600 s, ~{cold[minutes].duration_seconds / 60:.0f} "
            f"min): {cold[minutes].reads} reads, noticed after {cold[minutes].lag_share * 100:.1f} %",
        )
    common.info(
        "P5",
        f"all durations: worst {worst_reads} reads per build, worst lag {worst_lag * 100:.2f} % "
        f"(history: {HISTORY} past builds within ±{JITTER:.0%} of the measured one)",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
