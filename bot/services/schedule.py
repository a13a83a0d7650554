"""Group schedules: a recurring series, the meetings it makes, and changes to them.

A series' rule (bot.domain.recurrence) is kept in the group's IANA zone. The
meetings of the coming weeks (`HORIZON`) exist as rows, so one meeting can be
skipped or moved, reminders hang off them, and Discord events mirror them
(bot.services.scheduled_events). A daily job extends the horizon. A series is
never edited: a change ends it and starts a new one from a date.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import discord
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import Group, Meeting, MeetingStatus, Reminder, ScheduleSeries
from bot.db.queries import on_shards
from bot.domain.group_settings import GroupSettings
from bot.domain.input_checks import excerpt
from bot.domain.recurrence import (
    Adjustment,
    Frequency,
    Occurrence,
    RecurrenceError,
    RecurrenceRule,
    Weekday,
    adjustment_note,
    describe,
    localize,
    nth_weekday_of_month,
    occurrences,
    parse_clock_time,
    parse_weekday,
)
from bot.errors import UserFacingError
from bot.replies import timestamp
from bot.scheduler import JobScheduler
from bot.services.groups import GroupService, validate_zone
from bot.services.reminders import (
    ReminderService,
    new_reminders,
    offsets_of,
    parse_offsets,
)
from bot.services.scheduled_events import EventSync

log = logging.getLogger(__name__)

# At least eight weeks of meetings exist at any time; the daily job tops them up.
HORIZON = timedelta(weeks=9)
DAILY_JOB = "schedule_daily"
DAY = timedelta(days=1)
SHOWN_MEETINGS = 8
CALENDAR_HISTORY = timedelta(days=365)
FREQUENCIES = ("weekly", "fortnightly", "every-n-weeks", "monthly")
USAGE = (
    "The form is `/schedule set frequency:weekly day:Tuesday time:19:30 duration:90`: the time "
    "as HH:MM (24-hour clock) in the group's time zone, the duration in minutes (15 to 240); "
    "add `every:3` for every-n-weeks or `week:first` for monthly; optionally `starting:` and "
    "`until:` as YYYY-MM-DD (e.g. 2026-06-02) and `count:` (1 or more)."
)


@dataclass(frozen=True)
class ScheduleForm:
    """What a leader typed into `/schedule set` or `/schedule change`, not yet checked."""

    frequency: str | None = None
    day: str | None = None
    time: str | None = None
    duration: int | None = None
    every: int | None = None
    week: int | None = None
    starting: str | None = None
    until: str | None = None
    count: int | None = None
    timezone: str | None = None

    def filled_from(self, rule: RecurrenceRule, count: int | None) -> ScheduleForm:
        """The gaps filled from the rule being changed; a new frequency brings its own options."""
        frequency, every, week = self.frequency, self.every, self.week
        if frequency is None:
            frequency, every, week = _frequency_of(rule)
            every, week = self.every or every, self.week or week
        return replace(
            self,
            frequency=frequency,
            every=every,
            week=week,
            day=self.day or rule.weekday.title,
            time=self.time or f"{rule.start_time:%H:%M}",
            duration=self.duration or rule.duration // timedelta(minutes=1),
            until=self.until or (rule.until.isoformat() if rule.until else None),
            count=self.count if self.count is not None else count,
        )


def _frequency_of(rule: RecurrenceRule) -> tuple[str, int | None, int | None]:
    if rule.kind is Frequency.MONTHLY_NTH_WEEKDAY:
        return "monthly", None, rule.nth
    if rule.kind is Frequency.EVERY_N_WEEKS:
        return (
            ("fortnightly", None, None)
            if rule.interval == 2
            else (
                "every-n-weeks",
                rule.interval,
                None,
            )
        )
    return "weekly", None, None


def _zone(form: ScheduleForm, group: Group) -> str:
    if not form.timezone:
        return group.timezone
    try:
        return validate_zone(form.timezone)
    except UserFacingError as error:
        raise UserFacingError(f"{error.message}\n{USAGE}") from None


# Dates a meeting plan can name: anything outside is a typo (or 9999-12-31, which
# overflows the first calculation made with it).
EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2100, 12, 31)


def parse_date(text: str, option: str) -> date:
    try:
        parsed = date.fromisoformat(text.strip())
    except ValueError:
        raise RecurrenceError(
            f"`{excerpt(text.strip(), 20)}` is not a date I can use for `{option}`: write it "
            "as YYYY-MM-DD, e.g. 2026-06-02."
        ) from None
    if not EARLIEST_DATE <= parsed <= LATEST_DATE:
        raise RecurrenceError(
            f"`{option}` must be between {EARLIEST_DATE.isoformat()} and "
            f"{LATEST_DATE.isoformat()}."
        )
    return parsed


def build_rule(form: ScheduleForm, zone: str, now: datetime) -> RecurrenceRule:
    """The rule a form describes, or a UserFacingError that shows the valid form."""
    try:
        return _build_rule(form, zone, now)
    except RecurrenceError as error:
        raise UserFacingError(f"{error}\n{USAGE}") from None


def _build_rule(form: ScheduleForm, zone: str, now: datetime) -> RecurrenceRule:
    if form.frequency not in FREQUENCIES:
        raise RecurrenceError(
            "Choose how often the group meets: weekly, fortnightly, every-n-weeks or monthly."
        )
    if form.day is None or form.time is None or form.duration is None:
        raise RecurrenceError("Give the day, the time and the duration of the meetings.")
    if form.every is not None and form.frequency != "every-n-weeks":
        raise RecurrenceError("`every` only goes with `frequency:every-n-weeks`.")
    if form.week is not None and form.frequency != "monthly":
        raise RecurrenceError("`week` only goes with `frequency:monthly`.")
    weekday = parse_weekday(form.day)
    start_time = parse_clock_time(form.time)
    kind, interval, nth = Frequency.WEEKLY, 1, None
    if form.frequency == "fortnightly":
        kind, interval = Frequency.EVERY_N_WEEKS, 2
    elif form.frequency == "every-n-weeks":
        if form.every is None:
            raise RecurrenceError("Every-n-weeks needs `every`: the weeks between meetings.")
        kind, interval = Frequency.EVERY_N_WEEKS, form.every
    elif form.frequency == "monthly":
        if form.week is None:
            raise RecurrenceError("Monthly needs `week`: first, second, third, fourth or last.")
        kind, nth = Frequency.MONTHLY_NTH_WEEKDAY, form.week
    tz = ZoneInfo(zone)
    earliest = today = now.astimezone(tz).date()
    if form.starting:
        earliest = parse_date(form.starting, "starting")
        if earliest < today:
            raise RecurrenceError(
                f"The first meeting cannot be in the past: {earliest.isoformat()} has gone. "
                "Choose today or a later date."
            )
    until = parse_date(form.until, "until") if form.until else None
    if until is not None and until < today:
        raise RecurrenceError(f"The end date {until.isoformat()} is already in the past.")
    if kind is Frequency.MONTHLY_NTH_WEEKDAY and nth not in (1, 2, 3, 4, -1):
        raise RecurrenceError("`week` is first, second, third, fourth or last.")
    return RecurrenceRule(
        kind=kind,
        start_time=start_time,
        zone=zone,
        first_date=_first_date(kind, weekday, nth, start_time, tz, earliest, now),
        duration=timedelta(minutes=form.duration),
        interval=interval,
        nth=nth,
        until=until,
        count=form.count,
    )


def _first_date(
    kind: Frequency,
    weekday: Weekday,
    nth: int | None,
    start_time: time,
    tz: ZoneInfo,
    earliest: date,
    now: datetime,
) -> date:
    """The first day on or after `earliest` that fits the pattern and is still ahead."""
    if kind is Frequency.MONTHLY_NTH_WEEKDAY:
        assert nth is not None
        year, month = earliest.year, earliest.month
        while True:
            candidate = nth_weekday_of_month(year, month, weekday, nth)
            if candidate >= earliest and localize(candidate, start_time, tz)[0] > now:
                return candidate
            year, month = year + month // 12, month % 12 + 1
    candidate = earliest + timedelta(days=(weekday - earliest.weekday()) % 7)
    if localize(candidate, start_time, tz)[0] <= now:
        candidate += timedelta(weeks=1)
    return candidate


@dataclass(frozen=True)
class ScheduleChange:
    """The outcome of a change: the rule now in force, the meetings touched, what failed."""

    rule: RecurrenceRule | None
    meetings: Sequence[Meeting]
    problems: Sequence[str]


@dataclass(frozen=True)
class ShownMeeting:
    meeting: Meeting
    note: str | None


@dataclass(frozen=True)
class Overview:
    """What `/schedule show` shows: the rule, the coming meetings, the skipped ones among them."""

    rule: RecurrenceRule | None
    coming: Sequence[ShownMeeting]
    skipped: Sequence[Meeting]


class ScheduleService:
    """Use cases of a group's schedule."""

    def __init__(
        self,
        client: discord.Client,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        jobs: JobScheduler,
        groups: GroupService,
        reminders: ReminderService,
    ) -> None:
        self._client = client
        self._session_factory = session_factory
        self._clock = clock
        self._jobs = jobs
        self._groups = groups
        self._reminders = reminders
        self.events = EventSync(client, session_factory, clock, jobs)
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        jobs.register(DAILY_JOB, self._on_daily)

    # Start-up and the daily job -------------------------------------------------------------

    async def start_up(self) -> None:
        """Rebuild the cache from the database: horizons, reminder jobs, the daily job.

        Discord's events are checked once connected (`events.check_all`), against
        the events each server's GUILD_CREATE brings.
        """
        changed = await self.extend_horizons()
        await self._reminders.schedule_jobs()
        self._jobs.schedule(DAILY_JOB, "horizon", self._clock.now() + DAY)
        for group_id in changed:
            self._client.dispatch("schedule_changed", group_id)

    async def _on_daily(self, key: str) -> None:
        self._jobs.schedule(DAILY_JOB, key, self._clock.now() + DAY)
        changed = await self.extend_horizons()
        await self._reminders.schedule_jobs()
        for group_id in changed:
            self._client.dispatch("schedule_changed", group_id)
        await self.events.sync_all()

    async def extend_horizons(self) -> set[int]:
        """Create the meetings that came within the horizon; the ids of groups that got some."""
        now = self._clock.now()
        changed: set[int] = set()
        async with self._session_factory() as session:
            # Each process extends its own guilds' groups: what follows (plans, events,
            # reminder jobs) is theirs to run.
            active = (
                await session.execute(
                    on_shards(
                        select(ScheduleSeries, Group)
                        .join(Group, Group.id == ScheduleSeries.group_id)
                        .where(ScheduleSeries.ended_at.is_(None), Group.archived_at.is_(None)),
                        Group.server_id,
                        self._jobs.shards,
                    )
                )
            ).all()
            # Each series' last occurrence, one seek in (series_id, occurrence_index) per
            # series: grouping the meetings would read every one a series ever had.
            last_made = (
                select(func.max(Meeting.occurrence_index))
                .where(Meeting.series_id == ScheduleSeries.id)
                .scalar_subquery()
            )
            made = {
                series_id: last
                for series_id, last in await session.execute(
                    select(ScheduleSeries.id, last_made).where(ScheduleSeries.ended_at.is_(None))
                )
            }
            for series, group in active:
                try:
                    rule = RecurrenceRule.from_dict(series.rule)
                except RecurrenceError:
                    log.error("schedule series %s has an unreadable rule", series.id)
                    continue
                last = made.get(series.id)
                if last is not None:
                    # Most series were topped up yesterday: one date tells, not ten.
                    following = rule.occurrence(last + 1)
                    if following is None or following.start > now + HORIZON:
                        continue
                due = [
                    o
                    for o in occurrences(rule, start_after=now, until=now + HORIZON)
                    if last is None or o.index > last
                ]
                if not due:
                    continue
                try:
                    async with session.begin_nested():
                        await _add_meetings(session, series.id, group, due, now)
                except IntegrityError:
                    continue  # another bot process made them a moment ago
                changed.add(group.id)
            await session.commit()
        return changed

    # Changes ----------------------------------------------------------------------------------

    async def set_schedule(self, group: Group, form: ScheduleForm) -> ScheduleChange:
        now = self._clock.now()
        rule = build_rule(form, _zone(form, group), now)
        async with self._locks[group.id], self._session_factory() as session:
            if await _active_series(session, group.id) is not None:
                raise UserFacingError(
                    f"**{group.name}** already has a schedule. Change it from a date with "
                    "`/schedule change`, or end it with `/schedule cancel` first."
                )
            meetings = await self._start_series(session, group, rule, now)
            await session.commit()
        announcement = (
            f"📅 **{group.name}** now meets: {describe(rule)}. "
            + _next_text(meetings)
            + " Members get reminders here before each meeting; `/reminders dms:on` adds a DM."
        )
        return ScheduleChange(rule, meetings, await self._after_change(group, announcement))

    async def change_schedule(
        self, group: Group, from_text: str, form: ScheduleForm
    ) -> ScheduleChange:
        """End the current series before `from_text` and continue with the changed rule."""
        now = self._clock.now()
        zone = _zone(form, group)
        try:
            from_day = parse_date(from_text, "from")
        except RecurrenceError as error:
            raise UserFacingError(str(error)) from None
        if from_day < now.astimezone(ZoneInfo(zone)).date():
            raise UserFacingError(
                f"A change cannot start in the past ({from_day.isoformat()}): choose today or "
                "a later date."
            )
        async with self._locks[group.id], self._session_factory() as session:
            series = await _active_series(session, group.id)
            if series is None:
                raise UserFacingError(
                    f"**{group.name}** has no schedule to change: set one with `/schedule set`."
                )
            old = RecurrenceRule.from_dict(series.rule)
            remaining = None
            if old.count is not None:
                remaining = old.count - sum(old.local_date(i) < from_day for i in range(old.count))
                if remaining < 1 and form.count is None:
                    raise UserFacingError(
                        f"The series of **{group.name}** has no meetings left from "
                        f"{from_day.isoformat()}; set a new one with `/schedule set`."
                    )
            merged = replace(form.filled_from(old, remaining), starting=from_day.isoformat())
            rule = build_rule(merged, zone, now)
            series.ended_at = now
            cutoff = datetime.combine(from_day, time(0), tzinfo=ZoneInfo(group.timezone))
            await self._cancel_meetings(session, group.id, cutoff.astimezone(UTC), now)
            meetings = await self._start_series(session, group, rule, now)
            await session.commit()
        announcement = (
            f"📅 The schedule of **{group.name}** changes from {from_day.isoformat()}: "
            f"{describe(rule)}. " + _next_text(meetings)
        )
        return ScheduleChange(rule, meetings, await self._after_change(group, announcement))

    async def cancel_schedule(self, group: Group) -> ScheduleChange:
        now = self._clock.now()
        async with self._locks[group.id], self._session_factory() as session:
            series = await _active_series(session, group.id)
            if series is None:
                raise UserFacingError(f"**{group.name}** has no schedule to cancel.")
            series.ended_at = now
            cancelled = await self._cancel_meetings(session, group.id, now, now)
            await session.commit()
        announcement = (
            f"📅 The regular meetings of **{group.name}** are cancelled"
            + (
                f": the next {len(cancelled)} planned meetings will not take place."
                if cancelled
                else "."
            )
            + " The leaders will tell you when a new schedule is set."
        )
        return ScheduleChange(None, cancelled, await self._after_change(group, announcement))

    async def skip(self, group: Group, day_text: str) -> ScheduleChange:
        now = self._clock.now()
        async with self._locks[group.id], self._session_factory() as session:
            meeting = await self._meeting_on(session, group, day_text, now)
            meeting.status = MeetingStatus.CANCELLED
            meeting.revision += 1
            await self._forget_reminders(session, [meeting.id])
            following = await _next_scheduled(session, group.id, now)
            await session.commit()
        announcement = (
            f"📅 The meeting of **{group.name}** on {timestamp(meeting.scheduled_start)} "
        )
        announcement += "is skipped. " + _next_text([following] if following else [])
        return ScheduleChange(None, [meeting], await self._after_change(group, announcement))

    async def move(
        self, group: Group, day_text: str, to_day_text: str | None, to_time_text: str | None
    ) -> ScheduleChange:
        """Move one meeting to another day and/or time (local to the group), keeping its length."""
        now = self._clock.now()
        tz = ZoneInfo(group.timezone)
        if to_day_text is None and to_time_text is None:
            raise UserFacingError(
                "Say where the meeting goes: `to_date:` (YYYY-MM-DD) and/or `to_time:` (HH:MM)."
            )
        async with self._locks[group.id], self._session_factory() as session:
            meeting = await self._meeting_on(session, group, day_text, now)
            old_start = meeting.scheduled_start
            local = old_start.astimezone(tz)
            try:
                to_day = parse_date(to_day_text, "to_date") if to_day_text else local.date()
                to_time = parse_clock_time(to_time_text) if to_time_text else local.time()
            except RecurrenceError as error:
                raise UserFacingError(str(error)) from None
            new_start, _ = localize(to_day, to_time, tz)
            if new_start <= now:
                raise UserFacingError(
                    f"{timestamp(new_start)} has already passed: move the meeting to a time ahead."
                )
            length = meeting.planned_end - meeting.scheduled_start
            clash = await _overlapping(session, group.id, meeting.id, new_start, new_start + length)
            if clash is not None:
                raise UserFacingError(
                    f"That would overlap the meeting at {timestamp(clash.scheduled_start)}."
                )
            original = meeting.moved_from or old_start
            meeting.moved_from = None if original == new_start else original
            meeting.scheduled_start, meeting.planned_end = new_start, new_start + length
            meeting.schedule_note = None
            meeting.revision += 1
            await self._reminders.replan(session, meeting, offsets_of(group))
            await session.commit()
        announcement = (
            f"📅 The meeting of **{group.name}** on {timestamp(old_start)} moves to "
            f"{timestamp(new_start)} ({timestamp(new_start, 'R')})."
        )
        return ScheduleChange(None, [meeting], await self._after_change(group, announcement))

    async def set_reminder_offsets(self, group: Group, text: str) -> tuple[int, ...]:
        offsets = parse_offsets(text)
        await self._groups.update_settings(
            group, lambda settings: settings.with_changes(reminder_offsets=offsets)
        )
        await self._reminders.set_offsets(group, offsets)
        return offsets

    async def _start_series(
        self, session: AsyncSession, group: Group, rule: RecurrenceRule, now: datetime
    ) -> list[Meeting]:
        stored = await session.get(Group, group.id)
        assert stored is not None
        if stored.timezone != rule.zone:
            stored.timezone = group.timezone = rule.zone
        series = ScheduleSeries(group_id=group.id, rule=rule.to_dict(), created_at=now)
        session.add(series)
        await session.flush()
        due = occurrences(rule, start_after=now, until=now + HORIZON)
        if not due:  # a first meeting beyond the horizon is still made, so it can be shown
            due = occurrences(rule, start_after=now, limit=1)
        return await _add_meetings(session, series.id, group, due, now)

    async def _cancel_meetings(
        self, session: AsyncSession, group_id: int, after: datetime, now: datetime
    ) -> list[Meeting]:
        meetings = list(
            (
                await session.execute(
                    select(Meeting).where(
                        Meeting.group_id == group_id,
                        Meeting.status == MeetingStatus.SCHEDULED,
                        Meeting.series_id.is_not(None),
                        Meeting.scheduled_start >= max(after, now),
                    )
                )
            ).scalars()
        )
        for meeting in meetings:
            meeting.status = MeetingStatus.CANCELLED
            meeting.revision += 1
        await self._forget_reminders(session, [m.id for m in meetings])
        return meetings

    async def _forget_reminders(self, session: AsyncSession, meeting_ids: list[int]) -> None:
        if meeting_ids:
            ids = await session.execute(
                select(Reminder.id).where(Reminder.meeting_id.in_(meeting_ids))
            )
            self._reminders.forget(ids.scalars())

    async def _meeting_on(
        self, session: AsyncSession, group: Group, day_text: str, now: datetime
    ) -> Meeting:
        """The group's scheduled meeting on a local date, still ahead."""
        try:
            day = parse_date(day_text, "date")
        except RecurrenceError as error:
            raise UserFacingError(str(error)) from None
        tz = ZoneInfo(group.timezone)
        start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
        end = datetime.combine(day + DAY, time(0), tzinfo=tz).astimezone(UTC)
        meeting = (
            (
                await session.execute(
                    select(Meeting)
                    .where(
                        Meeting.group_id == group.id,
                        Meeting.status == MeetingStatus.SCHEDULED,
                        Meeting.scheduled_start >= max(start, now),
                        Meeting.scheduled_start < end,
                    )
                    .order_by(Meeting.scheduled_start)
                )
            )
            .scalars()
            .first()
        )
        if meeting is not None:
            return meeting
        coming = await _coming(session, group.id, now, 4)
        listed = ", ".join(
            f"`{m.scheduled_start.astimezone(tz).date()}` ({timestamp(m.scheduled_start)})"
            for m in coming
        )
        raise UserFacingError(
            f"**{group.name}** has no meeting ahead on {day.isoformat()} ({group.timezone} dates). "
            + (f"Coming meetings: {listed}." if listed else "No meeting is planned.")
        )

    async def _after_change(self, group: Group, announcement: str) -> list[str]:
        """Tell the members, bring jobs and Discord's events in step, tell other features."""
        await self._reminders.schedule_jobs([group.id])
        problems = await self._announce(group, announcement)
        problems += await self.events.sync_server(group.server_id)
        self._client.dispatch("schedule_changed", group.id)
        return problems

    async def _announce(self, group: Group, text: str) -> list[str]:
        if group.text_channel_id is None:
            return []
        try:
            await self._client.get_partial_messageable(group.text_channel_id).send(text)
        except discord.HTTPException as error:
            log.warning("could not announce a schedule change: HTTP %s", error.status)
            return [f"I could not tell the members in <#{group.text_channel_id}>"]
        return []

    # Reading ---------------------------------------------------------------------------------

    async def overview(self, group: Group) -> Overview:
        now = self._clock.now()
        async with self._session_factory() as session:
            coming = await _coming(session, group.id, now, SHOWN_MEETINGS)
            # One statement for the series in force and those the coming meetings keep
            # the rules of (a series ended since): their clocks decide the DST notes.
            kept = {m.series_id for m in coming if m.series_id}
            all_series = (
                await session.execute(
                    select(ScheduleSeries)
                    .where(
                        ScheduleSeries.group_id == group.id,
                        or_(ScheduleSeries.ended_at.is_(None), ScheduleSeries.id.in_(kept)),
                    )
                    .order_by(ScheduleSeries.id.desc())
                )
            ).scalars().all()
            series = next((s for s in all_series if s.ended_at is None), None)
            rules = {s.id: RecurrenceRule.from_dict(s.rule) for s in all_series if s.id in kept}
            skipped: list[Meeting] = []
            if coming:
                skipped = list(
                    (
                        await session.execute(
                            select(Meeting)
                            .where(
                                Meeting.group_id == group.id,
                                Meeting.status == MeetingStatus.CANCELLED,
                                Meeting.scheduled_start > now,
                                Meeting.scheduled_start < coming[-1].scheduled_start,
                            )
                            .order_by(Meeting.scheduled_start)
                        )
                    ).scalars()
                )
        shown = [ShownMeeting(m, _dst_note(m, rules.get(m.series_id or 0))) for m in coming]
        return Overview(RecurrenceRule.from_dict(series.rule) if series else None, shown, skipped)

    async def meeting_for(self, group: Group, day_text: str | None) -> Meeting:
        """The meeting on a date, or else the next one (or the one running)."""
        now = self._clock.now()
        async with self._session_factory() as session:
            if day_text:
                return await self._meeting_on(session, group, day_text, now)
            meeting = (
                (
                    await session.execute(
                        select(Meeting)
                        .where(
                            Meeting.group_id == group.id,
                            Meeting.status.in_([MeetingStatus.SCHEDULED, MeetingStatus.LIVE]),
                            Meeting.planned_end > now,
                        )
                        .order_by(Meeting.scheduled_start)
                    )
                )
                .scalars()
                .first()
            )
        if meeting is None:
            raise UserFacingError(f"**{group.name}** has no meeting coming up.")
        return meeting

    async def calendar(self, group: Group) -> bytes:
        now = self._clock.now()
        async with self._session_factory() as session:
            meetings = (
                (
                    await session.execute(
                        select(Meeting)
                        .where(
                            Meeting.group_id == group.id,
                            Meeting.scheduled_start >= now - CALENDAR_HISTORY,
                        )
                        .order_by(Meeting.scheduled_start)
                    )
                )
                .scalars()
                .all()
            )
        # icalendar is imported by the first export, not at start-up (issue 13).
        from bot.services.calendar_export import build_calendar

        return build_calendar(group, meetings, now)


async def _add_meetings(
    session: AsyncSession,
    series_id: int,
    group: Group,
    due: Sequence[Occurrence],
    now: datetime,
) -> list[Meeting]:
    meetings = [
        Meeting(
            group_id=group.id,
            series_id=series_id,
            occurrence_index=o.index,
            scheduled_start=o.start,
            planned_end=o.end,
            status=MeetingStatus.SCHEDULED,
            schedule_note=o.adjustment.value if o.adjustment else None,
            revision=0,
            created_at=now,
        )
        for o in due
    ]
    session.add_all(meetings)
    await session.flush()
    offsets = GroupSettings.from_dict(group.settings).reminder_offsets
    for meeting in meetings:
        session.add_all(new_reminders(meeting, offsets, now))
    await session.flush()
    return meetings


async def _active_series(session: AsyncSession, group_id: int) -> ScheduleSeries | None:
    result = await session.execute(
        select(ScheduleSeries)
        .where(ScheduleSeries.group_id == group_id, ScheduleSeries.ended_at.is_(None))
        .order_by(ScheduleSeries.id.desc())
    )
    return result.scalars().first()


async def _coming(session: AsyncSession, group_id: int, now: datetime, limit: int) -> list[Meeting]:
    result = await session.execute(
        select(Meeting)
        .where(
            Meeting.group_id == group_id,
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.scheduled_start > now,
        )
        .order_by(Meeting.scheduled_start)
        .limit(limit)
    )
    return list(result.scalars())


async def _next_scheduled(session: AsyncSession, group_id: int, now: datetime) -> Meeting | None:
    coming = await _coming(session, group_id, now, 1)
    return coming[0] if coming else None


async def _overlapping(
    session: AsyncSession, group_id: int, meeting_id: int, start: datetime, end: datetime
) -> Meeting | None:
    result = await session.execute(
        select(Meeting).where(
            Meeting.group_id == group_id,
            Meeting.id != meeting_id,
            Meeting.status.in_([MeetingStatus.SCHEDULED, MeetingStatus.LIVE]),
            Meeting.scheduled_start < end,
            Meeting.planned_end > start,
        )
    )
    return result.scalars().first()


def _dst_note(meeting: Meeting, rule: RecurrenceRule | None) -> str | None:
    """Why this meeting is not at the rule's wall-clock time, if a DST change is the reason."""
    if rule is None or meeting.schedule_note is None or meeting.occurrence_index is None:
        return None
    index = meeting.occurrence_index
    occurrence = Occurrence(
        index,
        rule.local_date(index),
        meeting.scheduled_start,
        meeting.planned_end,
        Adjustment(meeting.schedule_note),
    )
    return adjustment_note(rule, occurrence)


def _next_text(meetings: Sequence[Meeting]) -> str:
    if not meetings:
        return ""
    start = meetings[0].scheduled_start
    return f"Next meeting: {timestamp(start)} ({timestamp(start, 'R')})."
