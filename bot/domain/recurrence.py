"""When a group meets: a recurrence rule kept in the group's own IANA time zone.

Members are spread across zones with and without daylight saving, half-hour
offsets and Lord Howe's half-hour shift, so a meeting is fixed to the wall clock
of the group's zone, and the UTC instants move with that zone's rules.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import IntEnum, StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.input_checks import excerpt

MIN_DURATION = timedelta(minutes=15)
MAX_DURATION = timedelta(hours=4)
MAX_INTERVAL_WEEKS = 8
NTH_CHOICES = (1, 2, 3, 4, -1)
_MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_NTH_WORDS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}


class RecurrenceError(ValueError):
    """A schedule that cannot be used; the message is shown to the leader as is."""


class Frequency(StrEnum):
    WEEKLY = "weekly"
    EVERY_N_WEEKS = "every_n_weeks"
    MONTHLY_NTH_WEEKDAY = "monthly_nth_weekday"


class Weekday(IntEnum):
    """Numbered as `date.weekday()` numbers them."""

    MONDAY = 0
    TUESDAY = 1
    WEDNESDAY = 2
    THURSDAY = 3
    FRIDAY = 4
    SATURDAY = 5
    SUNDAY = 6

    @property
    def title(self) -> str:
        return self.name.title()


class Adjustment(StrEnum):
    """Why an occurrence does not start at the rule's wall-clock time as written."""

    NONEXISTENT_SHIFTED = "nonexistent_shifted"
    AMBIGUOUS_FIRST = "ambiguous_first"


@dataclass(frozen=True)
class RecurrenceRule:
    """A series of meetings; `first_date` is the first meeting and sets the weekday.

    For monthly rules, `first_date` must itself be the `nth` weekday of its month
    (use `nth_weekday_of_month` to find it). `until` is the last local date a
    meeting may fall on; `count` the number of meetings. Either, both or neither.
    """

    kind: Frequency
    start_time: time
    zone: str
    first_date: date
    duration: timedelta
    interval: int = 1
    nth: int | None = None
    until: date | None = None
    count: int | None = None

    def __post_init__(self) -> None:
        _load_zone(self.zone)
        if self.start_time.tzinfo is not None:
            raise RecurrenceError(
                "The start time is a wall-clock time in the group's zone; give it without a zone."
            )
        if not MIN_DURATION <= self.duration <= MAX_DURATION:
            raise RecurrenceError(
                f"A meeting must last between {_minutes(MIN_DURATION)} minutes and "
                f"{_minutes(MAX_DURATION) // 60} hours (got {_minutes(self.duration)} minutes)."
            )
        self._validate_pattern()
        if self.until is not None and self.until < self.first_date:
            raise RecurrenceError(
                f"The series cannot end ({_long_date(self.until)}) before its first meeting "
                f"({_long_date(self.first_date)})."
            )
        if self.count is not None and self.count < 1:
            raise RecurrenceError("The number of meetings must be at least 1.")

    def _validate_pattern(self) -> None:
        if self.kind is Frequency.EVERY_N_WEEKS:
            if not 1 <= self.interval <= MAX_INTERVAL_WEEKS:
                raise RecurrenceError(
                    f"Meetings can be every 1 to {MAX_INTERVAL_WEEKS} weeks "
                    f"(got every {self.interval})."
                )
        elif self.interval != 1:
            raise RecurrenceError("An interval only applies to every-n-weeks schedules.")
        if self.kind is not Frequency.MONTHLY_NTH_WEEKDAY:
            if self.nth is not None:
                raise RecurrenceError("'nth' only applies to monthly schedules.")
            return
        if self.nth not in NTH_CHOICES:
            raise RecurrenceError(
                f"A monthly meeting falls on the 1st, 2nd, 3rd, 4th or last weekday of the "
                f"month (got {self.nth})."
            )
        expected = nth_weekday_of_month(
            self.first_date.year, self.first_date.month, self.weekday, self.nth
        )
        if expected != self.first_date:
            raise RecurrenceError(
                f"The first meeting, {_long_date(self.first_date)}, is not the "
                f"{_NTH_WORDS[self.nth]} {self.weekday.title} of its month "
                f"(that is {_long_date(expected)})."
            )

    @property
    def weekday(self) -> Weekday:
        return Weekday(self.first_date.weekday())

    @property
    def tz(self) -> ZoneInfo:
        return _load_zone(self.zone)

    def local_date(self, index: int) -> date:
        """The local date of the meeting at `index` in the series (0 is the first)."""
        if self.kind is Frequency.MONTHLY_NTH_WEEKDAY:
            assert self.nth is not None  # guaranteed by validation
            months = self.first_date.month - 1 + index
            year, month = self.first_date.year + months // 12, months % 12 + 1
            return nth_weekday_of_month(year, month, self.weekday, self.nth)
        return self.first_date + timedelta(weeks=self.interval * index)

    def occurrence(self, index: int) -> Occurrence | None:
        """The meeting at `index`, or None if the series ends before it."""
        if self.count is not None and index >= self.count:
            return None
        local_date = self.local_date(index)
        if self.until is not None and local_date > self.until:
            return None
        start, adjustment = localize(local_date, self.start_time, self.tz)
        return Occurrence(index, local_date, start, start + self.duration, adjustment)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form for the schedule series' rule column."""
        return {
            "kind": self.kind.value,
            "start_time": f"{self.start_time:%H:%M}",
            "zone": self.zone,
            "first_date": self.first_date.isoformat(),
            "duration_minutes": _minutes(self.duration),
            "interval": self.interval,
            "nth": self.nth,
            "until": None if self.until is None else self.until.isoformat(),
            "count": self.count,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RecurrenceRule:
        """Read what `to_dict` wrote; raises `RecurrenceError` on anything else."""
        try:
            until, count, nth = data.get("until"), data.get("count"), data.get("nth")
            return cls(
                kind=Frequency(str(data["kind"])),
                start_time=parse_clock_time(str(data["start_time"])),
                zone=str(data["zone"]),
                first_date=date.fromisoformat(str(data["first_date"])),
                duration=timedelta(minutes=_as_int(data["duration_minutes"])),
                interval=_as_int(data.get("interval", 1)),
                nth=None if nth is None else _as_int(nth),
                until=None if until is None else date.fromisoformat(str(until)),
                count=None if count is None else _as_int(count),
            )
        except RecurrenceError:
            raise
        except (KeyError, ValueError) as error:
            raise RecurrenceError(f"This stored schedule cannot be read ({error}).") from None


@dataclass(frozen=True)
class Occurrence:
    """One meeting of a series; `index` identifies it even if it is later moved."""

    index: int
    local_date: date
    start: datetime
    end: datetime
    adjustment: Adjustment | None


def occurrences(
    rule: RecurrenceRule,
    *,
    start_after: datetime,
    limit: int | None = None,
    until: datetime | None = None,
) -> list[Occurrence]:
    """Meetings starting strictly after `start_after` and, if given, no later than `until`.

    At most `limit` of them. An endless rule needs a `limit` or an `until`.
    """
    for name, moment in (("start_after", start_after), ("until", until)):
        if moment is not None and moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    if limit is not None and limit < 0:
        raise ValueError("limit cannot be negative")
    if limit is None and until is None and rule.count is None and rule.until is None:
        raise RecurrenceError("This series never ends; ask for a limited number of meetings.")
    found: list[Occurrence] = []
    index = _index_near(rule, start_after.astimezone(rule.tz).date())
    while limit is None or len(found) < limit:
        occurrence = rule.occurrence(index)
        if occurrence is None or (until is not None and occurrence.start > until):
            break
        if occurrence.start > start_after:
            found.append(occurrence)
        index += 1
    return found


def _index_near(rule: RecurrenceRule, local_day: date) -> int:
    """An index a little before `local_day`, so a series years old is not walked from 0."""
    first = rule.first_date
    if rule.kind is Frequency.MONTHLY_NTH_WEEKDAY:
        months = (local_day.year - first.year) * 12 + local_day.month - first.month
        return max(0, months - 1)
    return max(0, (local_day - first).days // (7 * rule.interval) - 1)


def localize(local_date: date, wall_time: time, tz: ZoneInfo) -> tuple[datetime, Adjustment | None]:
    """The UTC instant of a wall-clock time on a date in a zone, and what had to give.

    A time skipped when clocks go forward is shifted by the gap (02:30 becomes
    03:30 in Sydney), as RFC 5545 does; a time that happens twice when clocks go
    back takes the first. zoneinfo does not normalise skipped times itself, so
    they are found by a round trip through UTC.
    """
    wall = datetime.combine(local_date, wall_time.replace(fold=0), tzinfo=tz)
    later = wall.replace(fold=1)
    instant = wall.astimezone(UTC)
    if wall.utcoffset() == later.utcoffset():
        return instant, None
    if instant.astimezone(tz).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant, Adjustment.AMBIGUOUS_FIRST
    return instant, Adjustment.NONEXISTENT_SHIFTED


def nth_weekday_of_month(year: int, month: int, weekday: Weekday, nth: int) -> date:
    """The nth (1..4) or last (-1) given weekday of a month; always exists."""
    if nth not in NTH_CHOICES:
        raise RecurrenceError(f"Choose the 1st to 4th or the last weekday (got {nth}).")
    days_in_month = calendar.monthrange(year, month)[1]
    if nth == -1:
        last = date(year, month, days_in_month)
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (nth - 1))


def describe(rule: RecurrenceRule) -> str:
    """The rule in words for leaders and members.

    E.g. 'Every 2 weeks on Tuesday at 19:30 (Australia/Sydney), 90 minutes'.
    """
    day, at = rule.weekday.title, f"{rule.start_time:%H:%M}"
    if rule.kind is Frequency.MONTHLY_NTH_WEEKDAY:
        assert rule.nth is not None  # guaranteed by validation
        pattern = f"The {_NTH_WORDS[rule.nth]} {day} of each month"
    elif rule.interval == 1:
        pattern = f"Every week on {day}"
    else:
        pattern = f"Every {rule.interval} weeks on {day}"
    text = f"{pattern} at {at} ({rule.zone}), {_minutes(rule.duration)} minutes"
    if rule.count is not None:
        text += f", {rule.count} meeting{'s' if rule.count != 1 else ''}"
    if rule.until is not None:
        text += f", until {_long_date(rule.until)}"
    return text


def adjustment_note(rule: RecurrenceRule, occurrence: Occurrence) -> str | None:
    """Why this meeting's start differs from the rule's time, for `/schedule show`."""
    at, day = f"{rule.start_time:%H:%M}", _long_date(occurrence.local_date)
    local_start = occurrence.start.astimezone(rule.tz)
    if occurrence.adjustment is Adjustment.NONEXISTENT_SHIFTED:
        return (
            f"{at} does not exist on {day} in {rule.zone} (the clocks go forward), "
            f"so this meeting starts at {local_start:%H:%M}."
        )
    if occurrence.adjustment is Adjustment.AMBIGUOUS_FIRST:
        return (
            f"{at} happens twice on {day} in {rule.zone} (the clocks go back); "
            f"this meeting starts at the first {at} (UTC{_offset(local_start)})."
        )
    return None


_WEEKDAY_PREFIX_MIN = 2
_CLOCK_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def parse_weekday(text: str) -> Weekday:
    """A weekday from its name or an unambiguous start of it: 'Tuesday', 'tue', 'TU'."""
    wanted = text.strip().rstrip(".").casefold()
    matches = [day for day in Weekday if day.name.casefold().startswith(wanted)]
    if len(wanted) < _WEEKDAY_PREFIX_MIN or len(matches) != 1:
        raise RecurrenceError(f"'{excerpt(text.strip())}' is not a day of the week (e.g. Tuesday).")
    return matches[0]


def parse_clock_time(text: str) -> time:
    """A 24-hour 'HH:MM' (or 'H:MM') wall-clock time."""
    match = _CLOCK_TIME.fullmatch(text.strip())
    if match is None:
        raise RecurrenceError(
            f"'{excerpt(text.strip())}' is not a time; use HH:MM on a 24-hour clock, e.g. 19:30."
        )
    return time(int(match[1]), int(match[2]))


def _load_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise RecurrenceError(
            f"'{excerpt(name)}' is not a known time zone; use an IANA name such as "
            "Australia/Sydney."
        ) from None


def _as_int(value: object) -> int:
    if type(value) is not int:
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def _minutes(duration: timedelta) -> int:
    return duration // timedelta(minutes=1)


def _long_date(day: date) -> str:
    """English whatever the host's locale, like the rest of the bot's text."""
    return f"{day.day} {_MONTH_NAMES[day.month - 1]} {day.year}"


def _offset(moment: datetime) -> str:
    offset = moment.utcoffset()
    assert offset is not None  # an aware datetime
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(_minutes(offset))
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
