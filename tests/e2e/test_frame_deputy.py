"""The deputy (issue 16, point 1): the leader drops, the deputy holds the meeting and
runs phases, the leader comes back and sees what happened; no deputy: the meeting waits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.db.models import Deputy, FrameEvent, FrameEventKind, Meeting, PhaseLogEntry
from bot.domain.phases import Phase
from tests.e2e.conftest import (
    Harness,
    answer_text,
    button_id,
    leader_says,
    meeting_group,
)
from tests.e2e.invariant import assert_silence_invariant
from tests.emulator.state import Message

pytestmark = pytest.mark.e2e

SILENT = 1 << 12  # SUPPRESS_NOTIFICATIONS


def panel(harness: Harness, channel_id: int | None) -> Message:
    return next(m for m in harness.emu.messages(channel_id or 0) if m.components)


def panel_text(harness: Harness, channel_id: int | None) -> str:
    embed = panel(harness, channel_id).embeds[0]
    return (
        str(embed["description"])
        + " "
        + " ".join(f"{f['name']}: {f['value']}" for f in embed.get("fields", []))
    )


async def name_and_accept(harness: Harness, group: object, deputy: int) -> None:
    named = await leader_says(harness, group, "frame deputy", member=deputy)  # type: ignore[arg-type]
    assert "asked" in answer_text(named), answer_text(named)
    dm = harness.latest_dm_with_buttons(deputy)
    accepted = await harness.emu.click(deputy, dm, button_id(dm, "I'll be the deputy"))
    await harness.settle()
    assert "you're the deputy" in answer_text(accepted)


async def current_phase(harness: Harness) -> str | None:
    async with harness.bot.session_factory() as session:
        return (await session.execute(select(Meeting.current_phase))).scalar_one()


async def test_leader_drops_deputy_runs_two_phases_leader_returns_and_sees_them(
    harness: Harness,
) -> None:
    group = await meeting_group(harness, members=3)
    leader, deputy = harness.people.leader, harness.people.members[0]
    await name_and_accept(harness, group, deputy)
    await leader_says(harness, group, "session start")
    # Before any handover the deputy is a member like the others.
    early = await harness.command(deputy, "phase next", group.text_channel_id)
    assert "Only the leaders" in answer_text(early)

    await harness.emu.leave_voice(leader)
    await harness.settle()
    await harness.advance(timedelta(seconds=30))
    assert not [
        m
        for m in harness.emu.messages(group.text_channel_id or 0)
        if "holds the meeting" in m.content
    ]
    await harness.advance(timedelta(seconds=31))
    [note] = [
        m
        for m in harness.emu.messages(group.text_channel_id or 0)
        if "holds the meeting" in m.content
    ]
    assert f"<@{deputy}>" in note.content
    assert note.flags & SILENT
    assert note.mention_ids == []
    assert "you hold it" in harness.emu.dms(deputy)[-1].content
    assert f"<@{deputy}>" in panel_text(harness, group.text_channel_id)

    # The deputy runs two phases: one by command, one by the panel's button.
    moved = await harness.command(deputy, "phase next", group.text_channel_id)
    assert "Follow-ups" in answer_text(moved), answer_text(moved)
    board = panel(harness, group.text_channel_id)
    await harness.emu.click(deputy, board, button_id(board, "Next ▶"))
    await harness.settle()
    assert await current_phase(harness) == Phase.CASE_SELECTION.value
    # Ending the meeting stays with the leaders.
    refused = await harness.command(deputy, "session end", group.text_channel_id)
    assert "Only the leaders" in answer_text(refused)

    await harness.emu.join_voice(leader, group.voice_channel_id or 0)
    await harness.settle()
    [back] = [m for m in harness.emu.messages(group.text_channel_id or 0) if "is back" in m.content]
    assert "Follow-ups" in back.content
    assert "Who has a case?" in back.content
    assert f"<@{deputy}>" in back.content
    assert "Held by the deputy" not in panel_text(harness, group.text_channel_id)
    late = await harness.command(deputy, "phase next", group.text_channel_id)
    assert "Only the leaders" in answer_text(late)
    assert await current_phase(harness) == Phase.CASE_SELECTION.value
    async with harness.bot.session_factory() as session:
        by_deputy = (
            await session.execute(select(func.count()).where(PhaseLogEntry.started_by == deputy))
        ).scalar_one()
    assert by_deputy == 2
    await assert_silence_invariant(harness)


async def test_without_a_deputy_the_meeting_waits_and_does_not_move_on(harness: Harness) -> None:
    group = await meeting_group(harness, members=2)
    leader = harness.people.leader
    await leader_says(harness, group, "group settings", auto_advance=True)
    await leader_says(harness, group, "session start")
    await harness.emu.leave_voice(leader)
    await harness.settle()
    await harness.advance(timedelta(seconds=61))
    [note] = [m for m in harness.emu.messages(group.text_channel_id or 0) if "waits" in m.content]
    assert note.mention_ids == []
    assert "Paused" in panel_text(harness, group.text_channel_id)
    # The check-in's time runs out: nothing advances by itself while it waits.
    await harness.advance(timedelta(minutes=6))
    assert await current_phase(harness) == Phase.CHECK_IN.value

    await harness.emu.join_voice(leader, group.voice_channel_id or 0)
    await harness.settle()
    assert "Paused" not in panel_text(harness, group.text_channel_id)
    async with harness.bot.session_factory() as session:
        open_events = (
            (await session.execute(select(FrameEvent).where(FrameEvent.ended_at.is_(None))))
            .scalars()
            .all()
        )
        entry = (
            await session.execute(select(PhaseLogEntry).where(PhaseLogEntry.ended_at.is_(None)))
        ).scalar_one()
    assert open_events == []
    assert entry.planned_seconds == 5 * 60 + 6 * 60  # the wait was given back (rounded up)
    await assert_silence_invariant(harness)


async def test_the_deputy_dropping_too_leaves_the_meeting_waiting(harness: Harness) -> None:
    group = await meeting_group(harness, members=3)
    leader, deputy = harness.people.leader, harness.people.members[0]
    await name_and_accept(harness, group, deputy)
    await leader_says(harness, group, "session start")
    await harness.emu.leave_voice(leader)
    await harness.settle()
    await harness.advance(timedelta(seconds=61))
    await harness.emu.leave_voice(deputy)
    await harness.settle()
    [note] = [
        m for m in harness.emu.messages(group.text_channel_id or 0) if "and so is" in m.content
    ]
    assert f"<@{deputy}>" in note.content
    assert "Paused" in panel_text(harness, group.text_channel_id)
    assert "Held by the deputy" not in panel_text(harness, group.text_channel_id)
    async with harness.bot.session_factory() as session:
        kinds = [
            e.kind
            for e in (
                await session.execute(select(FrameEvent).where(FrameEvent.ended_at.is_(None)))
            ).scalars()
        ]
    assert FrameEventKind.STAND_IN not in kinds
    assert FrameEventKind.PAUSE in kinds
    # The deputy coming back takes the meeting again.
    await harness.emu.join_voice(deputy, group.voice_channel_id or 0)
    await harness.settle()
    assert f"Held by the deputy: <@{deputy}>" in panel_text(harness, group.text_channel_id)
    await assert_silence_invariant(harness)


async def test_bad_deputies_are_refused_and_nothing_is_stored(harness: Harness) -> None:
    group = await meeting_group(harness, members=2, in_voice=False)
    leader = harness.people.leader
    invited = harness.people.members[3]
    await harness.command(leader, "group add", group.text_channel_id, member=invited)
    cases = {
        leader: "your own deputy",
        harness.people.outsider: "isn't a member",
        invited: "isn't a member",
    }
    for user_id, words in cases.items():
        result = await leader_says(harness, group, "frame deputy", member=user_id)
        assert result.ephemeral
        assert words in answer_text(result), answer_text(result)
    member = harness.people.members[0]
    refused = await harness.command(
        member, "frame deputy", group.text_channel_id, member=harness.people.members[1]
    )
    assert "Only the leaders" in answer_text(refused)
    no_meeting = await leader_says(harness, group, "frame deputy", member=member, this_meeting=True)
    assert "no meeting" in answer_text(no_meeting)
    async with harness.bot.session_factory() as session:
        assert (await session.execute(select(func.count()).select_from(Deputy))).scalar_one() == 0


async def test_after_a_restart_control_follows_the_room(harness: Harness) -> None:
    """Killed while the deputy holds the meeting; the leader comes back while the bot is
    down: at ready control is the leader's again. Killed while the leader is away within
    the grace time: the handover still happens on time after the restart."""
    group = await meeting_group(harness, members=3)
    leader, deputy = harness.people.leader, harness.people.members[0]
    await name_and_accept(harness, group, deputy)
    await leader_says(harness, group, "session start")
    await harness.emu.leave_voice(leader)
    await harness.settle()
    await harness.advance(timedelta(seconds=61))
    assert f"<@{deputy}>" in panel_text(harness, group.text_channel_id)

    await harness.kill_bot()
    await harness.emu.join_voice(leader, group.voice_channel_id or 0)
    await harness.start_bot()
    await harness.settle()
    assert "Held by the deputy" not in panel_text(harness, group.text_channel_id)
    assert [m for m in harness.emu.messages(group.text_channel_id or 0) if "is back" in m.content]
    late = await harness.command(deputy, "phase next", group.text_channel_id)
    assert "Only the leaders" in answer_text(late)

    await harness.emu.leave_voice(leader)
    await harness.settle()
    await harness.advance(timedelta(seconds=20))
    await harness.kill_bot()
    await harness.start_bot()
    await harness.advance(timedelta(seconds=41))
    assert f"Held by the deputy: <@{deputy}>" in panel_text(harness, group.text_channel_id)
    moved = await harness.command(deputy, "phase next", group.text_channel_id)
    assert "Follow-ups" in answer_text(moved), answer_text(moved)
    await assert_silence_invariant(harness)


async def test_a_presenting_deputy_is_skipped_and_the_meeting_waits(harness: Harness) -> None:
    """The deputy presents the case: with no co-leader nobody stands in; it waits."""
    group = await meeting_group(harness, members=3)
    leader, deputy = harness.people.leader, harness.people.members[0]
    await name_and_accept(harness, group, deputy)
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=deputy, label="the night call")
    await leader_says(harness, group, "phase set", phase="presentation")
    await harness.emu.leave_voice(leader)
    await harness.settle()
    await harness.advance(timedelta(seconds=61))
    assert "Held by the deputy" not in panel_text(harness, group.text_channel_id)
    assert "Paused" in panel_text(harness, group.text_channel_id)
    refused = await harness.command(deputy, "phase next", group.text_channel_id)
    assert "Only the leaders" in answer_text(refused)
    await assert_silence_invariant(harness)
