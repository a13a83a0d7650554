"""Follow-ups meet the meetings: what is new at the next one, and the chat cleared after each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import discord
from sqlalchemy import select

from bot.db.models import Meeting, MeetingStatus
from bot.services.followups import FollowUpDigest
from tests.e2e.conftest import START, Harness, answer_text, leader_says, meeting_group, present_case
from tests.emulator.state import Message

DAY = timedelta(days=1)


async def write(harness: Harness, user_id: int, case_id: int, text: str) -> None:
    opened = await harness.command(user_id, "followup write", case=str(case_id))
    submitted = await harness.emu.submit_modal(user_id, opened, {"text": text})
    await submitted.final()
    assert "posted" in answer_text(submitted), answer_text(submitted)


async def live_meeting(harness: Harness, group_id: int) -> Meeting:
    async with harness.bot.session_factory() as session:
        return (
            await session.execute(
                select(Meeting).where(
                    Meeting.group_id == group_id, Meeting.status == MeetingStatus.LIVE
                )
            )
        ).scalar_one()


async def test_the_next_meeting_lists_cases_with_new_followups(harness: Harness) -> None:
    """ "New" means written since the group's previous meeting ended."""
    group = await meeting_group(harness)
    shearer = await present_case(harness, group, harness.people.members[0], "the quiet shearer")
    dog = await present_case(harness, group, harness.people.members[1], "the woman with the dog")
    await harness.advance(DAY)
    await write(harness, harness.people.members[0], shearer.id, "He came back.")
    await harness.advance(DAY)
    await write(harness, harness.people.members[2], shearer.id, "I keep thinking of him.")
    await harness.advance(5 * DAY)
    await leader_says(harness, group, "session start")
    second = await live_meeting(harness, group.id)
    listed = await harness.bot.followups.new_since_previous_meeting(group.id, second.id)
    assert listed == [
        FollowUpDigest(shearer.id, "the quiet shearer", shearer.forum_thread_id, 2, START + 2 * DAY)
    ]
    await leader_says(harness, group, "phase next")
    panel = [m for m in harness.emu.messages(group.text_channel_id or 0) if m.components][-1]
    fields = {f["name"]: f["value"] for f in panel.embeds[0]["fields"]}
    assert fields["New follow-ups since the last meeting"] == (
        f"• <#{shearer.forum_thread_id}> the quiet shearer (2)"
    )
    await leader_says(harness, group, "session end")
    await harness.advance(DAY)
    await write(harness, harness.people.members[1], dog.id, "She moved away.")
    await harness.advance(DAY)
    await leader_says(harness, group, "session start")
    third = await live_meeting(harness, group.id)
    listed = await harness.bot.followups.new_since_previous_meeting(group.id, third.id)
    assert [(d.label, d.count, d.latest) for d in listed] == [
        ("the woman with the dog", 1, START + 8 * DAY)
    ]


def old_message(harness: Harness, channel_id: int, author_id: int, age: timedelta) -> Message:
    """A message written `age` ago (too old for Discord's bulk delete if over 14 days)."""
    written = datetime.now(UTC) - age
    message = Message(
        id=discord.utils.time_snowflake(written),
        channel_id=channel_id,
        author_id=author_id,
        content="from long ago",
        guild_id=harness.guild_id,
        timestamp=written,
    )
    return harness.emu.state.add_message(message)


async def wall_clock_tick(harness: Harness) -> None:
    """Move the bot's clock to the wall clock's next millisecond, which message ids count in."""
    await asyncio.sleep(0.002)
    await harness.clock.set(datetime.now(UTC))
    await asyncio.sleep(0.002)


async def test_the_chat_is_cleared_after_the_meeting_when_the_group_chose_it(
    harness: Harness,
) -> None:
    """Bulk delete for recent messages, one by one for older ones; later messages stay."""
    # Message ids carry real time, so this test lives on the wall clock.
    await harness.clock.set(datetime.now(UTC))
    group = await meeting_group(harness)
    chat = group.text_channel_id or 0
    choice = await leader_says(harness, group, "followup settings", clear_chat=True)
    assert "the chat is cleared after each meeting" in answer_text(choice)
    old = old_message(harness, chat, harness.people.members[0], timedelta(days=20))
    await leader_says(harness, group, "session start")
    for member in harness.people.members[:3]:
        await harness.emu.send_message(member, chat, "said during the meeting")
    await wall_clock_tick(harness)
    await leader_says(harness, group, "session end")
    assert harness.emu.messages(chat) == []
    assert harness.emu.requests("POST", "/channels/{channel_id}/messages/bulk-delete")
    singles = harness.emu.requests("DELETE", "/channels/{channel_id}/messages/{message_id}")
    assert [r.path.rsplit("/", 1)[-1] for r in singles] == [str(old.id)]
    await wall_clock_tick(harness)
    kept = await harness.emu.send_message(harness.people.members[0], chat, "between meetings")
    await harness.kill_bot()
    await harness.start_bot()
    await harness.settle()
    assert [m.id for m in harness.emu.messages(chat)] == [kept.id]


async def test_the_chat_is_kept_by_default(harness: Harness) -> None:
    group = await meeting_group(harness)
    chat = group.text_channel_id or 0
    await leader_says(harness, group, "session start")
    said = await harness.emu.send_message(harness.people.members[0], chat, "kept")
    await leader_says(harness, group, "session end")
    assert said.id in [m.id for m in harness.emu.messages(chat)]
    assert not harness.emu.requests("POST", "/channels/{channel_id}/messages/bulk-delete")


async def test_only_leaders_change_the_settings(harness: Harness) -> None:
    group = await meeting_group(harness)
    refused = await harness.command(
        harness.people.members[0], "followup settings", group.text_channel_id, prompt_days=5
    )
    assert "Only the leaders" in answer_text(refused)
    shown = await leader_says(harness, group, "followup settings")
    assert "reminders 3 days before a meeting, for 3 meetings" in answer_text(shown)
    assert "deleted 12 months after" in answer_text(shown)
    changed = await leader_says(
        harness, group, "followup settings", prompt_days=5, retention_months=24
    )
    assert "reminders 5 days before" in answer_text(changed)
    assert "deleted 24 months after" in answer_text(changed)
