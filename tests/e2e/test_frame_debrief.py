"""The leaders' debrief space (issue 16, point 4): the summary after /session end, seen by
the leaders (and a supervisor role) only, and gone with the group's retention period."""

from __future__ import annotations

from datetime import timedelta

import discord
import pytest
from sqlalchemy import select

from bot.db.models import Debrief, LeaderSpace
from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group
from tests.e2e.invariant import assert_silence_invariant

pytestmark = pytest.mark.e2e

VIEW = discord.Permissions(view_channel=True).value
SILENT = 1 << 12  # SUPPRESS_NOTIFICATIONS


async def test_the_summary_goes_to_the_leaders_space_and_no_member_sees_it(
    harness: Harness,
) -> None:
    group = await meeting_group(harness, members=3)
    leader, members = harness.people.leader, harness.people.members[:3]
    role = await harness.emu.create_role(harness.guild_id, "Supervisors")
    await harness.emu.set_member_roles(harness.guild_id, harness.people.outsider, [role.id])
    set_role = await leader_says(harness, group, "frame settings", supervisor_role=role.id)
    assert f"<@&{role.id}>" in answer_text(set_role), answer_text(set_role)

    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=members[0], label="the quiet farmer")
    ended = await leader_says(harness, group, "session end")
    assert "summary" in answer_text(ended)

    async with harness.bot.session_factory() as session:
        space = await session.get(LeaderSpace, group.id)
        debrief = (await session.execute(select(Debrief))).scalar_one()
    assert space is not None
    assert debrief.thread_id is not None
    posts = harness.emu.messages(space.channel_id)
    assert len(posts) == 1
    post = posts[0]
    titles = [e.get("title", "") for e in post.embeds]
    assert any("meeting summary" in t for t in titles), titles
    assert "The frame" in titles
    assert "Debrief" in post.content
    assert post.flags & SILENT
    assert post.mention_ids == []
    assert harness.emu.channel(debrief.thread_id).parent_id == space.channel_id
    # Visible to the leader and the supervisor role; to no member, nor to everyone else.
    for reader in (leader, harness.people.outsider):
        assert harness.emu.permissions_for(reader, space.channel_id) & VIEW, reader
        assert harness.emu.permissions_for(reader, debrief.thread_id) & VIEW, reader
    for member in members:
        assert not harness.emu.permissions_for(member, space.channel_id) & VIEW, member
        assert not harness.emu.permissions_for(member, debrief.thread_id) & VIEW, member
    await assert_silence_invariant(harness)


async def test_a_second_meeting_reuses_the_space_and_retention_removes_old_debriefs(
    harness: Harness,
) -> None:
    group = await meeting_group(harness, members=2)
    for _ in range(2):
        await leader_says(harness, group, "session start")
        await leader_says(harness, group, "session end")
        await harness.advance(timedelta(days=14))
    async with harness.bot.session_factory() as session:
        spaces = (await session.execute(select(LeaderSpace))).scalars().all()
        debriefs = (await session.execute(select(Debrief))).scalars().all()
    assert len(spaces) == 1
    assert len(debriefs) == 2
    assert len(harness.emu.messages(spaces[0].channel_id)) == 2
    thread_ids = [d.thread_id for d in debriefs]

    await harness.clock.advance(timedelta(days=366))
    await harness.bot.privacy.apply_retention()
    await harness.settle()

    async with harness.bot.session_factory() as session:
        gone = (await session.execute(select(Debrief))).scalars().all()
    assert all(d.deleted_at is not None and d.thread_id is None for d in gone)
    assert harness.emu.messages(spaces[0].channel_id) == []
    remaining = {c.id for c in harness.emu.channels(harness.guild_id)}
    assert not remaining & set(thread_ids)
