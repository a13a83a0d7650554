"""A small guild most emulator tests share, and a plain discord.py client to drive against it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord
import pytest

from tests.emulator.control import Emulator
from tests.emulator.fixtures import emulator
from tests.emulator.state import Channel, ChannelType, Guild, User

__all__ = ["emulator"]


def bot_intents() -> discord.Intents:
    """The intents balint-bot uses (no message_content)."""
    intents = discord.Intents.none()
    intents.guilds = intents.members = intents.voice_states = True
    intents.guild_scheduled_events = intents.dm_messages = True
    return intents


@dataclass
class Scene:
    """Alice and Bob in a guild with a text, two voice channels and a forum."""

    emu: Emulator
    guild: Guild
    alice: User
    bob: User
    text: Channel
    voice: Channel
    other_voice: Channel
    forum: Channel


@pytest.fixture
async def scene(emulator: Emulator) -> Scene:
    """The shared world, created before any client connects."""
    guild = await emulator.create_guild("Balint")
    alice = await emulator.create_user("alice")
    bob = await emulator.create_user("bob")
    await emulator.add_member(guild.id, alice.id)
    await emulator.add_member(guild.id, bob.id)
    text = await emulator.create_channel(guild.id, "general")
    voice = await emulator.create_channel(guild.id, "room", ChannelType.VOICE)
    other = await emulator.create_channel(guild.id, "lobby", ChannelType.VOICE)
    forum = await emulator.create_channel(
        guild.id, "cases", ChannelType.FORUM, available_tags=["open"]
    )
    return Scene(emulator, guild, alice, bob, text, voice, other, forum)


@pytest.fixture
async def channel(scene: Scene) -> AsyncIterator[discord.TextChannel]:
    """The text channel as seen by a connected client."""
    client = discord.Client(intents=bot_intents())
    async with scene.emu.connected(client):
        channel = client.get_channel(scene.text.id)
        assert isinstance(channel, discord.TextChannel)
        yield channel


class Clock:
    """The emulator's "now", moved by the test (a fixed start: nothing hangs on the wall
    clock)."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 5, 12, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def clock(scene: Scene) -> Clock:
    """The test's clock, made the emulator's "now"."""
    clock = Clock()
    scene.emu.state.now = clock
    return clock
