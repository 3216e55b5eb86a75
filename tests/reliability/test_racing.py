"""Racing triggers (issue 5, item 2): for one template, at the same second T and across 4 workers, a manual
request (HTTP), its schedule tick (every worker's tick timer fires at T) and a source update (a new
marketplace version, found by every worker's sweep timer at T)
-> one build plus at most one coalesced follow-up carrying every reason; each of the three requests is
served by exactly one run; the 4x duplicated tick and sweep add nothing; and never two builds of the
template in progress at once (its builder processes, claim and backend state sampled every 50 ms).

The workers' tick and sweep timers, and the template's schedule, fire at the rounds' ticks only, so no
tick builds outside a round (racing_cluster)."""

from __future__ import annotations

import pytest

from bench.reliability.scenarios import RACER, racing_cluster, racing_triggers
from tests.reliability.conftest import assert_clean

pytestmark = pytest.mark.e2e


def test_manual_schedule_and_source_update_at_once_give_one_build_and_one_follow_up(clusters):
    cluster = clusters(racing_cluster, rounds=1, period=20, workers=4)
    figures = racing_triggers(cluster)
    # Three requests at once: the first to claim builds; the two others wait in its single follow-up.
    assert_clean(figures, builds=2)
    [first, follow_up] = sorted(cluster.runs(RACER), key=lambda r: r.started_at)
    assert len(first.request_ids) == 1 and len(follow_up.request_ids) == 3  # two signals + the hand-off
    assert first.ended_at <= follow_up.started_at


@pytest.mark.slow
def test_racing_triggers_four_rounds(clusters):
    cluster = clusters(racing_cluster, rounds=4, period=20, workers=4)
    assert_clean(racing_triggers(cluster), builds=8)
