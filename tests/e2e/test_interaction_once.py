"""One interaction, one effect: two bot processes run by mistake on one database and one
token both receive every INTERACTION_CREATE; only the one that claims it acts."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from bot.app import build_bot
from bot.db.models import ClaimedInteraction, Group, Membership, PhaseLogEntry
from tests.e2e.conftest import Harness, button_id, leader_says, meeting_group
from tests.emulator.state import ChannelType

DUPLICATE = "is being handled by another process"


async def test_two_processes_act_on_a_command_and_a_button_once(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    second = build_bot(harness.settings(), harness.engine, harness.clock)
    await harness.emu.start_client(second)
    caplog.set_level(logging.INFO, logger="bot.app")
    try:
        group = await harness.create_group(name="Thursday group")
        categories = [
            channel for channel in harness.emu.state.channels.values()
            if channel.type == ChannelType.CATEGORY and channel.name == "Thursday group"
        ]
        assert len(categories) == 1
        await harness.add_and_accept(group, harness.people.members[0])
        welcomes = [m for m in harness.emu.dms(harness.people.members[0])
                    if "Welcome" in (m.content or "")]
        assert len(welcomes) <= 1
        async with harness.bot.session_factory() as session:
            groups = await session.scalar(select(func.count()).select_from(Group))
            memberships = await session.scalar(
                select(func.count()).select_from(Membership)
                .where(Membership.user_id == harness.people.members[0])
            )
        assert (groups, memberships) == (1, 1)
        # The fault fired: the other process got each interaction and stood aside.
        refused = [r for r in caplog.records if DUPLICATE in r.getMessage()]
        assert len(refused) >= 3  # group create, group add, Accept
        # Without the claim the second process also acts, and Discord refuses its answer.
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        await harness.emu.stop_client(second)


async def test_two_processes_change_the_phase_once_claimed_by_the_acknowledgement(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The phase changes skip the database claim (it would delay the silence): Discord
    accepts one acknowledgement, and the process it refuses changes nothing."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    await leader_says(harness, group, "phase set", phase="questions")
    second = build_bot(harness.settings(), harness.engine, harness.clock)
    await harness.emu.start_client(second)
    caplog.set_level(logging.INFO, logger="bot.replies")
    try:
        start = len(harness.emu.request_log)
        await leader_says(harness, group, "phase set", phase="discussion")
        panel = [m for m in harness.emu.messages(group.text_channel_id or 0) if m.components][-1]
        await harness.emu.click(harness.people.leader, panel, button_id(panel, "Next ▶"))
        await harness.settle()
        async with harness.bot.session_factory() as session:
            entries = (
                await session.scalars(select(PhaseLogEntry.phase).order_by(PhaseLogEntry.id))
            ).all()
        assert entries[-3:] == ["questions", "discussion", "presenter_returns"]
        moves = [r for r in harness.emu.request_log[start:] if "/members/" in r.route]
        assert len(moves) == 2  # silenced once, given SPEAK back once
        # The fault fired: the other process was refused its acknowledgement each time.
        refused = [r for r in caplog.records if DUPLICATE in r.getMessage()]
        assert len(refused) == 2
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        await harness.emu.stop_client(second)



async def test_two_processes_answer_a_read_only_command_once_without_a_claim(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """A command that only reads is claimed by its answer: both processes read, Discord
    accepts one answer, and the other process is refused and says nothing more."""
    group = await meeting_group(harness)
    second = build_bot(harness.settings(), harness.engine, harness.clock)
    await harness.emu.start_client(second)
    caplog.set_level(logging.INFO, logger="cogs.errors")
    try:
        async with harness.bot.session_factory() as session:
            claims_before = await session.scalar(
                select(func.count()).select_from(ClaimedInteraction)
            )
        start = len(harness.emu.request_log)
        for command in ("group info", "schedule show"):
            result = await harness.command(
                harness.people.leader, command, group.text_channel_id
            )
            assert result.message is not None
            assert result.message.embeds
        await harness.settle()
        callbacks = [r for r in harness.emu.request_log[start:] if "/callback" in r.route]
        # The fault fired: each command was answered twice, and refused once.
        assert sorted(r.status for r in callbacks) == [200, 200, 400, 400]
        refused = [r for r in caplog.records if DUPLICATE in r.getMessage()]
        assert len(refused) == 2
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        async with harness.bot.session_factory() as session:
            claims_after = await session.scalar(
                select(func.count()).select_from(ClaimedInteraction)
            )
        assert claims_after == claims_before
    finally:
        await harness.emu.stop_client(second)
