"""Schedules end to end: setting, changing and showing them, and their Discord events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.db.models import Group, Meeting, MeetingStatus, Reminder, ScheduleSeries
from cogs.schedule import ScheduleCommands
from tests.e2e.conftest import START, Harness, answer_text, statements_run
from tests.emulator.state import ScheduledEvent

SCHEDULED, ACTIVE, COMPLETED, CANCELLED = 1, 2, 3, 4
# START is Monday 11 May 2026, 07:00 in Sydney (UTC+10, no DST until October).
FIRST_TUESDAY = datetime(2026, 5, 12, 9, 30, tzinfo=UTC)  # 19:30 in Sydney
ZONE = ZoneInfo("Australia/Sydney")
WEEKLY: dict[str, Any] = {"frequency": "weekly", "day": "Tuesday", "time": "19:30", "duration": 90}


async def make_group(harness: Harness, members: int = 3) -> Group:
    """A group with some members."""
    group = await harness.create_group()
    for member in harness.people.members[:members]:
        await harness.add_and_accept(group, member)
    return group


@pytest.fixture
async def group(harness: Harness) -> Group:
    return await make_group(harness)


async def schedule(harness: Harness, group: Group, **options: Any) -> str:
    result = await harness.command(
        harness.people.leader, "schedule set", group.text_channel_id, **(options or WEEKLY)
    )
    assert result.ephemeral
    return answer_text(result)


async def meetings(harness: Harness, group: Group) -> list[Meeting]:
    async with harness.bot.session_factory() as session:
        result = await session.execute(
            select(Meeting).where(Meeting.group_id == group.id).order_by(Meeting.scheduled_start)
        )
        return list(result.scalars())


def events(harness: Harness, status: int | None = SCHEDULED) -> list[ScheduledEvent]:
    found = [
        e
        for e in harness.emu.scheduled_events(harness.guild_id)
        if status is None or e.status == status
    ]
    return sorted(found, key=lambda e: e.scheduled_start_time)


def start_of(event: ScheduledEvent) -> datetime:
    return datetime.fromisoformat(event.scheduled_start_time)


def posts(harness: Harness, group: Group) -> list[str]:
    assert group.text_channel_id is not None
    return [m.content for m in harness.emu.messages(group.text_channel_id)]


def changes_seen(harness: Harness) -> list[int]:
    """Group ids of every `schedule_changed` the bot dispatches from now on."""
    seen: list[int] = []

    async def listener(group_id: int) -> None:
        seen.append(group_id)

    harness.bot.add_listener(listener, "on_schedule_changed")
    return seen


async def test_weekly_schedule_makes_eight_weeks_of_meetings_and_events(
    harness: Harness, group: Group
) -> None:
    """Setting a weekly schedule plans the coming weeks, as meetings and as Discord events."""
    seen = changes_seen(harness)
    text = await schedule(harness, group)
    assert "Every week on Tuesday at 19:30 (Australia/Sydney), 90 minutes" in text
    planned = await meetings(harness, group)
    starts = [m.scheduled_start for m in planned]
    assert starts[0] == FIRST_TUESDAY
    assert starts == [FIRST_TUESDAY + timedelta(weeks=i) for i in range(len(planned))]
    assert starts[-1] >= START + timedelta(weeks=8)
    published = events(harness)
    assert [start_of(e) for e in published] == starts
    assert {e.channel_id for e in published} == {group.voice_channel_id}
    assert all(e.entity_type == 2 for e in published)
    assert {m.discord_event_id for m in planned} == {e.id for e in published}
    announcement = posts(harness, group)[-1]
    assert "now meets" in announcement
    assert f"<t:{int(FIRST_TUESDAY.timestamp())}:F>" in announcement
    assert seen == [group.id]


async def test_a_second_set_is_refused_while_a_schedule_runs(
    harness: Harness, group: Group
) -> None:
    """`/schedule set` does not silently replace a running schedule."""
    await schedule(harness, group)
    text = await schedule(harness, group, **{**WEEKLY, "day": "Friday"})
    assert "already has a schedule" in text
    assert {m.scheduled_start.weekday() for m in await meetings(harness, group)} == {1}


async def test_skip_move_and_cancel_keep_discord_events_in_step(
    harness: Harness, group: Group
) -> None:
    """Each change reaches the meetings, the events and the members, and is announced."""
    await schedule(harness, group)
    seen = changes_seen(harness)
    leader, channel = harness.people.leader, group.text_channel_id

    result = await harness.command(leader, "schedule skip", channel, date="2026-05-19")
    assert "is skipped" in answer_text(result)
    planned = await meetings(harness, group)
    skipped = planned[1]
    assert skipped.status == MeetingStatus.CANCELLED
    assert skipped.revision == 1
    cancelled_event = harness.emu.state.event(harness.guild_id, skipped.discord_event_id or 0)
    assert cancelled_event.status == CANCELLED
    assert "is skipped" in posts(harness, group)[-1]

    result = await harness.command(
        leader, "schedule move", channel, date="2026-05-26", to_date="2026-05-27", to_time="18:00"
    )
    moved_to = datetime(2026, 5, 27, 8, 0, tzinfo=UTC)
    assert f"<t:{int(moved_to.timestamp())}:F>" in answer_text(result)
    moved = next(m for m in await meetings(harness, group) if m.id == planned[2].id)
    assert moved.scheduled_start == moved_to
    assert moved.planned_end == moved_to + timedelta(minutes=90)
    assert moved.moved_from == planned[2].scheduled_start
    edited = harness.emu.state.event(harness.guild_id, moved.discord_event_id or 0)
    assert start_of(edited) == moved_to
    assert edited.status == SCHEDULED
    assert "moves to" in posts(harness, group)[-1]

    result = await harness.command(leader, "schedule cancel", channel)
    assert "cancelled" in answer_text(result)
    assert all(m.status == MeetingStatus.CANCELLED for m in await meetings(harness, group))
    assert events(harness) == []
    assert "regular meetings" in posts(harness, group)[-1]
    assert seen == [group.id, group.id, group.id]


async def test_change_from_a_date_ends_the_series_and_starts_a_new_one(
    harness: Harness, group: Group
) -> None:
    """Meetings before the date stay; from it on, the new time applies, events included."""
    await schedule(harness, group)
    result = await harness.command(
        harness.people.leader,
        "schedule change",
        group.text_channel_id,
        **cast(dict[str, Any], {"from": "2026-06-01", "time": "18:00"}),
    )
    assert "Every week on Tuesday at 18:00" in answer_text(result)
    planned = await meetings(harness, group)
    kept = [m for m in planned if m.status == MeetingStatus.SCHEDULED]
    before = [m for m in kept if m.scheduled_start < datetime(2026, 6, 1, tzinfo=UTC)]
    after = [m for m in kept if m.scheduled_start >= datetime(2026, 6, 1, tzinfo=UTC)]
    assert [m.scheduled_start for m in before] == [
        FIRST_TUESDAY + timedelta(weeks=i) for i in range(3)
    ]
    assert after[0].scheduled_start == datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
    assert all(m.scheduled_start.astimezone(UTC).hour == 8 for m in after)
    assert sorted(start_of(e) for e in events(harness)) == [m.scheduled_start for m in kept]
    async with harness.bot.session_factory() as session:
        series = (await session.execute(select(ScheduleSeries))).scalars().all()
    assert [s.ended_at is None for s in series] == [False, True]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"starting": "2026-05-01"}, "cannot be in the past"),
        ({"duration": 300}, "between 15 minutes and 4 hours"),
        ({"duration": 10}, "between 15 minutes and 4 hours"),
        ({"count": 0}, "at least 1"),
        ({"starting": "2026-02-30"}, "YYYY-MM-DD"),
        ({"until": "2026-13-01"}, "YYYY-MM-DD"),
        ({"time": "25:00"}, "HH:MM"),
        ({"day": "Blursday"}, "not a day of the week"),
        ({"frequency": "monthly"}, "Monthly needs `week`"),
    ],
)
async def test_bad_schedules_are_refused_with_the_valid_form(
    harness: Harness, group: Group, options: dict[str, Any], expected: str
) -> None:
    """A clear private answer showing the valid form, and nothing planned or published."""
    result = await harness.command(
        harness.people.leader, "schedule set", group.text_channel_id, **{**WEEKLY, **options}
    )
    assert result.ephemeral
    text = answer_text(result)
    assert expected in text, text
    assert "YYYY-MM-DD" in text
    assert await meetings(harness, group) == []
    assert events(harness, None) == []
    async with harness.bot.session_factory() as session:
        stored = await session.get(Group, group.id)
    assert stored is not None
    assert stored.timezone == "Australia/Sydney"


async def test_only_leaders_change_the_schedule(harness: Harness, group: Group) -> None:
    """A member's attempt is refused privately and changes nothing."""
    result = await harness.command(
        harness.people.members[0], "schedule set", group.text_channel_id, **WEEKLY
    )
    assert "Only the leaders" in answer_text(result)
    assert await meetings(harness, group) == []


async def test_show_lists_the_next_meetings_as_timestamps(harness: Harness, group: Group) -> None:
    """Members see the rule and the next meetings, skipped and moved ones marked."""
    await schedule(harness, group)
    await harness.command(
        harness.people.leader, "schedule skip", group.text_channel_id, date="2026-05-19"
    )
    result = await harness.command(
        harness.people.members[0], "schedule show", group.text_channel_id
    )
    text = answer_text(result)
    assert result.ephemeral
    assert "Every week on Tuesday at 19:30" in text
    assert f"<t:{int(FIRST_TUESDAY.timestamp())}:F>" in text
    assert f"~~<t:{int((FIRST_TUESDAY + timedelta(weeks=1)).timestamp())}:F>~~ skipped" in text
    assert text.count(":R>") == 8


async def test_show_after_a_change_reads_both_series_at_once(
    harness: Harness, group: Group
) -> None:
    """After `/schedule change` the coming meetings belong to two series (the one ended
    and the one in force): the rule shown is the new one, the meetings of both are
    listed, and both series are read in one statement."""
    await schedule(harness, group)
    await harness.command(
        harness.people.leader,
        "schedule change",
        group.text_channel_id,
        **cast(dict[str, Any], {"from": "2026-06-01", "time": "18:00"}),
    )
    with statements_run(harness.engine) as run:
        result = await harness.command(
            harness.people.members[0], "schedule show", group.text_channel_id
        )
    statements = [statement for statement, _ in run]
    text = answer_text(result)
    assert "Every week on Tuesday at 18:00" in text
    assert f"<t:{int(FIRST_TUESDAY.timestamp())}:F>" in text  # the ended series' first
    assert f"<t:{int(datetime(2026, 6, 2, 8, 0, tzinfo=UTC).timestamp())}:F>" in text
    assert sum("FROM schedule_series" in s for s in statements) == 1
    assert len(statements) <= 5  # group, membership, meetings, series, skipped ones


async def test_dst_gap_moves_the_meeting_and_show_says_so(harness: Harness) -> None:
    """02:30 does not exist on 4 October 2026 in Sydney: that meeting starts at 03:30."""
    await harness.clock.set(datetime(2026, 9, 1, tzinfo=UTC))
    group = await make_group(harness, members=1)
    await schedule(
        harness,
        group,
        frequency="weekly",
        day="Sunday",
        time="02:30",
        duration=60,
        starting="2026-09-27",
    )
    planned = await meetings(harness, group)
    local = [m.scheduled_start.astimezone(ZONE) for m in planned]
    assert [t.strftime("%m-%d %H:%M") for t in local[:3]] == [
        "09-27 02:30",
        "10-04 03:30",
        "10-11 02:30",
    ]
    result = await harness.command(
        harness.people.members[0], "schedule show", group.text_channel_id
    )
    assert "02:30 does not exist on 4 October 2026" in answer_text(result)
    assert "starts at 03:30" in answer_text(result)


async def test_wall_clock_time_stays_across_dst(harness: Harness) -> None:
    """19:30 stays 19:30 in Sydney when the clocks go forward; the UTC time moves."""
    await harness.clock.set(datetime(2026, 9, 20, tzinfo=UTC))
    group = await make_group(harness, members=1)
    await schedule(harness, group)
    planned = await meetings(harness, group)
    assert {m.scheduled_start.astimezone(ZONE).strftime("%H:%M") for m in planned} == {"19:30"}
    assert {m.scheduled_start.hour for m in planned} == {9, 8}
    assert {start_of(e).hour for e in events(harness)} == {9, 8}


async def test_the_daily_job_extends_the_horizon(harness: Harness, group: Group) -> None:
    """As days pass, new meetings and their events appear so eight weeks stay planned."""
    await schedule(harness, group)
    for _ in range(8):
        await harness.advance(timedelta(days=1))
    planned = [m for m in await meetings(harness, group) if m.scheduled_start > harness.clock.now()]
    assert planned[-1].scheduled_start >= harness.clock.now() + timedelta(weeks=8)
    assert len(planned) == len(events(harness))


async def test_events_stay_within_discords_limit_of_100(harness: Harness, group: Group) -> None:
    """Events made by people count first; the group's earliest meetings get the rest."""
    guild = harness.emu.guild(harness.guild_id)
    for n in range(96):
        event = ScheduledEvent(
            id=harness.emu.state.new_id(),
            guild_id=harness.guild_id,
            creator_id=harness.people.admin,
            name=f"Server event {n}",
            scheduled_start_time=(START + timedelta(days=30)).isoformat(),
            entity_type=3,
            location="Town hall",
            scheduled_end_time=(START + timedelta(days=30, hours=1)).isoformat(),
        )
        guild.events[event.id] = event
    await schedule(harness, group)
    ours = [e for e in events(harness) if e.creator_id == harness.emu.bot_id]
    planned = await meetings(harness, group)
    assert [start_of(e) for e in ours] == [m.scheduled_start for m in planned[:4]]
    assert len(events(harness)) + len(events(harness, ACTIVE)) == 100


async def test_events_changed_by_hand_while_down_are_put_right_at_start(
    harness: Harness, group: Group
) -> None:
    """Deleted, cancelled and re-timed events are restored from the database at start-up."""
    await schedule(harness, group)
    planned = await meetings(harness, group)
    await harness.kill_bot()
    guild = harness.emu.guild(harness.guild_id)
    deleted, cancelled, retimed = (guild.events[m.discord_event_id or 0] for m in planned[:3])
    del guild.events[deleted.id]
    cancelled.status = CANCELLED
    retimed.scheduled_start_time = (START + timedelta(days=40)).isoformat()
    stray = ScheduledEvent(
        id=harness.emu.state.new_id(),
        guild_id=harness.guild_id,
        creator_id=harness.emu.bot_id,
        name="left over",
        scheduled_start_time=(START + timedelta(days=3)).isoformat(),
        entity_type=2,
        channel_id=group.voice_channel_id,
    )
    guild.events[stray.id] = stray
    await harness.start_bot()
    await harness.settle()
    assert [start_of(e) for e in events(harness)] == [m.scheduled_start for m in planned]
    assert stray.status == CANCELLED
    assert len(events(harness)) == len(planned)


async def test_a_server_in_an_outage_at_start_has_its_events_put_right_when_it_is_back(
    harness: Harness, group: Group
) -> None:
    """The start-up check leaves alone a server Discord has not sent (its cached state is
    empty, its requests would fail); the server's own check follows when it is back."""
    await schedule(harness, group)
    planned = await meetings(harness, group)
    await harness.kill_bot()
    guild = harness.emu.guild(harness.guild_id)
    del guild.events[planned[0].discord_event_id or 0]
    await harness.emu.guild_outage(harness.guild_id)
    await harness.start_bot()
    await harness.settle()
    assert len(events(harness)) == len(planned) - 1
    await harness.emu.guild_back(harness.guild_id)
    await harness.settle()
    assert [start_of(e) for e in events(harness)] == [m.scheduled_start for m in planned]


async def test_starting_and_ending_the_meeting_starts_and_ends_its_event(
    harness: Harness, group: Group
) -> None:
    """`/session start` near the scheduled time opens its event; `/session end` completes it."""
    await schedule(harness, group)
    first = (await meetings(harness, group))[0]
    await harness.clock.set(first.scheduled_start - timedelta(minutes=5))
    await harness.settle()
    result = await harness.command(harness.people.leader, "session start", group.text_channel_id)
    assert "started" in answer_text(result), answer_text(result)
    event = harness.emu.state.event(harness.guild_id, first.discord_event_id or 0)
    assert event.status == ACTIVE
    await harness.command(harness.people.leader, "session end", group.text_channel_id)
    assert event.status == COMPLETED
    assert len(events(harness)) == len(await meetings(harness, group)) - 1


async def test_ics_export_has_stable_uids_cancellations_and_zone(
    harness: Harness,
) -> None:
    """Re-importing updates (same UIDs, higher SEQUENCE); DST-correct local times with TZID."""
    await harness.clock.set(datetime(2026, 9, 20, tzinfo=UTC))
    group = await make_group(harness, members=1)
    await schedule(harness, group)
    first = await ics(harness, group)
    await harness.command(
        harness.people.leader, "schedule skip", group.text_channel_id, date="2026-09-29"
    )
    second = await ics(harness, group)
    assert "BEGIN:VTIMEZONE" in second
    assert "TZID:Australia/Sydney" in second
    assert "DTSTART;TZID=Australia/Sydney:20260922T193000" in second
    assert "DTSTART;TZID=Australia/Sydney:20261006T193000" in second
    assert uids(first) == uids(second)
    skipped = block(second, "20260929T193000")
    assert "STATUS:CANCELLED" in skipped
    assert "SEQUENCE:1" in skipped
    assert "STATUS:CONFIRMED" in block(second, "20261006T193000")


async def test_reminder_offsets_can_be_changed_by_leaders(harness: Harness, group: Group) -> None:
    """New offsets replace the reminders of coming meetings; nonsense is refused."""
    await schedule(harness, group)
    result = await harness.command(
        harness.people.leader,
        "schedule reminders-settings",
        group.text_channel_id,
        before="2h, 30m",
    )
    assert "2 hours, 30 minutes before" in answer_text(result)
    async with harness.bot.session_factory() as session:
        offsets = set((await session.execute(select(Reminder.offset_minutes))).scalars())
    assert offsets == {120, 30}
    for bad, expected in (("soon", "can't read"), ("10d", "7 days")):
        result = await harness.command(
            harness.people.leader,
            "schedule reminders-settings",
            group.text_channel_id,
            before=bad,
        )
        assert expected in answer_text(result), answer_text(result)
    async with harness.bot.session_factory() as session:
        offsets = set((await session.execute(select(Reminder.offset_minutes))).scalars())
    assert offsets == {120, 30}


def cog(harness: Harness) -> ScheduleCommands:
    """The running bot's cog (its module is loaded afresh by each bot, so no isinstance)."""
    found = harness.bot.get_cog("ScheduleCommands")
    assert found is not None
    return cast(ScheduleCommands, found)


async def ics(harness: Harness, group: Group) -> str:
    result = await harness.command(harness.people.members[0], "schedule ics", group.text_channel_id)
    assert result.ephemeral
    (attachment,) = result.attachments
    assert attachment["filename"] == "tuesday-group.ics"
    return harness.emu.state.files[int(attachment["id"])].data.decode()


def uids(calendar: str) -> list[str]:
    return [line for line in calendar.splitlines() if line.startswith("UID:")]


def block(calendar: str, local_start: str) -> str:
    return next(part for part in calendar.split("BEGIN:VEVENT") if local_start in part)


async def test_archiving_a_group_cancels_its_meetings_and_events(
    harness: Harness, group: Group
) -> None:
    """An archived group meets no more: no meeting, reminder or Discord event is left."""
    await schedule(harness, group)
    assert events(harness)
    archived = await harness.command(harness.people.leader, "group archive",
                                     group.text_channel_id, confirm=group.name)
    assert "archived" in answer_text(archived)
    assert all(m.status == MeetingStatus.CANCELLED for m in await meetings(harness, group))
    assert events(harness) == []
