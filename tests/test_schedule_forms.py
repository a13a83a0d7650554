"""The pure parts of scheduling: reading leaders' input, reminder offsets, the calendar file."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from icalendar import Calendar

from bot.db.models import Group, Meeting, MeetingStatus
from bot.domain.recurrence import Frequency
from bot.errors import UserFacingError
from bot.services.calendar_export import build_calendar
from bot.services.reminders import describe_offset, new_reminders, parse_offsets
from bot.services.schedule import ScheduleForm, build_rule

# Monday 11 May 2026, 07:00 in Sydney.
NOW = datetime(2026, 5, 10, 21, 0, tzinfo=UTC)
ZONE = "Australia/Sydney"


def form(**changes: object) -> ScheduleForm:
    values: dict[str, object] = {
        "frequency": "weekly",
        "day": "Tuesday",
        "time": "19:30",
        "duration": 90,
    }
    return ScheduleForm(**{**values, **changes})  # type: ignore[arg-type]


def test_weekly_starts_on_the_next_matching_day() -> None:
    rule = build_rule(form(), ZONE, NOW)
    assert rule.kind is Frequency.WEEKLY
    assert rule.first_date == date(2026, 5, 12)
    assert rule.start_time == time(19, 30)


def test_today_is_skipped_once_its_time_has_passed() -> None:
    """Monday 06:00 has gone at 07:00, so the first Monday meeting is next week."""
    assert build_rule(form(day="mon", time="06:00"), ZONE, NOW).first_date == date(2026, 5, 18)
    assert build_rule(form(day="mon", time="08:00"), ZONE, NOW).first_date == date(2026, 5, 11)


def test_fortnightly_and_every_n_weeks_set_the_interval() -> None:
    assert build_rule(form(frequency="fortnightly"), ZONE, NOW).interval == 2
    assert build_rule(form(frequency="every-n-weeks", every=3), ZONE, NOW).interval == 3


def test_monthly_finds_the_nth_weekday_on_or_after_the_start() -> None:
    """The first Tuesday of May 2026 (the 5th) has gone: June 2 is the first meeting."""
    rule = build_rule(form(frequency="monthly", week=1), ZONE, NOW)
    assert rule.kind is Frequency.MONTHLY_NTH_WEEKDAY
    assert rule.first_date == date(2026, 6, 2)
    last = build_rule(form(frequency="monthly", week=-1, starting="2026-07-01"), ZONE, NOW)
    assert last.first_date == date(2026, 7, 28)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"frequency": "daily"}, "Choose how often"),
        ({"every": 2}, "`every` only goes with"),
        ({"frequency": "every-n-weeks"}, "needs `every`"),
        ({"frequency": "every-n-weeks", "every": 9}, "every 1 to 8 weeks"),
        ({"week": 1}, "`week` only goes with"),
        ({"starting": "2026-05-10"}, "cannot be in the past"),
        ({"starting": "2026-02-30"}, "YYYY-MM-DD"),
        ({"until": "2026-05-01"}, "already in the past"),
        ({"until": "2026-05-12", "starting": "2026-05-20"}, "cannot end"),
        ({"duration": 240 + 1}, "between 15 minutes and 4 hours"),
        ({"duration": 14}, "between 15 minutes and 4 hours"),
        ({"count": 0}, "at least 1"),
        ({"time": "7pm"}, "HH:MM"),
    ],
)
def test_bad_input_explains_itself_and_shows_the_form(
    changes: dict[str, object], expected: str
) -> None:
    with pytest.raises(UserFacingError) as raised:
        build_rule(form(**changes), ZONE, NOW)
    assert expected in raised.value.message
    assert "The form is `/schedule set" in raised.value.message


def test_offsets_are_read_in_days_hours_and_minutes() -> None:
    assert parse_offsets("24h, 15m") == (1440, 15)
    assert parse_offsets("1d 2h; 90m, 90 m") == (1560, 90)
    assert describe_offset(1560) == "1 day 2 hours"
    assert describe_offset(15) == "15 minutes"


@pytest.mark.parametrize("text", ["", "soon", "15", "2h banana", "1w"])
def test_unreadable_offsets_are_refused(text: str) -> None:
    with pytest.raises(UserFacingError):
        parse_offsets(text)


def test_reminders_already_due_are_not_made() -> None:
    """A meeting planned 10 hours ahead gets its 15-minute reminder, not a late 24-hour one."""
    meeting = Meeting(id=7, scheduled_start=NOW + timedelta(hours=10))
    made = new_reminders(meeting, (1440, 15), NOW)
    assert [(r.offset_minutes, r.due_at) for r in made] == [
        (15, NOW + timedelta(hours=10, minutes=-15))
    ]


def test_calendar_uses_the_zone_stable_uids_and_marks_cancellations() -> None:
    group = Group(id=1, server_id=99, name="Riverina", timezone=ZONE)
    before_dst = datetime(2026, 9, 29, 9, 30, tzinfo=UTC)  # 19:30 AEST
    after_dst = datetime(2026, 10, 6, 8, 30, tzinfo=UTC)  # 19:30 AEDT
    meetings = [
        Meeting(
            id=1,
            scheduled_start=before_dst,
            planned_end=before_dst + timedelta(minutes=90),
            status=MeetingStatus.CANCELLED,
            revision=2,
        ),
        Meeting(
            id=2,
            scheduled_start=after_dst,
            planned_end=after_dst + timedelta(minutes=90),
            status=MeetingStatus.SCHEDULED,
            revision=0,
        ),
    ]
    parsed = Calendar.from_ical(build_calendar(group, meetings, NOW))
    events = parsed.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [
        "meeting-1@99.balint-bot",
        "meeting-2@99.balint-bot",
    ]
    assert [e.decoded("DTSTART").astimezone(UTC) for e in events] == [before_dst, after_dst]
    assert {e.decoded("DTSTART").strftime("%H:%M") for e in events} == {"19:30"}
    assert [str(e["STATUS"]) for e in events] == ["CANCELLED", "CONFIRMED"]
    assert [int(str(e["SEQUENCE"])) for e in events] == [2, 0]
    assert [str(tz["TZID"]) for tz in parsed.walk("VTIMEZONE")] == [ZONE]


