"""NCRONTAB schedules (6 fields, seconds first), missed ticks handled once, maintenance windows."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from aibtrigger.domain.schedule import due_tick, parse_schedule, parse_window

UTC = UTC
WED_NOON = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)  # a Wednesday


def at(day, hour, minute=0, second=0):
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


def test_a_five_field_expression_is_refused_with_the_six_field_one_it_likely_meant():
    with pytest.raises(ValueError) as caught:
        parse_schedule("0 3 * * 0")
    assert str(caught.value) == (
        "NCRONTAB needs 6 fields (seconds first); got 5: '0 3 * * 0' — did you mean '0 0 3 * * 0'?"
    )


@pytest.mark.parametrize(
    "expression, message",
    [
        ("0 0 3 * * * *", r"needs 6 fields .* got 7"),
        ("", r"got 0"),
        ("x 0 3 * * *", r"bad second field 'x'"),
        ("0 60 3 * * *", r"bad minute field '60'"),
        ("0 0 25 * * *", r"bad hour field '25'"),
        ("0 0 3 32 * *", r"bad day-of-month field '32'"),
        ("0 0 3 L * *", r"bad day-of-month field 'L'"),  # Quartz 'last day': NCRONTAB refuses it
        ("0 0 3 * 13 *", r"bad month field '13'"),
        ("0 0 3 * * MON#2", r"bad day-of-week field 'MON#2'"),
        ("0 0 3 * * 5L", r"bad day-of-week field '5L'"),
        ("0 0 3 ? * *", r"bad day-of-month field '\?'"),
        ("0 */0 * * * *", r"bad minute field"),
        ("0 0 3 * Mon *", r"bad month field 'Mon'"),  # a day name in the month field
    ],
)
def test_bad_fields_are_named(expression, message):
    with pytest.raises(ValueError, match=message):
        parse_schedule(expression)


@pytest.mark.parametrize(
    "expression", ["0 */5 * * * *", "0 30 9 * Jan Mon", "0 0 9-17/2 * * 1-5", "0 0 3 * * Sun", "  0  0 3 1,15 * *  "]
)
def test_valid_expressions_are_accepted_and_normalized(expression):
    assert parse_schedule(expression).expression == " ".join(expression.split())


@pytest.mark.parametrize(
    "expression, after, expected",
    [
        ("0 0 3 * * *", at(18, 12), at(19, 3)),
        ("0 0 3 * * *", at(18, 3), at(19, 3)),  # strictly after
        ("30 * * * * *", at(18, 12, 0, 30), at(18, 12, 1, 30)),  # seconds come first
        ("0 0 3 * * Sat", at(18, 12), at(21, 3)),
    ],
)
def test_next_after(expression, after, expected):
    assert parse_schedule(expression).next_after(after) == expected


DAILY_3AM = parse_schedule("0 0 3 * * *")


@pytest.mark.parametrize(
    "last_handled, now, expected",
    [
        (at(17, 3), at(18, 12), at(18, 3)),  # today's tick is due
        (at(18, 3), at(18, 12), None),  # already handled
        (at(11, 3), at(18, 12), at(18, 3)),  # a week down: one tick, the latest, not seven
        (None, at(18, 12), at(18, 3)),  # never handled: the latest tick
        (at(17, 3), at(18, 3), at(18, 3)),  # a tick exactly at `now` is due
        (at(17, 3), at(18, 2, 59, 59), None),  # not yet
    ],
)
def test_due_tick_returns_only_the_most_recent_missed_tick(last_handled, now, expected):
    assert due_tick(DAILY_3AM, last_handled, now) == expected


def test_schedules_need_aware_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        DAILY_3AM.next_after(datetime(2026, 11, 18, 12))


WEEKEND_NIGHTS = parse_window({"days": ["Sat", "Sun"], "start": "02:00", "end": "06:00", "timezone": "UTC"})
FRIDAY_LATE = parse_window({"days": ["friday"], "start": "22:00", "end": "04:00"})  # wraps into Saturday
PARIS = parse_window({"days": ["Sat"], "start": "02:00", "end": "06:00", "timezone": "Europe/Paris"})
DAILY = parse_window({"start": "01:00", "end": "24:00"})


@pytest.mark.parametrize(
    "window, moment, inside, next_opening",
    [
        (WEEKEND_NIGHTS, WED_NOON, False, at(21, 2)),
        (WEEKEND_NIGHTS, at(21, 2), True, at(22, 2)),  # start is inside; end is not
        (WEEKEND_NIGHTS, at(22, 5, 59), True, at(28, 2)),
        (WEEKEND_NIGHTS, at(22, 6), False, at(28, 2)),
        (FRIDAY_LATE, at(20, 23), True, at(27, 22)),
        (FRIDAY_LATE, at(21, 1), True, at(27, 22)),  # Saturday 01:00: Friday's window, past midnight
        (FRIDAY_LATE, at(21, 4), False, at(27, 22)),
        (FRIDAY_LATE, at(19, 1), False, at(20, 22)),  # Thursday 01:00: Wednesday has no window
        (PARIS, at(21, 1), True, at(28, 1)),  # 02:00 in Paris (UTC+1 in November) is 01:00 UTC
        (PARIS, at(21, 5), False, at(28, 1)),
        (DAILY, at(18, 0, 30), False, at(18, 1)),
        (DAILY, at(18, 23, 59), True, at(19, 1)),
    ],
)
def test_maintenance_window(window, moment, inside, next_opening):
    assert window.contains(moment) is inside
    assert window.next_opening(moment) == next_opening


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"days": ["Caturday"], "start": "02:00", "end": "06:00"}, r"day 'Caturday': use Mon"),
        ({"start": "2am", "end": "06:00"}, r"start '2am': use HH:MM"),
        ({"start": "02:00", "end": "25:00"}, r"end '25:00': no such time"),
        ({"start": "24:00", "end": "06:00"}, r"start '24:00': no such time"),
        ({"start": "02:00", "end": "02:00"}, r"both '02:00'"),
        ({"start": "02:00", "end": "06:00", "timezone": "Mars/Olympus"}, r"not an IANA time zone"),
    ],
)
def test_bad_windows_are_refused_with_a_clear_message(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_window(spec)


def test_a_window_can_be_read_from_an_object_with_attributes():
    spec = SimpleNamespace(days=None, start="22:00", end="02:00", timezone="UTC")  # e.g. a pydantic model
    window = parse_window(spec)
    assert window.describe() == "daily 22:00-02:00 UTC" and window.contains(at(19, 1))


def test_window_describes_itself():
    assert WEEKEND_NIGHTS.describe() == "Sat,Sun 02:00-06:00 UTC"
    assert FRIDAY_LATE.describe() == "Fri 22:00-04:00 UTC"
    assert DAILY.describe() == "daily 01:00-00:00 UTC"
