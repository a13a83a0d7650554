"""A group's meetings as an iCalendar file, for members' own calendars.

Each meeting keeps one UID for ever and its SEQUENCE grows with every change,
so importing a newer file updates the events already imported instead of adding
copies; skipped and cancelled meetings stay in the file as STATUS:CANCELLED so
calendars remove them. Times carry the group's TZID with its VTIMEZONE, so they
stay right across daylight-saving changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

from bot.db.models import Group, Meeting, MeetingStatus

PRODUCT_ID = "-//balint-bot//Balint group meetings//EN"


def meeting_uid(group: Group, meeting: Meeting) -> str:
    return f"meeting-{meeting.id}@{group.server_id}.balint-bot"


def build_calendar(group: Group, meetings: Sequence[Meeting], now: datetime) -> bytes:
    """Only the group's name and meeting times: nothing about cases or members."""
    tz = ZoneInfo(group.timezone)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", f"{group.name} (Balint group)")
    calendar.add("x-wr-timezone", group.timezone)
    for meeting in meetings:
        event = Event()
        event.add("uid", meeting_uid(group, meeting))
        event.add("dtstamp", now)
        event.add("dtstart", meeting.scheduled_start.astimezone(tz))
        event.add("dtend", meeting.planned_end.astimezone(tz))
        event.add("summary", f"{group.name}: Balint group")
        event.add("sequence", meeting.revision)
        cancelled = meeting.status == MeetingStatus.CANCELLED
        event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
        calendar.add_component(event)
    calendar.add_missing_timezones()
    ical: bytes = calendar.to_ical()
    return ical
