"""Faults that outlast the queue's retries (issue 10), on real Azurite and real `aibtrigger dev` workers:
the scenarios of bench/reliability/lasting.py, each asserting its invariants (recover is printed)."""

from __future__ import annotations

import pytest

from bench.reliability.lasting import cluster_for, long_outage, poison_each

pytestmark = pytest.mark.e2e


def assert_recovered(figures) -> None:
    print("\n" + figures.line())
    assert figures.problems == [], "\n".join(figures.problems)
    assert (figures.stuck, figures.lost, figures.duplicates) == (0, 0, 0), figures.line()
    assert figures.recover is not None, figures.line()


def test_a_storage_outage_longer_than_the_retries_mid_cascade_recovers_by_itself(clusters):
    assert_recovered(long_outage(clusters(cluster_for)))


def test_every_kind_of_message_poisoned_once_is_told_and_nothing_owed_is_left(clusters):
    assert_recovered(poison_each(clusters(cluster_for)))
