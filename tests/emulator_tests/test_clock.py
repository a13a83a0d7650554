"""The emulator's "now" is the test's clock: snowflakes, message timestamps and timeouts
follow it, not the wall clock."""

from __future__ import annotations

import datetime as dt

import discord

from tests.emulator.control import Emulator
from tests.emulator.permissions import P
from tests.emulator.state import ChannelType

LONG_AGO = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


async def test_ids_timestamps_and_timeouts_follow_the_emulators_clock() -> None:
    now = LONG_AGO

    async with Emulator(now=lambda: now) as emu:
        guild = await emu.create_guild("Balint")
        alice = await emu.create_user("alice")
        await emu.add_member(guild.id, alice.id)
        text = await emu.create_channel(guild.id, "general", ChannelType.TEXT)
        message = await emu.send_message(alice.id, text.id, "hello")

        assert abs(discord.utils.snowflake_time(message.id) - LONG_AGO) < dt.timedelta(
            milliseconds=2)
        assert message.timestamp == LONG_AGO
        assert emu.channel(text.id).created_at == LONG_AGO

        emu.member(guild.id, alice.id).communication_disabled_until = LONG_AGO + dt.timedelta(
            minutes=10)
        assert not emu.permissions_for(alice.id, text.id) & P.SEND_MESSAGES  # timed out
        now = LONG_AGO + dt.timedelta(minutes=11)
        assert emu.permissions_for(alice.id, text.id) & P.SEND_MESSAGES  # timeout over
        later = await emu.send_message(alice.id, text.id, "again")
        assert discord.utils.snowflake_time(later.id) >= now - dt.timedelta(milliseconds=1)
