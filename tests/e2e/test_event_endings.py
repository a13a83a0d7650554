"""Discord ends meetings' events on its own: a started event whose room stays empty is
completed, one never started is cancelled. The bot takes both in its stride."""

from __future__ import annotations

from datetime import timedelta

from bot.db.models import Group, Meeting
from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group
from tests.e2e.test_group_rooms import pooled_server
from tests.e2e.test_schedule import ACTIVE, CANCELLED, COMPLETED, events, meetings, schedule
from tests.emulator.automation import EMPTY_FOR, MISSED_START

EVENT = "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}"


def patches_of(harness: Harness, event_id: int) -> list[int]:
    """Statuses of Discord's answers to the bot's edits of one event."""
    return [r.status for r in harness.emu.requests("PATCH", EVENT)
            if r.path.endswith(f"/{event_id}")]


async def first_meeting_near(harness: Harness, group: Group) -> Meeting:
    """The group's weekly schedule set, the clock five minutes before its first meeting."""
    await schedule(harness, group)
    first = (await meetings(harness, group))[0]
    await harness.clock.set(first.scheduled_start - timedelta(minutes=5))
    await harness.settle()
    return first


async def test_event_discord_completed_mid_meeting_ends_quietly(harness: Harness) -> None:
    """Everyone left the room for a while: Discord completed the event. Ending the meeting
    then neither fails nor retries, and no event is made again for it."""
    group = await meeting_group(harness, members=2)
    first = await first_meeting_near(harness, group)
    await leader_says(harness, group, "session start")
    event = harness.emu.state.event(harness.guild_id, first.discord_event_id or 0)
    assert event.status == ACTIVE
    assert event.channel_id == group.voice_channel_id
    for user_id in [harness.people.leader, *harness.people.members[:2]]:
        await harness.emu.leave_voice(user_id)
    await harness.advance(EMPTY_FOR + timedelta(minutes=1))
    assert event.status == COMPLETED  # Discord's doing, not the bot's
    assert patches_of(harness, event.id) == [200]
    ended = await leader_says(harness, group, "session end")
    assert "summary" in answer_text(ended), answer_text(ended)
    assert "event" not in answer_text(ended).lower()
    assert patches_of(harness, event.id) == [200, 400]  # told it had ended, once
    await harness.advance(timedelta(minutes=30))
    assert patches_of(harness, event.id) == [200, 400]  # no retry
    later = (await meetings(harness, group))[1:]
    assert sorted(e.id for e in events(harness)) == sorted(m.discord_event_id or 0 for m in later)
    starts = [e.scheduled_start_time for e in harness.emu.scheduled_events(harness.guild_id)]
    assert starts.count(event.scheduled_start_time) == 1  # not made again


async def test_pooled_meeting_moves_its_event_into_its_room(harness: Harness) -> None:
    """A meeting in a pooled room takes its event along: with people in that room the event
    stays live however long the meeting runs, and the bot completes it at the end."""
    rooms = await pooled_server(harness)
    group = await meeting_group(harness, members=2, in_voice=False)
    await leader_says(harness, group, "group settings", use_room_pool=True)
    first = await first_meeting_near(harness, group)
    for user_id in [harness.people.leader, *harness.people.members[:2]]:
        await harness.emu.join_voice(user_id, harness.lobby_id)
    await leader_says(harness, group, "session start")
    room = harness.emu.voice_channel_of(harness.people.members[0])
    assert room in rooms
    event = harness.emu.state.event(harness.guild_id, first.discord_event_id or 0)
    assert (event.status, event.channel_id) == (ACTIVE, room)
    await harness.advance(timedelta(minutes=45))
    assert event.status == ACTIVE
    await leader_says(harness, group, "session end")
    assert event.status == COMPLETED
    assert patches_of(harness, event.id) == [200, 200]


async def test_event_of_a_missed_meeting_cancelled_by_discord_stays_cancelled(
    harness: Harness,
) -> None:
    """Nobody started the meeting: hours later Discord cancels its event. The bot neither
    edits the cancelled event nor makes a new one; the later meetings keep theirs."""
    group = await meeting_group(harness, members=2, in_voice=False)
    first = await first_meeting_near(harness, group)
    await harness.clock.set(first.scheduled_start + MISSED_START)
    await harness.settle()
    event = harness.emu.state.event(harness.guild_id, first.discord_event_id or 0)
    assert event.status == CANCELLED
    await harness.advance(timedelta(days=1))  # the daily top-up syncs every event
    assert patches_of(harness, event.id) == []
    later = [m for m in await meetings(harness, group) if m.id != first.id]
    assert sorted(e.id for e in events(harness)) == sorted(m.discord_event_id or 0 for m in later)
    starts = [e.scheduled_start_time for e in harness.emu.scheduled_events(harness.guild_id)]
    assert starts.count(event.scheduled_start_time) == 1
