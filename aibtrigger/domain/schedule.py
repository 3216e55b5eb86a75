"""Time rules of a template's policy: its NCRONTAB schedule and its maintenance window. Pure: `now` is given.

Schedules are Azure Functions' 6-field NCRONTAB, seconds first: `{second} {minute} {hour} {day}
{month} {day-of-week}`, evaluated in UTC (the Functions default). Allowed per field: numbers, `*`,
lists `a,b`, ranges `a-b`, steps `*/n` or `a-b/n`, three-letter month and day names. Quartz-style
`L`, `W`, `#` and `?` are refused, as NCRONTAB refuses them. A 5-field (Unix cron) expression is
refused too, with the 6-field expression it most likely meant: silently reading `0 3 * * 0` as
seconds-first would run it at the wrong time. When both day fields are restricted, a day matching
either runs (cron's rule, which cronsim follows).

Missed ticks: `due_tick` returns only the most recent tick since the last one handled, so a service
that was down for a week handles a daily schedule once on its return, not seven times.

Maintenance window, as the catalog writes it:

    maintenance_window: {days: [Sat, Sun], start: "02:00", end: "06:00", timezone: Europe/Paris}

It opens on each listed day (all days when `days` is omitted) at `start`, local time in `timezone`
(IANA name, default UTC), and closes at `end`; an `end` earlier than `start` wraps past midnight
into the next day (the day listed is the day it opens); `end: "24:00"` means midnight at the end of
the day. `start == end` is refused as ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

_FIELDS = ("second", "minute", "hour", "day-of-month", "month", "day-of-week")
_MONTHS = frozenset(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # index = datetime.weekday()
_FULL_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_NAMES = {4: _MONTHS, 5: frozenset(_DAYS)}


@dataclass(frozen=True)
class Schedule:
    """A validated 6-field NCRONTAB expression (build it with `parse_schedule`)."""

    expression: str

    def next_after(self, moment: datetime) -> datetime | None:
        """The first tick strictly after `moment` (UTC); None if it never fires again."""
        from cronsim import CronSim

        try:
            return next(CronSim(self.expression, _utc(moment)))
        except StopIteration:
            return None

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        """The last tick at or before `moment` (UTC); None if there was none (in cronsim's 50-year reach)."""
        # cronsim steps back one second before searching: start one second later to include `moment`.
        return _latest_tick(self.expression, _utc(moment).replace(microsecond=0) + timedelta(seconds=1))


def parse_schedule(expression: str) -> Schedule:
    """Validate an NCRONTAB expression; ValueError says which field is wrong and why."""
    fields = str(expression).split()
    if len(fields) == 5:
        raise ValueError(
            f"NCRONTAB needs 6 fields (seconds first); got 5: {expression!r} — did you mean '0 {' '.join(fields)}'?"
        )
    if len(fields) != 6:
        raise ValueError(
            f"NCRONTAB needs 6 fields (seconds first): {{second}} {{minute}} {{hour}} {{day}} "
            f"{{month}} {{day-of-week}}; got {len(fields)}: {expression!r}"
        )
    for index, text in enumerate(fields):
        if not _plain_syntax(index, text.upper()):
            raise ValueError(
                f"NCRONTAB {expression!r}: bad {_FIELDS[index]} field {text!r} "
                "(use numbers, names, '*', ',', '-' and '/' only)"
            )
    from cronsim import CronSim, CronSimError

    normalized = " ".join(fields)
    try:
        CronSim(normalized, datetime(2000, 1, 1, tzinfo=UTC))  # range checks
    except CronSimError as exc:  # "Bad minute" etc.: name the field and what was written in it
        field = next((i for i, name in enumerate(_FIELDS) if str(exc).lower().endswith(name)), None)
        detail = f"bad {_FIELDS[field]} field {fields[field]!r}" if field is not None else str(exc)
        raise ValueError(f"NCRONTAB {expression!r}: {detail} (out of range or never matches)") from None
    return Schedule(normalized)


def due_tick(schedule: Schedule | None, last_handled: datetime | None, now: datetime) -> datetime | None:
    """The single most recent tick in (last_handled, now], or None when no tick is due.

    With `last_handled` None (never handled), the most recent tick at or before `now` is due.
    With `schedule` None (a template without one), none ever is.
    """
    if schedule is None:
        return None
    latest = schedule.latest_at_or_before(now)
    if latest is None or (last_handled is not None and latest <= _utc(last_handled)):
        return None
    return latest


@dataclass(frozen=True)
class MaintenanceWindow:
    """When builds may start. `days`: datetime.weekday() numbers (0 = Monday) the window opens on."""

    days: frozenset[int]
    start: time
    length: timedelta
    timezone: str = "UTC"

    def contains(self, moment: datetime) -> bool:
        local = self._local(moment)
        for opening_day in (local.date(), local.date() - timedelta(days=1)):  # yesterday's may wrap into today
            if opening_day.weekday() in self.days:
                opens = datetime.combine(opening_day, self.start)
                if opens <= local < opens + self.length:
                    return True
        return False

    def next_opening(self, moment: datetime) -> datetime:
        """The first time the window opens strictly after `moment`, in UTC."""
        local = self._local(moment)
        for offset in range(8):
            day: date = local.date() + timedelta(days=offset)
            opens = datetime.combine(day, self.start)
            if day.weekday() in self.days and opens > local:
                return opens.replace(tzinfo=_zone(self.timezone)).astimezone(UTC)
        raise AssertionError("a window with at least one day opens within 8 days")

    def describe(self) -> str:
        days = ",".join(_DAYS[d].title() for d in sorted(self.days)) if len(self.days) < 7 else "daily"
        end = (datetime.combine(date.min, self.start) + self.length).time()
        return f"{days} {self.start:%H:%M}-{end:%H:%M} {self.timezone}"

    def _local(self, moment: datetime) -> datetime:
        # Compare naive wall-clock times: aware datetimes sharing a tzinfo compare without offsets anyway.
        return _utc(moment).astimezone(_zone(self.timezone)).replace(tzinfo=None)


def parse_window(spec) -> MaintenanceWindow:
    """A window from a mapping or an object with `days`, `start`, `end`, `timezone`; ValueError when wrong."""
    get = spec.get if hasattr(spec, "get") else lambda key, default=None: getattr(spec, key, default)
    days = frozenset(_weekday(d) for d in (get("days") or _DAYS))
    start, end = _clock(get("start"), "start"), _clock(get("end"), "end")
    if start == end:
        raise ValueError(f"maintenance window start and end are both {get('start')!r}: give a window with a length")
    zone_name = get("timezone") or "UTC"
    _zone(zone_name)
    length = (end - start) % timedelta(days=1) or timedelta(days=1)
    return MaintenanceWindow(days, (datetime.min + start).time(), length, zone_name)


@lru_cache(maxsize=4096)  # a sweep asks the same few schedules about the same `now` thousands of times
def _latest_tick(expression: str, start: datetime) -> datetime | None:
    from cronsim import CronSim

    try:
        return next(CronSim(expression, start, reverse=True))
    except StopIteration:
        return None


def _plain_syntax(index: int, text: str) -> bool:
    for term in text.split(","):
        base, slash, step = term.partition("/")
        if slash and not step.isdigit():
            return False
        atoms = [] if base == "*" else base.split("-")
        if len(atoms) > 2 or not all(a.isdigit() or a in _NAMES.get(index, ()) for a in atoms):
            return False
    return True


def _weekday(name) -> int:
    key = str(name).strip().upper()
    for names in (_DAYS, _FULL_DAYS):
        if key in names:
            return names.index(key)
    raise ValueError(f"maintenance window day {name!r}: use Mon, Tue, Wed, Thu, Fri, Sat or Sun")


def _clock(value, what: str) -> timedelta:
    try:
        hours, minutes = (int(p) for p in str(value).split(":"))
    except ValueError:
        raise ValueError(f"maintenance window {what} {value!r}: use HH:MM (24-hour)") from None
    if not (0 <= minutes < 60 and (0 <= hours < 24 or (what == "end" and hours == 24 and minutes == 0))):
        raise ValueError(f"maintenance window {what} {value!r}: no such time of day")
    return timedelta(hours=hours, minutes=minutes)


def _zone(name: str):
    if name.upper() == "UTC":
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"maintenance window timezone {name!r}: not an IANA time zone (e.g. Europe/Paris)") from None


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("schedules need timezone-aware datetimes")
    return moment.astimezone(UTC)
