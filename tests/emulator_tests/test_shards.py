"""Sharding as Discord documents it (Gateway, "Sharding"): IDENTIFY carries
[shard_id, num_shards], each guild's events go only to shard (guild_id >> 22) % num_shards,
DMs only to shard 0, and a bad shard or too many guilds closes the socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.emulator.control import Emulator
from tests.emulator.gateway import shard_of

from .conftest import bot_intents

COUNT = 4


class ShardedPing(discord.AutoShardedClient):
    """Answers /ping in the guilds of its shards; remembers which guilds it saw."""

    def __init__(self, shard_ids: list[int] | None, shard_count: int | None = COUNT) -> None:
        shards: dict[str, Any] = {} if shard_ids is None else {"shard_ids": shard_ids}
        super().__init__(intents=bot_intents(), shard_count=shard_count, **shards)
        self.tree = app_commands.CommandTree(self)
        self.answered: list[int | None] = []

        @self.tree.command(name="ping", description="Ping")
        async def ping(interaction: discord.Interaction) -> None:
            self.answered.append(interaction.guild_id)
            await interaction.response.send_message(f"pong from {interaction.guild_id}")

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s between shards' IDENTIFYs; the emulator needs no pacing."""


@pytest.fixture
async def guilds(emulator: Emulator) -> list[int]:
    """Two guilds on each of the four shards."""
    made = [
        await emulator.create_guild(f"society {n}", shard=(n % COUNT, COUNT))
        for n in range(2 * COUNT)
    ]
    return [g.id for g in made]


@pytest.fixture
async def two_processes(
    emulator: Emulator, guilds: list[int]
) -> AsyncIterator[tuple[ShardedPing, ShardedPing]]:
    """Shards 0-1 in one client, 2-3 in another, as two processes would hold them."""
    low, high = ShardedPing([0, 1]), ShardedPing([2, 3])
    await emulator.start_client(low)
    await emulator.start_client(high)
    try:
        yield low, high
    finally:
        await emulator.stop_client(low)
        await emulator.stop_client(high)


async def test_each_client_gets_only_the_guilds_of_its_shards(
    emulator: Emulator, guilds: list[int], two_processes: tuple[ShardedPing, ShardedPing]
) -> None:
    low, high = two_processes
    assert {g.id for g in low.guilds} == {g for g in guilds if shard_of(g, COUNT) in (0, 1)}
    assert {g.id for g in high.guilds} == {g for g in guilds if shard_of(g, COUNT) in (2, 3)}
    assert len(low.guilds) == len(high.guilds) == 4
    assert sorted(s.shard for s in emulator.gateway.sessions.values()) == [
        (n, COUNT) for n in range(COUNT)
    ]
    for client in (low, high):
        for guild in client.guilds:
            assert guild.shard_id == shard_of(guild.id, COUNT)


async def test_interactions_and_guild_events_reach_only_the_owning_shard(
    emulator: Emulator, guilds: list[int], two_processes: tuple[ShardedPing, ShardedPing]
) -> None:
    low, high = two_processes
    person = await emulator.create_user("pat")
    for guild_id in guilds:
        await emulator.add_member(guild_id, person.id)
        text = await emulator.create_channel(guild_id, "general")
        result = await emulator.run_command(person.id, guild_id, text.id, "ping")
        assert result.content == f"pong from {guild_id}"
        owner, other = (low, high) if shard_of(guild_id, COUNT) < 2 else (high, low)
        await emulator.settle(owner)
        assert owner.get_channel(text.id) is not None
        assert other.get_channel(text.id) is None
    assert sorted(low.answered + high.answered) == sorted(guilds)  # type: ignore[type-var]
    assert all(shard_of(g or 0, COUNT) < 2 for g in low.answered)
    assert all(shard_of(g or 0, COUNT) >= 2 for g in high.answered)


async def test_direct_messages_go_to_shard_zero_only(
    emulator: Emulator, guilds: list[int], two_processes: tuple[ShardedPing, ShardedPing]
) -> None:
    low, high = two_processes
    person = await emulator.create_user("dee")
    result = await emulator.run_command(person.id, None, None, "ping")
    assert result.content == "pong from None"
    assert low.answered == [None]
    assert high.answered == []


async def test_an_unsharded_client_holds_every_guild(
    emulator: Emulator, guilds: list[int]
) -> None:
    client = discord.Client(intents=bot_intents())
    async with emulator.connected(client):
        assert {g.id for g in client.guilds} == set(guilds)


async def test_gateway_bot_recommends_the_configured_shard_count(
    emulator: Emulator, guilds: list[int]
) -> None:
    """Without a shard count AutoShardedClient asks GET /gateway/bot and runs them all."""
    emulator.gateway.recommended_shards = 3
    client = ShardedPing(None, None)
    async with emulator.connected(client):
        assert client.shard_count == 3
        assert set(client.shards) == {0, 1, 2}
        assert {g.id for g in client.guilds} == set(guilds)
    assert emulator.requests("GET", "/gateway/bot")


async def _identify(emulator: Emulator, shard: object) -> tuple[int | None, str]:
    """IDENTIFY by hand; the close code and reason, or (None, first event) if accepted."""
    async with aiohttp.ClientSession() as http, http.ws_connect(emulator.gateway_url) as ws:
        await ws.receive_json()  # HELLO
        await ws.send_str(json.dumps({"op": 2, "d": {
            "token": emulator.token, "intents": 1, "properties": {}, "shard": shard,
        }}))
        message = await asyncio.wait_for(ws.receive(), 30)  # a ceiling: the answer is at once
        if message.type is aiohttp.WSMsgType.TEXT:
            return None, str(json.loads(message.data)["t"])
        return ws.close_code, str(message.extra or "")


@pytest.mark.parametrize("shard", [[4, 4], [-1, 2], [0, 0], [1], "0,1", [True, 2]])
async def test_an_invalid_shard_is_refused_with_4010(
    emulator: Emulator, guilds: list[int], shard: object
) -> None:
    assert await _identify(emulator, shard) == (4010, "Invalid shard")


async def test_too_many_guilds_for_one_shard_is_refused_with_4011(
    emulator: Emulator, guilds: list[int]
) -> None:
    emulator.gateway.guilds_per_shard = 3
    assert await _identify(emulator, [0, 1]) == (4011, "Sharding required")
    assert await _identify(emulator, [0, 4]) == (None, "READY")
