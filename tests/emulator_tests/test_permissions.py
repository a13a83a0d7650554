"""The emulator's permission algorithm agrees with discord.py's ``permissions_for``."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator

import discord
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.emulator import payloads
from tests.emulator.permissions import ALL, channel_permissions
from tests.emulator.state import Channel, ChannelType, Guild, Member, Overwrite, Role, State, User

from .conftest import Scene, bot_intents

CHANNEL_TYPES = [ChannelType.TEXT, ChannelType.VOICE, ChannelType.CATEGORY, ChannelType.FORUM]
# Only bits Discord defines: an integer up to ALL may still carry the unused bit 47.
bits = st.integers(min_value=0, max_value=ALL).map(lambda value: value & ALL)
# Bits that matter most, drawn often so interesting cases (VIEW, SEND, CONNECT, ADMIN) occur.
key_bits = st.sampled_from([1 << 3, 1 << 10, 1 << 11, 1 << 20, 1 << 21, 1 << 28, 1 << 38, 0])
mask = st.one_of(bits, key_bits, st.builds(lambda a, b: a | b, key_bits, key_bits))


@st.composite
def worlds(draw: st.DrawFn) -> tuple[State, Guild, Channel, int]:
    """Random roles, a random member, a channel (maybe a thread) with random overwrites."""
    state = State(lambda: dt.datetime.now(dt.UTC))
    owner = 1000
    guild = Guild(id=1, name="g", owner_id=owner)
    guild.roles[1] = Role(1, 1, "@everyone", draw(mask), 0)
    for index in range(draw(st.integers(0, 4))):
        guild.roles[10 + index] = Role(10 + index, 1, f"r{index}", draw(mask), index + 1)
    member_id = draw(st.sampled_from([owner, 2000]))
    roles = draw(st.lists(st.sampled_from(sorted(guild.roles)), unique=True))
    timed_out = draw(st.booleans()) and draw(st.booleans())
    until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1) if timed_out else None
    for user_id in {owner, member_id}:
        state.users[user_id] = User(id=user_id, username=f"u{user_id}")
        guild.members[user_id] = Member(
            1,
            user_id,
            roles=[r for r in roles if r != 1] if user_id == member_id else [],
            communication_disabled_until=until if user_id == member_id else None,
        )
    kind = draw(st.sampled_from(CHANNEL_TYPES))
    channel = Channel(id=50, type=kind, name="c", guild_id=1)
    targets = [*guild.roles, member_id]
    for target in draw(st.lists(st.sampled_from(targets), unique=True)):
        channel.overwrites[target] = Overwrite(
            target, 1 if target == member_id else 0, draw(mask), draw(mask)
        )
    state.guilds[1] = guild
    state.channels[50] = channel
    if kind in (ChannelType.TEXT, ChannelType.FORUM) and draw(st.booleans()):
        thread = Channel(
            id=60,
            type=ChannelType.PUBLIC_THREAD,
            name="t",
            guild_id=1,
            parent_id=50,
            owner_id=owner,
        )
        state.channels[60] = thread
        return state, guild, thread, member_id
    return state, guild, channel, member_id


def discord_py_permissions(state: State, guild: Guild, channel: Channel, member_id: int) -> int:
    """discord.py's own answer, from discord.py objects parsed from the emulator's payloads."""
    client = discord.Client(intents=bot_intents())
    parsed = discord.Guild(data=payloads.guild_create(state, guild), state=client._connection)  # type: ignore[arg-type]
    if channel.is_thread:
        parent = parsed.get_channel(channel.parent_id or 0)
        thread = discord.Thread(
            guild=parsed,
            state=client._connection,
            data=payloads.channel(state, channel),  # type: ignore[arg-type]
        )
        assert parent is not None
        parsed._add_thread(thread)
        target: discord.abc.GuildChannel | discord.Thread = thread
    else:
        found = parsed.get_channel(channel.id)
        assert found is not None
        target = found
    member = parsed.get_member(member_id)
    assert member is not None
    return target.permissions_for(member).value


@settings(max_examples=300, deadline=None)
@given(worlds())
def test_effective_permissions_match_discord_py(world: tuple[State, Guild, Channel, int]) -> None:
    """Over random roles and overwrites the two computations agree bit for bit."""
    state, guild, channel, member_id = world
    parent = state.channels.get(channel.parent_id or 0)
    ours = channel_permissions(guild, channel, parent, member_id)
    assert ours == discord_py_permissions(state, guild, channel, member_id)


@pytest.fixture
async def client(scene: Scene) -> AsyncIterator[discord.Client]:
    """A connected client whose cache came over the real gateway."""
    client = discord.Client(intents=bot_intents())
    async with scene.emu.connected(client):
        yield client


async def test_connected_cache_agrees(scene: Scene, client: discord.Client) -> None:
    """After random role/overwrite changes over the gateway, the client's cache agrees."""
    emu, rng = scene.emu, random.Random(7)
    roles = [
        await emu.create_role(scene.guild.id, f"r{i}", rng.getrandbits(53) & ALL) for i in range(3)
    ]
    await emu.set_member_roles(scene.guild.id, scene.alice.id, [roles[0].id, roles[2].id])
    channels = [scene.text, scene.voice, scene.forum]
    for channel in channels:
        for target in [scene.guild.id, *(r.id for r in roles), scene.alice.id]:
            if rng.random() < 0.6:
                allow, deny = rng.getrandbits(53) & ALL, rng.getrandbits(53) & ALL
                await emu.set_overwrite(channel.id, target, allow=allow & ~deny, deny=deny)
    await emu.join_voice(scene.bob.id, scene.voice.id)
    await emu.settle(client)
    guild = client.get_guild(scene.guild.id)
    assert guild is not None
    for user in (scene.alice, scene.bob):
        member = guild.get_member(user.id)
        assert member is not None
        for channel in channels:
            cached = guild.get_channel(channel.id)
            assert cached is not None
            assert cached.permissions_for(member).value == emu.permissions_for(user.id, channel.id)
