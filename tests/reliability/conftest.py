"""Reliability suite (issue 5): real Azurite, real `aibtrigger dev` worker processes, tiny local builds.

The scenarios live in bench/reliability/scenarios.py, shared with the bench (bench/reliability/run.py),
which runs the same code with bigger numbers. Each cluster gets its own Azurite, catalog and workdir
under the test's tmp_path; everything it started is stopped at teardown.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def clusters(tmp_path):
    """`clusters(factory, **options)`: a cluster made by one of scenarios' *_cluster functions, closed
    at teardown (workers, their builders, Azurite)."""
    made = []

    def make(factory, **options):
        cluster = factory(tmp_path / f"cluster-{len(made) + 1}", **options)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.close()


def assert_clean(figures, *, builds: int) -> None:
    """The invariants every scenario reports: no violation, the expected Runs, nothing doubled or lost."""
    assert figures.problems == [], "\n".join(figures.problems)
    assert (figures.builds, figures.duplicates, figures.lost) == (builds, 0, 0), figures.line()
    assert sum(figures.rejected.values()) == 0, figures.rejected
