"""Storage outage (issue 5, item 4): Azurite, persisting to disk (`--location`), is stopped while builds
run (their builders sleeping in a customizer) and their polls are scheduled, then restarted on the same
ports with the same data folder
-> the flow resumes: every run ends recorded and published (one Run, one record, one result each), the
claims are released, and no worker process dies on the storage errors it met meanwhile."""

from __future__ import annotations

import pytest

from bench.reliability.scenarios import OUTAGE_TEMPLATES, outage_cluster, storage_outage
from tests.reliability.conftest import assert_clean

pytestmark = pytest.mark.e2e


def test_a_storage_outage_mid_build_loses_nothing_and_kills_no_worker(clusters):
    cluster = clusters(outage_cluster, workers=2, visibility=5.0)
    figures = storage_outage(cluster, templates=OUTAGE_TEMPLATES[:1], outages=1, outage_seconds=6.0)
    assert_clean(figures, builds=1)
    assert len(cluster.live_workers()) == 2
    [run] = cluster.runs(OUTAGE_TEMPLATES[0])
    assert run.is_terminal and run.published
    assert not cluster.store.list_claims()


@pytest.mark.slow
def test_two_long_outages_during_three_builds(clusters):
    cluster = clusters(outage_cluster, workers=2, visibility=5.0)
    figures = storage_outage(cluster, templates=OUTAGE_TEMPLATES, outages=2, outage_seconds=10.0)
    assert_clean(figures, builds=3)
    assert len(cluster.live_workers()) == 2
