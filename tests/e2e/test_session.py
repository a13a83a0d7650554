"""The live meeting end to end: phases, the presenter's silence, the panel, the record."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

import discord
from sqlalchemy import select

from bot.db.models import (
    Attendance,
    Meeting,
    MeetingStatus,
    MemberRole,
    Membership,
    OverwriteChange,
    PhaseLogEntry,
)
from cogs.sessions import SessionCommands
from tests.e2e.conftest import (
    Harness,
    answer_text,
    button_id,
    leader_says,
    meeting_group,
    to_discussion,
)
from tests.e2e.invariant import assert_silence_invariant
from tests.emulator.faults import MEMBER_ROUTE
from tests.emulator.state import Message

SEND = discord.Permissions(send_messages=True).value
READ = discord.Permissions(view_channel=True, read_message_history=True).value
HEAR = discord.Permissions(view_channel=True, connect=True).value


def panel_heading(harness: Harness, posted: Message) -> str:
    """The panel's title and phase line as Discord now holds them."""
    (now,) = [m for m in harness.emu.messages(posted.channel_id) if m.id == posted.id]
    (embed,) = now.embeds
    return f"{embed.get('title', '')} {embed.get('description', '')}"


def panel(harness: Harness, channel_id: int | None) -> object:
    messages = [m for m in harness.emu.messages(channel_id or 0) if m.components]
    assert messages, "no session panel was posted"
    return messages[-1]


async def test_start_posts_the_panel_and_records_who_is_present(harness: Harness) -> None:
    group = await meeting_group(harness)
    result = await leader_says(harness, group, "session start")
    assert result.ephemeral
    posted = panel(harness, group.text_channel_id)
    embed = posted.embeds[0]  # type: ignore[attr-defined]
    assert "meeting in progress" in embed["title"]
    assert "Check-in" in embed["description"]
    async with harness.bot.session_factory() as session:
        meeting = (await session.execute(select(Meeting))).scalar_one()
        present = set((await session.execute(select(Attendance.user_id))).scalars().all())
    assert meeting.status == MeetingStatus.LIVE
    assert meeting.panel_message_id == posted.id  # type: ignore[attr-defined]
    assert present == {harness.people.leader, *harness.people.members[:4]}
    await assert_silence_invariant(harness)


async def test_presenter_cannot_speak_or_write_during_the_discussion(harness: Harness) -> None:
    """Pushed back: no SPEAK (by the emulator's voice rule), no writing; still hears and reads."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await to_discussion(harness, group, presenter)
    assert not harness.emu.can_speak(presenter)
    assert all(harness.emu.can_speak(m) for m in harness.people.members[1:4])
    assert harness.emu.can_speak(harness.people.leader)
    text_perms = harness.emu.permissions_for(presenter, group.text_channel_id or 0)
    assert not text_perms & SEND
    assert text_perms & READ == READ
    assert harness.emu.permissions_for(presenter, group.voice_channel_id or 0) & HEAR == HEAR
    assert harness.emu.voice_channel_of(presenter) == group.voice_channel_id
    others = harness.emu.permissions_for(harness.people.members[1], group.text_channel_id or 0)
    assert others & SEND
    await assert_silence_invariant(harness)


async def test_presenter_speaks_again_when_invited_back(harness: Harness) -> None:
    """Leaving the discussion restores exactly the overwrites that were there before."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    before_text = dict(harness.emu.overwrites(group.text_channel_id or 0))
    before_voice = dict(harness.emu.overwrites(group.voice_channel_id or 0))
    await to_discussion(harness, group, presenter)
    back = await leader_says(harness, group, "phase next")
    assert "Presenter returns" in answer_text(back) or "returns" in answer_text(back).lower()
    assert harness.emu.can_speak(presenter)
    assert harness.emu.permissions_for(presenter, group.text_channel_id or 0) & SEND
    assert harness.emu.overwrites(group.text_channel_id or 0) == before_text
    assert harness.emu.overwrites(group.voice_channel_id or 0) == before_voice
    await assert_silence_invariant(harness)


async def test_presenters_own_overwrite_is_restored_exactly(harness: Harness) -> None:
    """An overwrite the presenter already had (here: no embeds) survives the silence."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    no_embeds = discord.Permissions(embed_links=True).value
    await harness.emu.set_overwrite(group.text_channel_id or 0, presenter, deny=no_embeds)
    original = harness.emu.overwrites(group.text_channel_id or 0)[presenter]
    await to_discussion(harness, group, presenter)
    silenced = harness.emu.overwrites(group.text_channel_id or 0)[presenter]
    assert silenced.deny & SEND
    assert silenced.deny & no_embeds
    await leader_says(harness, group, "phase next")
    assert harness.emu.overwrites(group.text_channel_id or 0)[presenter] == original
    await assert_silence_invariant(harness)


async def test_rejoining_during_the_silence_stays_silent(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await to_discussion(harness, group, presenter)
    await harness.emu.leave_voice(presenter)
    await harness.settle()
    await harness.emu.join_voice(presenter, group.voice_channel_id or 0)
    await harness.settle()
    assert not harness.emu.can_speak(presenter)
    await assert_silence_invariant(harness)


async def test_presenter_joining_late_is_silent_on_joining(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await harness.emu.leave_voice(presenter)
    await harness.settle()
    await to_discussion(harness, group, presenter)
    await harness.emu.join_voice(presenter, group.voice_channel_id or 0)
    await harness.settle()
    assert not harness.emu.can_speak(presenter)
    await leader_says(harness, group, "phase next")
    assert harness.emu.can_speak(presenter)
    await assert_silence_invariant(harness)


async def test_sole_leader_presenting_is_silenced_but_keeps_the_commands(
    harness: Harness,
) -> None:
    group = await meeting_group(harness)
    leader = harness.people.leader
    await to_discussion(harness, group, leader)
    assert not harness.emu.can_speak(leader)
    back = await leader_says(harness, group, "phase next")
    assert back.ephemeral
    assert harness.emu.can_speak(leader)
    await assert_silence_invariant(harness)


async def test_panel_buttons_move_phases_for_leaders_only(harness: Harness) -> None:
    group = await meeting_group(harness)
    await leader_says(harness, group, "session start")
    posted = panel(harness, group.text_channel_id)
    refused = await harness.emu.click(harness.people.members[0], posted,  # type: ignore[arg-type]
                                      button_id(posted, "Next ▶"))  # type: ignore[arg-type]
    # Acknowledged at once (a deferred update); the refusal follows, privately.
    await harness.settle()
    assert "Only the leaders" in answer_text(refused)
    assert refused.followups[-1].flags & Message.EPHEMERAL
    moved = await harness.emu.click(harness.people.leader, posted,  # type: ignore[arg-type]
                                    button_id(posted, "Next ▶"))  # type: ignore[arg-type]
    await harness.settle()
    assert "Follow-ups" in answer_text(moved)
    async with harness.bot.session_factory() as session:
        meeting = (await session.execute(select(Meeting))).scalar_one()
    assert meeting.current_phase == "follow_ups"
    await assert_silence_invariant(harness)


async def test_a_panel_edit_rendered_before_a_phase_change_does_not_undo_it(
    harness: Harness,
) -> None:
    """A refresh that read the meeting before a click moved it, and is sent after the
    click's edit (a restart's recovery, a cue), must not put the old phase back."""
    group = await meeting_group(harness)
    await leader_says(harness, group, "session start")
    posted = cast(Message, panel(harness, group.text_channel_id))
    sessions = cast(SessionCommands, harness.bot.get_cog("SessionCommands"))
    before = await harness.bot.sessions.panel_state(group)
    assert before is not None
    moved = await harness.emu.click(harness.people.leader, posted, button_id(posted, "Next ▶"))
    await harness.settle()
    assert "Follow-ups" in panel_heading(harness, posted)
    await sessions.refresh_panel(group, before)
    await harness.settle()
    assert "Follow-ups" in panel_heading(harness, posted)
    assert "Follow-ups" in answer_text(moved)
    await leader_says(harness, group, "session end")
    await sessions.refresh_panel(group, before)
    await harness.settle()
    assert "meeting ended" in panel_heading(harness, posted)


async def test_a_phase_change_asked_while_the_last_one_waits_on_discord_is_not_lost(
    harness: Harness,
) -> None:
    """The leader pushes the presenter back and, while Discord is still to answer the
    move (a member-move bucket refilling takes up to 10 s), invites them back: the second
    change waits for the first, then happens. Before, it read the position the first had
    not yet recorded, answered "Now: Clarifying questions" and did nothing, and the
    meeting then sat in the discussion with the presenter silenced."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    await leader_says(harness, group, "phase set", phase="questions")
    held = harness.emu.hold(MEMBER_ROUTE, method="PATCH")
    leader, text_id = harness.people.leader, group.text_channel_id or 0
    pushed_back = await harness.emu.run_command(
        leader, harness.guild_id, text_id, "phase set", phase="discussion"
    )
    await held.reached()
    invited_back = await harness.emu.run_command(
        leader, harness.guild_id, text_id, "phase set", phase="questions"
    )
    held.release()
    await pushed_back.final()
    await invited_back.final()
    await harness.settle()
    assert "Discussion" in answer_text(pushed_back), answer_text(pushed_back)
    assert "Clarifying questions" in answer_text(invited_back), answer_text(invited_back)
    async with harness.bot.session_factory() as session:
        meeting = (await session.execute(select(Meeting))).scalar_one()
    assert meeting.current_phase == "questions"
    assert harness.emu.can_speak(presenter)
    assert harness.emu.permissions_for(presenter, group.text_channel_id or 0) & SEND
    await assert_silence_invariant(harness)


async def test_cues_two_minutes_before_and_at_the_end_of_a_phase(harness: Harness) -> None:
    """Check-in is planned for 5 minutes: a quiet cue at 3 and at 5; no auto-advance."""
    group = await meeting_group(harness)
    await leader_says(harness, group, "session start")
    channel = group.text_channel_id or 0
    count = len(harness.emu.messages(channel))
    await harness.advance(timedelta(minutes=2, seconds=59))
    assert len(harness.emu.messages(channel)) == count
    await harness.advance(timedelta(seconds=1))
    assert "Two minutes left" in harness.emu.messages(channel)[-1].content
    await harness.advance(timedelta(minutes=2))
    assert "planned time" in harness.emu.messages(channel)[-1].content
    async with harness.bot.session_factory() as session:
        meeting = (await session.execute(select(Meeting))).scalar_one()
    assert meeting.current_phase == "check_in"
    await assert_silence_invariant(harness)


async def test_end_restores_everything_and_summarises_for_the_leader(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await to_discussion(harness, group, presenter)
    await harness.advance(timedelta(minutes=10))
    ended = await leader_says(harness, group, "session end")
    text = answer_text(ended)
    assert ended.ephemeral
    assert "the farmer who would not rest" in text
    assert "Discussion" in text
    assert harness.emu.can_speak(presenter)
    async with harness.bot.session_factory() as session:
        meeting = (await session.execute(select(Meeting))).scalar_one()
        open_entries = (await session.execute(select(PhaseLogEntry).where(
            PhaseLogEntry.ended_at.is_(None)))).scalars().all()
        open_changes = (await session.execute(select(OverwriteChange).where(
            OverwriteChange.restored_at.is_(None)))).scalars().all()
    assert meeting.status == MeetingStatus.ENDED
    assert open_entries == []
    assert open_changes == []
    await assert_silence_invariant(harness)


async def test_refusals_change_nothing(harness: Harness) -> None:
    """Non-leaders, a second start, ending nothing, an unknown phase, a non-member presenter."""
    group = await meeting_group(harness)
    member = harness.people.members[0]
    not_leader = await harness.command(member, "session start", group.text_channel_id)
    assert "Only the leaders of **Tuesday group** can start a meeting" in answer_text(not_leader)
    nothing = await leader_says(harness, group, "session end")
    assert "has no meeting running" in answer_text(nothing)
    await leader_says(harness, group, "session start")
    again = await leader_says(harness, group, "session start")
    assert "already meeting" in answer_text(again)
    unknown = await leader_says(harness, group, "phase set", phase="interrogation")
    assert "phase" in answer_text(unknown).lower()
    stranger = await leader_says(harness, group, "case present",
                                 member=harness.people.outsider, label="a case")
    assert "isn't a member" in answer_text(stranger)
    async with harness.bot.session_factory() as session:
        meetings = (await session.execute(select(Meeting))).scalars().all()
    assert len(meetings) == 1
    assert meetings[0].current_phase == "check_in"
    await assert_silence_invariant(harness)


async def test_commands_from_another_groups_channel_are_refused(harness: Harness) -> None:
    first = await meeting_group(harness, name="Tuesday group", in_voice=False)
    second = await harness.create_group(name="Thursday group")
    result = await harness.command(harness.people.leader, "group info",
                                   second.text_channel_id, group=first.name)
    assert "This channel belongs to **Thursday group**" in answer_text(result)
    await assert_silence_invariant(harness)


async def test_listening_mode_lets_only_presenter_and_leaders_speak(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter, listener = harness.people.members[0], harness.people.members[1]
    await leader_says(harness, group, "group settings", listening_mode=True)
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a quiet case")
    await leader_says(harness, group, "phase set", phase="presentation")
    assert harness.emu.can_speak(presenter)
    assert harness.emu.can_speak(harness.people.leader)
    assert not harness.emu.can_speak(listener)
    late = harness.people.members[4]
    await harness.add_and_accept(group, late)
    await harness.emu.join_voice(late, group.voice_channel_id or 0)
    await harness.settle()
    assert not harness.emu.can_speak(late)
    await leader_says(harness, group, "phase next")
    assert harness.emu.can_speak(listener)
    assert harness.emu.can_speak(late)
    await assert_silence_invariant(harness)


async def test_auto_advance_moves_on_when_time_is_up(harness: Harness) -> None:
    group = await meeting_group(harness)
    await leader_says(harness, group, "group settings", auto_advance=True)
    await leader_says(harness, group, "session start")
    await harness.advance(timedelta(minutes=5))
    async with harness.bot.session_factory() as session:
        meeting = (await session.execute(select(Meeting))).scalar_one()
    assert meeting.current_phase == "follow_ups"
    await assert_silence_invariant(harness)


async def test_two_groups_silence_only_their_own_presenter(harness: Harness) -> None:
    tuesday = await meeting_group(harness, members=2, name="Tuesday group")
    thursday = await harness.create_group(name="Thursday group")
    other = harness.people.members[3]
    await harness.add_and_accept(thursday, other)
    await harness.emu.join_voice(other, thursday.voice_channel_id or 0)
    await leader_says(harness, thursday, "session start")
    await to_discussion(harness, tuesday, harness.people.members[0])
    assert not harness.emu.can_speak(harness.people.members[0])
    assert harness.emu.can_speak(other)
    assert other not in harness.emu.overwrites(thursday.text_channel_id or 0)
    ended = await leader_says(harness, thursday, "session end")
    assert "meeting summary" in answer_text(ended)
    assert not harness.emu.can_speak(harness.people.members[0])
    await assert_silence_invariant(harness)


async def test_dropped_gateway_connection_loses_no_phase_change(harness: Harness) -> None:
    """A resumed connection replays what happened meanwhile; the next command works."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    await harness.emu.drop_gateway()
    await harness.emu.leave_voice(harness.people.members[1])
    await harness.emu.wait_connected()
    moved = await leader_says(harness, group, "phase set", phase="discussion")
    assert "Discussion" in answer_text(moved)
    assert not harness.emu.can_speak(presenter)
    await assert_silence_invariant(harness)


async def test_a_groups_own_phases_skip_rename_and_time(harness: Harness) -> None:
    """No questions round, 'Pushed back' for the discussion, one case of 30 minutes."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    skipped = await leader_says(harness, group, "group phases", phase="questions", enabled=False)
    assert "Clarifying questions: 5 min (skipped)" in answer_text(skipped)
    await leader_says(harness, group, "group phases", phase="discussion", title="Pushed back",
                      minutes=30)
    shown = answer_text(await leader_says(harness, group, "group phases", cases=1))
    assert "1 case(s)" in shown
    assert "Pushed back: 30 min" in shown
    member = await harness.command(presenter, "group phases", group.text_channel_id, cases=2)
    assert "Only the leaders" in answer_text(member)
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    await leader_says(harness, group, "phase set", phase="presentation")
    moved = await leader_says(harness, group, "phase next")
    assert "Case 1 · Pushed back" in answer_text(moved)
    assert not harness.emu.can_speak(presenter)
    during = await leader_says(harness, group, "group phases", cases=2)
    assert "between meetings" in answer_text(during)
    await leader_says(harness, group, "phase next")
    await leader_says(harness, group, "phase next")
    last = await leader_says(harness, group, "phase next")
    assert "last phase" in answer_text(last)
    await assert_silence_invariant(harness)


async def test_the_co_leader_runs_the_phases_while_the_leader_presents(
    harness: Harness,
) -> None:
    group = await meeting_group(harness, members=3)
    co_leader = harness.people.members[0]
    async with harness.bot.session_factory() as session:
        membership = (await session.execute(select(Membership).where(
            Membership.user_id == co_leader))).scalar_one()
        membership.role = MemberRole.CO_LEADER
        await session.commit()
    await to_discussion(harness, group, harness.people.leader)
    assert not harness.emu.can_speak(harness.people.leader)
    assert harness.emu.can_speak(co_leader)
    back = await harness.command(co_leader, "phase next", group.text_channel_id)
    assert "Presenter returns" in answer_text(back)
    assert harness.emu.can_speak(harness.people.leader)
    await assert_silence_invariant(harness)


async def test_offered_case_labels_are_for_leaders_only(harness: Harness) -> None:
    group = await meeting_group(harness, members=2, in_voice=False)
    member = harness.people.members[0]
    await harness.command(member, "case offer", group.text_channel_id,
                          label="the man who never sat down")
    listed = await leader_says(harness, group, "case list")
    assert "the man who never sat down" in answer_text(listed)
    assert listed.ephemeral
    peek = await harness.command(harness.people.members[1], "case list", group.text_channel_id)
    assert "Only the leaders" in answer_text(peek)
    assert "the man who never sat down" not in answer_text(peek)
    await assert_silence_invariant(harness)
