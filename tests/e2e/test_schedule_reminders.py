"""Reminders and RSVPs end to end: timing, pings, DMs, restarts and two bot processes."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import cast

import pytest
from sqlalchemy import select

from bot.app import build_bot
from bot.db.models import Group, Reminder
from cogs.schedule import ScheduleCommands
from tests.e2e.conftest import START, Harness, answer_text, button_id
from tests.e2e.test_schedule import FIRST_TUESDAY, cog, make_group, schedule
from tests.emulator.interactions import EmulatorError
from tests.emulator.state import Message

DAY_BEFORE = FIRST_TUESDAY - timedelta(hours=24)
QUARTER_BEFORE = FIRST_TUESDAY - timedelta(minutes=15)
MESSAGES_ROUTE = "/channels/{channel_id}/messages"


@pytest.fixture
async def group(harness: Harness) -> Group:
    group = await make_group(harness)
    await schedule(harness, group)
    return group


def reminders(harness: Harness, group: Group) -> list[Message]:
    assert group.text_channel_id is not None
    return [
        m for m in harness.emu.messages(group.text_channel_id) if "Will you be there" in m.content
    ]


def reminder_dms(harness: Harness, user_id: int) -> list[Message]:
    return [m for m in harness.emu.dms(user_id) if m.content.startswith("Reminder:")]


async def advance_to(harness: Harness, moment: datetime) -> None:
    await harness.advance(moment - harness.clock.now())


async def test_reminders_come_24_hours_and_15_minutes_before(
    harness: Harness, group: Group
) -> None:
    """One post per reminder, at its time, pinging only the group's role."""
    await advance_to(harness, DAY_BEFORE - timedelta(minutes=1))
    assert reminders(harness, group) == []
    await harness.advance(timedelta(minutes=1))
    (first,) = reminders(harness, group)
    assert first.content.startswith(f"<@&{group.role_id}> ")
    assert f"<t:{int(FIRST_TUESDAY.timestamp())}:F>" in first.content
    assert f"<t:{int(FIRST_TUESDAY.timestamp())}:R>" in first.content
    assert button_id(first, "Attending") == f"rsvp:{meeting_id(first)}:attending"
    assert button_id(first, "Apologies") == f"rsvp:{meeting_id(first)}:apologies"
    sent = next(
        r
        for r in harness.emu.requests("POST", MESSAGES_ROUTE)
        if "Will you be there" in ((r.json or {}).get("content") or "")
    )
    assert sent.json["allowed_mentions"] == {"parse": [], "roles": [group.role_id]}
    await advance_to(harness, QUARTER_BEFORE - timedelta(seconds=1))
    assert len(reminders(harness, group)) == 1
    await harness.advance(timedelta(seconds=1))
    assert len(reminders(harness, group)) == 2
    await advance_to(harness, FIRST_TUESDAY + timedelta(hours=3))
    assert len(reminders(harness, group)) == 2


async def test_reminder_dms_go_to_members_who_opt_in(harness: Harness, group: Group) -> None:
    """`/reminders on` adds a DM copy with the RSVP buttons; `off` stops it."""
    opted, other = harness.people.members[:2]
    result = await harness.command(opted, "reminders", group.text_channel_id, dms="on")
    assert "by DM" in answer_text(result)
    await advance_to(harness, DAY_BEFORE)
    (dm,) = reminder_dms(harness, opted)
    assert "**Tuesday group** meets" in dm.content
    assert button_id(dm, "Attending")
    assert reminder_dms(harness, other) == []
    await harness.command(opted, "reminders", harness.lobby_id, dms="off")
    await advance_to(harness, QUARTER_BEFORE)
    assert len(reminder_dms(harness, opted)) == 1
    assert len(reminders(harness, group)) == 2


async def test_rsvps_are_recorded_and_shown_to_leaders(harness: Harness, group: Group) -> None:
    """Attending / Apologies from the channel or a DM; leaders see who has not answered."""
    first, second, third = harness.people.members[:3]
    await harness.command(first, "reminders", group.text_channel_id, dms="on")
    await advance_to(harness, DAY_BEFORE)
    (post,) = reminders(harness, group)
    (dm,) = reminder_dms(harness, first)
    answer = await harness.emu.click(second, post, button_id(post, "Apologies"))
    assert "apologies" in answer_text(answer)
    assert answer.ephemeral
    await harness.emu.click(first, post, button_id(post, "Apologies"))
    await harness.kill_bot()
    await harness.start_bot()  # the buttons outlive the process
    answer = await harness.emu.click(first, dm, button_id(dm, "Attending"))
    assert "attending" in answer_text(answer)
    with pytest.raises(EmulatorError):
        await harness.emu.click(harness.people.outsider, post, button_id(post, "Attending"))
    result = await harness.command(harness.people.leader, "schedule rsvps", group.text_channel_id)
    text = answer_text(result)
    assert result.ephemeral
    assert f"Attending (1): <@{first}>" in text
    assert f"Apologies (1): <@{second}>" in text
    assert f"<@{third}>" in text.split("No answer yet")[1]
    refused = await harness.command(second, "schedule rsvps", group.text_channel_id)
    assert "Only the leaders" in answer_text(refused)


async def test_a_reminder_due_while_the_bot_was_down_is_sent_once_at_start(
    harness: Harness, group: Group
) -> None:
    """The meeting has not started: the overdue reminder goes out at start-up, once."""
    await advance_to(harness, DAY_BEFORE - timedelta(hours=1))
    await harness.kill_bot()
    await harness.clock.advance(timedelta(hours=2))
    assert reminders(harness, group) == []
    await harness.start_bot()
    await harness.settle()
    assert len(reminders(harness, group)) == 1
    await harness.kill_bot()
    await harness.start_bot()
    await harness.settle()
    assert len(reminders(harness, group)) == 1


async def test_a_reminder_whose_meeting_started_while_down_is_dropped(
    harness: Harness, group: Group
) -> None:
    """Reminding people of a meeting already under way would only confuse them."""
    await advance_to(harness, DAY_BEFORE)
    await harness.kill_bot()
    await harness.clock.advance(FIRST_TUESDAY + timedelta(minutes=5) - harness.clock.now())
    await harness.start_bot()
    await harness.settle()
    assert len(reminders(harness, group)) == 1
    async with harness.bot.session_factory() as session:
        unsent = (
            await session.execute(select(Reminder).where(Reminder.sent_at.is_(None)))
        ).scalars()
        assert QUARTER_BEFORE in {r.due_at for r in unsent}


async def test_two_bot_processes_on_one_database_post_each_reminder_once(
    harness: Harness, group: Group
) -> None:
    """Both processes fire every job; the database lets only one of them post."""
    first_member = harness.people.members[0]
    await harness.command(first_member, "reminders", group.text_channel_id, dms="on")
    second = build_bot(harness.settings(), harness.engine, harness.clock)
    await harness.emu.start_client(second)
    try:
        await advance_to(harness, DAY_BEFORE)
        await second.jobs.wait_idle()
        assert len(reminders(harness, group)) == 1
        assert len(reminder_dms(harness, first_member)) == 1
        # Now both handlers at exactly the same moment, not one after the other. The daily
        # jobs on the way re-plan the reminder jobs, so they run first; the jobs are then
        # taken away, and only the two handlers below can send.
        await harness.clock.set(QUARTER_BEFORE - timedelta(minutes=1))
        await harness.settle()
        await second.jobs.wait_idle()
        for bot in (harness.bot, second):
            (pending,) = bot.jobs.pending("reminder")
            assert pending.when == QUARTER_BEFORE
            bot.jobs.cancel("reminder", pending.key)
        await harness.clock.set(QUARTER_BEFORE)
        assert len(reminders(harness, group)) == 1
        other = cast(ScheduleCommands, second.get_cog("ScheduleCommands"))
        await asyncio.gather(
            cog(harness).reminders.on_reminder(pending.key),
            other.reminders.on_reminder(pending.key),
        )
        await harness.settle()
        await second.jobs.wait_idle()
        assert len(reminders(harness, group)) == 2
        assert len(reminder_dms(harness, first_member)) == 2
    finally:
        await harness.stop_bot(second)


async def test_moving_a_meeting_moves_its_reminders(harness: Harness, group: Group) -> None:
    """Reminders follow the meeting to its new time; none fires at the old one."""
    await harness.command(
        harness.people.leader,
        "schedule move",
        group.text_channel_id,
        date="2026-05-12",
        to_date="2026-05-13",
    )
    await advance_to(harness, DAY_BEFORE + timedelta(hours=1))
    assert reminders(harness, group) == []
    await harness.advance(timedelta(days=1))
    (post,) = reminders(harness, group)
    assert f"<t:{int((FIRST_TUESDAY + timedelta(days=1)).timestamp())}:F>" in post.content
    assert harness.clock.now() > START


def meeting_id(message: Message) -> int:
    return int(message.custom_ids()[0].split(":")[1])


async def test_a_reminder_refused_by_a_rate_limit_is_tried_again(
    harness: Harness, group: Group
) -> None:
    """Discord answers 429 until discord.py gives up: the claim is released and retried."""
    fault = harness.emu.faults.rate_limit(MESSAGES_ROUTE, method="POST", retry_after=0.01,
                                          times=5)
    await advance_to(harness, DAY_BEFORE)
    assert fault.fired == 5
    assert reminders(harness, group) == []
    await harness.advance(timedelta(minutes=1))
    assert len(reminders(harness, group)) == 1
    await harness.advance(timedelta(minutes=5))
    assert len(reminders(harness, group)) == 1
