"""Drop-outs (issue 16, point 2): a quiet line and a DM when a member drops, the line
updated when they are back; the presenter's drop cues the leaders, who may pause."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.db.models import FrameEvent, FrameEventKind, LeaderSpace, PhaseLogEntry
from tests.e2e.conftest import (
    Harness,
    answer_text,
    button_id,
    leader_says,
    meeting_group,
    to_discussion,
)
from tests.e2e.invariant import assert_silence_invariant

pytestmark = pytest.mark.e2e

SILENT = 1 << 12  # SUPPRESS_NOTIFICATIONS


def chat_lines(harness: Harness, channel_id: int | None, words: str) -> list[object]:
    return [m for m in harness.emu.messages(channel_id or 0) if words in m.content]


def panel_fields(harness: Harness, channel_id: int | None) -> str:
    panel = next(m for m in harness.emu.messages(channel_id or 0) if m.components)
    return " ".join(f"{f['name']}: {f['value']}" for f in panel.embeds[0].get("fields", []))


async def test_a_member_who_drops_gets_a_quiet_line_and_a_dm_and_the_line_follows_them(
    harness: Harness,
) -> None:
    group = await meeting_group(harness, members=3)
    member = harness.people.members[1]
    await leader_says(harness, group, "session start")

    await harness.emu.leave_voice(member)
    await harness.settle()
    [line] = chat_lines(harness, group.text_channel_id, "dropped at")
    assert f"<@{member}>" in line.content  # type: ignore[attr-defined]
    assert "waiting 2 minutes" in line.content  # type: ignore[attr-defined]
    assert line.flags & SILENT  # type: ignore[attr-defined]
    assert line.mention_ids == []  # type: ignore[attr-defined]
    dm = harness.emu.dms(member)[-1]
    assert "To come back" in dm.content
    assert f"<#{group.voice_channel_id}>" in dm.content

    await harness.advance(timedelta(seconds=50))
    await harness.emu.join_voice(member, group.voice_channel_id or 0)
    await harness.settle()
    [line] = chat_lines(harness, group.text_channel_id, "dropped at")
    assert "rejoined at" in line.content  # type: ignore[attr-defined]
    assert line.edited_timestamp is not None  # type: ignore[attr-defined]
    async with harness.bot.session_factory() as session:
        event = (await session.execute(select(FrameEvent))).scalar_one()
    assert event.kind is FrameEventKind.DROP
    assert event.ended_at is not None
    await assert_silence_invariant(harness)


async def test_the_presenters_drop_cues_the_leaders_who_may_pause_the_timer(
    harness: Harness,
) -> None:
    group = await meeting_group(harness, members=3)
    presenter = harness.people.members[0]
    await to_discussion(harness, group, presenter)

    await harness.emu.leave_voice(presenter)
    await harness.settle()
    async with harness.bot.session_factory() as session:
        space = await session.get(LeaderSpace, group.id)
    assert space is not None
    [cue] = [m for m in harness.emu.messages(space.channel_id) if m.components]
    assert "presenter" in cue.content
    assert cue.mention_ids == []
    # A member cannot even see the leaders' cue.
    assert not harness.emu.permissions_for(presenter, space.channel_id) & (1 << 10)

    clicked = await harness.emu.click(harness.people.leader, cue, button_id(cue, "Pause the timer"))
    await harness.settle()
    assert "Paused" in answer_text(clicked)
    assert "Paused" in panel_fields(harness, group.text_channel_id)
    async with harness.bot.session_factory() as session:
        planned = (
            (await session.execute(select(PhaseLogEntry).where(PhaseLogEntry.ended_at.is_(None))))
            .scalar_one()
            .planned_seconds
        )

    await harness.advance(timedelta(minutes=3))
    await harness.emu.join_voice(presenter, group.voice_channel_id or 0)
    await harness.settle()
    assert "Paused" not in panel_fields(harness, group.text_channel_id)
    async with harness.bot.session_factory() as session:
        entry = (
            await session.execute(select(PhaseLogEntry).where(PhaseLogEntry.ended_at.is_(None)))
        ).scalar_one()
    assert entry.planned_seconds == planned + 3 * 60
    # Back in the discussion, the presenter is still pushed back.
    assert not harness.emu.can_speak(presenter)
    await assert_silence_invariant(harness)


async def test_a_member_cannot_pause_the_timer(harness: Harness) -> None:
    group = await meeting_group(harness, members=3)
    presenter = harness.people.members[0]
    await to_discussion(harness, group, presenter)
    await harness.emu.leave_voice(presenter)
    await harness.settle()
    async with harness.bot.session_factory() as session:
        space = await session.get(LeaderSpace, group.id)
    assert space is not None
    [cue] = [m for m in harness.emu.messages(space.channel_id) if m.components]
    # Even with access to the space (a supervisor, say), only who runs the meeting may pause.
    role = await harness.emu.create_role(harness.guild_id, "Supervisors")
    await leader_says(harness, group, "frame settings", supervisor_role=role.id)
    await harness.emu.set_member_roles(harness.guild_id, harness.people.members[1], [role.id])
    await harness.settle()
    refused = await harness.emu.click(
        harness.people.members[1], cue, button_id(cue, "Pause the timer")
    )
    await harness.settle()
    assert "Only the leaders" in answer_text(refused)
    assert "Paused" not in panel_fields(harness, group.text_channel_id)
