"""One interaction, one effect: two bot processes run by mistake on one database and one
token both receive every INTERACTION_CREATE; only the one that claims it acts."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from bot.app import build_bot
from bot.db.models import Group, Membership
from tests.e2e.conftest import Harness
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
