"""The pure run state machine: reading a status, and when to look again."""

from datetime import UTC, datetime, timedelta

import pytest

from aibtrigger.domain.model import BuildStatus, RunState, RunSubState
from aibtrigger.domain.runstate import belongs_to_run, poll_delay, read_status

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
GRACE = timedelta(minutes=15)


def status(state, sub=None, start=T0, end=None, message=""):
    return BuildStatus(state, sub, start, end, message)


@pytest.mark.parametrize(
    "reading, now, expected",
    [
        (status(RunState.RUNNING, RunSubState.CUSTOMIZING), T0 + 10 * timedelta(minutes=1), ("continue", None)),
        (status(RunState.CANCELING), T0 + timedelta(minutes=5), ("continue", None)),
        (status(RunState.SUCCEEDED, end=T0 + HOUR), T0 + HOUR, ("finished", RunState.SUCCEEDED)),
        (status(RunState.PARTIALLY_SUCCEEDED, end=T0 + HOUR), T0 + HOUR, ("finished", RunState.PARTIALLY_SUCCEEDED)),
        (status(RunState.FAILED, end=T0 + HOUR, message="Script exited"), T0 + HOUR, ("finished", RunState.FAILED)),
        (
            status(RunState.FAILED, end=T0 + HOUR, message="Timeout waiting: 'context deadline exceeded'"),
            T0 + HOUR,
            ("finished", RunState.TIMED_OUT),
        ),
        (status(RunState.CANCELED, end=T0 + HOUR), T0 + HOUR, ("finished", RunState.CANCELED)),
        # Run accepted but lastRunStatus not moved yet: wait a little before concluding anything.
        (BuildStatus(None), T0 + timedelta(seconds=30), ("continue", None)),
        (BuildStatus(None), T0 + timedelta(minutes=10), ("finished", RunState.FAILED)),
        # The status shows an older run (ended before ours started): not ours.
        (
            status(RunState.SUCCEEDED, start=T0 - 2 * HOUR, end=T0 - HOUR),
            T0 + timedelta(minutes=10),
            ("finished", RunState.FAILED),
        ),
        (status(RunState.RUNNING), T0 + HOUR + GRACE + timedelta(minutes=1), ("overdue", None)),
        (status(RunState.RUNNING), T0 + HOUR + GRACE - timedelta(minutes=1), ("continue", None)),
    ],
)
def test_read_status(reading, now, expected):
    verdict = read_status(reading, started_at=T0, now=now, timeout=HOUR, grace=GRACE)
    assert (verdict.action, verdict.state) == expected


def test_a_previous_build_that_ended_before_the_claim_is_not_adopted():
    previous = status(RunState.SUCCEEDED, start=T0 - timedelta(seconds=40), end=T0 - timedelta(seconds=5))
    assert not belongs_to_run(previous, T0)
    assert belongs_to_run(status(RunState.RUNNING, start=T0 + timedelta(seconds=2)), T0)
    assert belongs_to_run(status(RunState.SUCCEEDED, start=T0, end=T0 + HOUR), T0)


def test_without_history_polling_backs_off_geometrically_within_bounds():
    delays, elapsed = [], 0.0
    while elapsed < 45 * 60:
        delay = poll_delay(elapsed=timedelta(seconds=elapsed), expected=None, minimum=30, maximum=600)
        delays.append(delay)
        elapsed += delay
    assert delays[0] == 30 and max(delays) <= 600
    assert all(b >= a for a, b in zip(delays, delays[1:], strict=False))
    assert len(delays) < 20  # a 45-minute build: a handful of reads, not hundreds


def test_with_history_polling_jumps_to_the_expected_end_then_looks_closely():
    expected = timedelta(minutes=45)
    first = poll_delay(elapsed=timedelta(0), expected=expected, minimum=30, maximum=3600)
    assert first == pytest.approx(0.9 * 45 * 60)
    near_end = poll_delay(elapsed=timedelta(minutes=44), expected=expected, minimum=30, maximum=3600)
    assert near_end == pytest.approx(0.05 * 45 * 60)


def test_a_run_stuck_canceling_past_the_grace_is_given_up():
    canceling = status(RunState.CANCELING)
    since = T0 + timedelta(minutes=30)
    kept = read_status(
        canceling,
        started_at=T0,
        now=since + GRACE - timedelta(minutes=1),
        timeout=HOUR,
        grace=GRACE,
        canceling_since=since,
    )
    assert kept.action == "continue"
    given_up = read_status(
        canceling,
        started_at=T0,
        now=since + GRACE + timedelta(minutes=1),
        timeout=HOUR,
        grace=GRACE,
        canceling_since=since,
    )
    assert (given_up.action, given_up.state) == ("finished", RunState.STUCK_CANCELING)
    assert "released" in given_up.message


def test_history_lets_the_first_poll_wait_past_the_maximum_delay():
    first = poll_delay(elapsed=timedelta(0), expected=timedelta(minutes=70), minimum=30, maximum=600)
    assert first == pytest.approx(0.9 * 70 * 60)
