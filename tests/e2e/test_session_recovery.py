"""Crashes, restarts and refusals: Discord ends up agreeing with the database."""

from __future__ import annotations

from datetime import timedelta

import discord
from sqlalchemy import select, update

from bot.db.models import Meeting, MeetingStatus, OverwriteChange
from tests.e2e.conftest import (
    Harness,
    answer_text,
    button_id,
    leader_says,
    meeting_group,
    to_discussion,
)
from tests.e2e.invariant import assert_silence_invariant
from tests.emulator.faults import OVERWRITE_ROUTE

SEND = discord.Permissions(send_messages=True).value


async def current_phase(harness: Harness) -> str | None:
    async with harness.bot.session_factory() as session:
        return (await session.execute(select(Meeting.current_phase))).scalar_one()


async def test_killed_during_the_silence_and_restarted_while_meeting(harness: Harness) -> None:
    """The presenter stays silent, the panel's buttons work, and the cues come back."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await to_discussion(harness, group, presenter)
    await harness.kill_bot()
    await harness.start_bot()
    assert not harness.emu.can_speak(presenter)
    posted = [m for m in harness.emu.messages(group.text_channel_id or 0) if m.components][-1]
    clicked = await harness.emu.click(harness.people.leader, posted,
                                      button_id(posted, "Next ▶"))
    # The click is answered by deferring; the panel's edit comes when the phase has moved.
    await clicked.wait_for(lambda result: "Presenter returns" in answer_text(result))
    await harness.settle()
    assert harness.emu.can_speak(presenter)
    assert harness.emu.permissions_for(presenter, group.text_channel_id or 0) & SEND
    count = len(harness.emu.messages(group.text_channel_id or 0))
    await harness.advance(timedelta(minutes=5))
    assert len(harness.emu.messages(group.text_channel_id or 0)) > count
    await assert_silence_invariant(harness)


async def test_meeting_ended_while_the_bot_was_down_leaves_nobody_silenced(
    harness: Harness,
) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await to_discussion(harness, group, presenter)
    await harness.kill_bot()
    async with harness.bot.session_factory() as session:
        await session.execute(update(Meeting).values(status=MeetingStatus.ENDED,
                                                     ended_at=harness.clock.now()))
        await session.commit()
    await harness.start_bot()
    await harness.emu.leave_voice(presenter)
    await harness.emu.join_voice(presenter, group.voice_channel_id or 0)
    assert harness.emu.can_speak(presenter)
    assert harness.emu.permissions_for(presenter, group.text_channel_id or 0) & SEND
    async with harness.bot.session_factory() as session:
        still_open = (await session.execute(select(OverwriteChange).where(
            OverwriteChange.restored_at.is_(None)))).scalars().all()
    assert still_open == []
    await assert_silence_invariant(harness)


async def test_killed_then_ended_after_restart(harness: Harness) -> None:
    """A leader ends the meeting from the restarted bot; the silence is lifted."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await to_discussion(harness, group, presenter)
    await harness.kill_bot()
    await harness.start_bot()
    ended = await leader_says(harness, group, "session end")
    assert "meeting summary" in answer_text(ended)
    assert harness.emu.can_speak(presenter)
    await assert_silence_invariant(harness)


async def test_refused_overwrite_is_reported_and_the_phase_stays(harness: Harness) -> None:
    """A 403 on the text overwrite: the leader hears what failed; voice is rolled back."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter,
                      label="the farmer who would not rest")
    await leader_says(harness, group, "phase set", phase="questions")
    text_id = group.text_channel_id or 0
    own = harness.emu.overwrites(text_id)[harness.emu.bot_id]
    await harness.emu.set_overwrite(text_id, harness.emu.bot_id, allow=own.allow,
                                    deny=discord.Permissions(manage_roles=True).value)
    result = await leader_says(harness, group, "phase next")
    text = answer_text(result)
    assert result.ephemeral
    assert "couldn't change the phase" in text
    assert "Manage Roles" in text
    assert f"<#{text_id}>" in text
    assert await current_phase(harness) == "questions"
    assert harness.emu.can_speak(presenter)
    assert presenter not in harness.emu.overwrites(group.voice_channel_id or 0)
    await assert_silence_invariant(harness)


async def test_a_refused_rollback_is_retried_until_the_presenter_can_speak(
    harness: Harness,
) -> None:
    """The text overwrite is refused and so is undoing the voice one: a retry undoes it."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter,
                      label="the farmer who would not rest")
    await leader_says(harness, group, "phase set", phase="questions")
    text_id = group.text_channel_id or 0
    own = harness.emu.overwrites(text_id)[harness.emu.bot_id]
    await harness.emu.set_overwrite(text_id, harness.emu.bot_id, allow=own.allow,
                                    deny=discord.Permissions(manage_roles=True).value)
    undo = harness.emu.faults.missing_permissions(
        OVERWRITE_ROUTE, method="DELETE", times=1)
    result = await leader_says(harness, group, "phase next")
    assert "couldn't change the phase" in answer_text(result)
    assert undo.fired == 1
    assert await current_phase(harness) == "questions"
    assert not harness.emu.can_speak(presenter)  # the half-done change, for now
    await harness.advance(timedelta(minutes=1))
    assert harness.emu.can_speak(presenter)
    assert presenter not in harness.emu.overwrites(group.voice_channel_id or 0)
    await assert_silence_invariant(harness)


async def test_a_server_error_on_the_overwrite_is_retried(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    fault = harness.emu.faults.server_error(OVERWRITE_ROUTE,
                                            method="PUT", status=502, times=1)
    await to_discussion(harness, group, presenter)
    assert fault.fired == 1
    assert not harness.emu.can_speak(presenter)
    assert await current_phase(harness) == "discussion"
    await assert_silence_invariant(harness)


async def test_what_end_could_not_undo_is_retried_until_it_is(harness: Harness) -> None:
    """Refused at the end, the presenter's chat silence is lifted once Discord allows it."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await to_discussion(harness, group, presenter)
    text_id = group.text_channel_id or 0
    own = harness.emu.overwrites(text_id)[harness.emu.bot_id]
    manage_roles = discord.Permissions(manage_roles=True).value
    await harness.emu.set_overwrite(text_id, harness.emu.bot_id, allow=own.allow,
                                    deny=manage_roles)
    ended = await leader_says(harness, group, "session end")
    assert "Needs attention" in answer_text(ended)
    assert not harness.emu.permissions_for(presenter, text_id) & SEND
    await harness.advance(timedelta(minutes=1))
    assert not harness.emu.permissions_for(presenter, text_id) & SEND
    await harness.emu.set_overwrite(text_id, harness.emu.bot_id, allow=own.allow, deny=0)
    await harness.advance(timedelta(minutes=2))
    assert harness.emu.permissions_for(presenter, text_id) & SEND
    assert harness.emu.can_speak(presenter)
    await assert_silence_invariant(harness)


async def test_start_without_move_members_runs_the_meeting_and_says_what_to_grant(
    harness: Harness,
) -> None:
    """Nothing half-done: the meeting and its panel are up; the leader learns what to grant."""
    await harness.command(harness.people.admin, "room lobby", channel=harness.lobby_id)
    group = await meeting_group(harness, members=1, in_voice=False)
    member = harness.people.members[0]
    await harness.emu.join_voice(member, harness.lobby_id)
    bot_role = harness.emu.bot_role(harness.guild_id)
    without = bot_role.permissions & ~discord.Permissions(move_members=True).value
    await harness.emu.edit_role(harness.guild_id, bot_role.id, permissions=without)
    # The bot's own overwrite in the group's room still grants Move Members there;
    # the lobby is where it lacks it.
    started = await leader_says(harness, group, "session start")
    text = answer_text(started)
    assert "has started" in text
    assert "couldn't bring members in from the lobby" in text
    assert "Move Members" in text
    assert harness.emu.voice_channel_of(member) == harness.lobby_id
    assert [m for m in harness.emu.messages(group.text_channel_id or 0) if m.components]
    assert await current_phase(harness) == "check_in"
    await assert_silence_invariant(harness)


async def clear_silence_by_hand(harness: Harness, voice: int, presenter: int) -> None:
    """A moderator replaces the presenter's overwrite with one that allows and denies
    nothing, and the presenter rejoins, so Discord applies it: they can speak."""
    await harness.emu.set_overwrite(voice, presenter)
    await harness.emu.leave_voice(presenter)
    await harness.emu.join_voice(presenter, voice)
    assert harness.emu.can_speak(presenter)


async def test_a_server_in_an_outage_at_restart_is_reconciled_when_it_is_back(
    harness: Harness,
) -> None:
    """Discord sends a server in an outage only after `ready`, so the reconciliation that
    follows `ready` cannot see it: it gets its own when it is back. A moderator cleared the
    presenter's silence while the bot was down; it is restored, and the cues come back."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    voice = group.voice_channel_id or 0
    await to_discussion(harness, group, presenter)
    await harness.kill_bot()
    await clear_silence_by_hand(harness, voice, presenter)
    await harness.emu.guild_outage(harness.guild_id)
    await harness.start_bot()
    await harness.settle()
    guild = harness.bot.get_guild(harness.guild_id)
    assert guild is not None
    assert guild.unavailable
    count = len(harness.emu.messages(group.text_channel_id or 0))
    await harness.emu.guild_back(harness.guild_id)
    await harness.settle()
    assert not harness.emu.can_speak(presenter)
    assert not harness.emu.permissions_for(presenter, group.text_channel_id or 0) & SEND
    await harness.advance(timedelta(minutes=20))
    assert len(harness.emu.messages(group.text_channel_id or 0)) > count
    await assert_silence_invariant(harness)


async def test_an_outage_during_the_silence_is_mended_when_the_server_is_back(
    harness: Harness,
) -> None:
    """What happened to the room during an outage reaches the bot only as the server's
    state when it is back; the presenter's cleared silence is restored then."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    voice = group.voice_channel_id or 0
    await to_discussion(harness, group, presenter)
    await harness.emu.guild_outage(harness.guild_id)
    await harness.settle()
    assert harness.guild_id in harness.bot.servers_away
    await clear_silence_by_hand(harness, voice, presenter)
    await harness.emu.guild_back(harness.guild_id)
    await harness.settle()
    assert not harness.emu.can_speak(presenter)
    assert harness.bot.servers_away == set()
    await assert_silence_invariant(harness)


async def test_a_silence_cleared_by_hand_before_its_echo_arrived_is_restored(
    harness: Harness,
) -> None:
    """Discord may lose the CHANNEL_UPDATE echoing the bot's own silencing write (it
    promises no event's delivery). A moderator then clears the silence during an outage,
    leaving an overwrite that allows and denies nothing: when the server is back, that
    empty overwrite reads as a change by hand, not as the state before the bot wrote."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    voice = group.voice_channel_id or 0
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    harness.emu.gateway.events.drop["CHANNEL_UPDATE"] = 2  # the voice and text silences'
    await leader_says(harness, group, "phase set", phase="discussion")
    assert harness.emu.gateway.events.dropped == 2
    assert not harness.emu.can_speak(presenter)
    await harness.emu.guild_outage(harness.guild_id)
    await harness.settle()
    await clear_silence_by_hand(harness, voice, presenter)
    await harness.emu.guild_back(harness.guild_id)
    await harness.settle()
    assert not harness.emu.can_speak(presenter)
    await assert_silence_invariant(harness)
