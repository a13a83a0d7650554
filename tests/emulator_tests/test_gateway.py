"""Gateway handshake, resume with replay, forced re-identify, member chunking."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands

from .conftest import Scene, bot_intents


class PingBot(discord.Client):
    """Answers /ping; counts READY/RESUMED."""

    def __init__(self) -> None:
        super().__init__(intents=bot_intents())
        self.tree = app_commands.CommandTree(self)
        self.resumed = asyncio.Event()

        @self.tree.command(name="ping", description="Ping")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong")

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before every re-IDENTIFY; tests cannot afford that."""


@pytest.fixture
async def bot(scene: Scene) -> AsyncIterator[PingBot]:
    """Connected PingBot."""
    client = PingBot()
    async with scene.emu.connected(client):
        yield client


async def test_start_to_ready_is_fast(scene: Scene) -> None:
    """Login, READY and GUILD_CREATE take well under a second; the cache is complete."""
    client = PingBot()
    started = time.monotonic()
    async with scene.emu.connected(client):
        assert time.monotonic() - started < 1.0
        guild = client.get_guild(scene.guild.id)
        assert guild is not None
        assert guild.chunked
        assert {m.id for m in guild.members} >= {scene.alice.id, scene.bob.id, scene.emu.bot_id}
        assert guild.default_role.id == guild.id
        assert guild.get_channel(scene.voice.id).type is discord.ChannelType.voice  # type: ignore[union-attr]
        assert client.application_id == scene.emu.application_id


async def test_resume_replays_interaction_sent_while_disconnected(
    scene: Scene, bot: PingBot
) -> None:
    """An interaction dispatched while the socket is down is replayed after RESUME."""
    await scene.emu.drop_gateway()
    result = await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "ping")
    assert result.content == "pong"
    await asyncio.wait_for(bot.resumed.wait(), 2)
    assert scene.emu.gateway.resumes == 1


async def test_invalid_session_forces_identify(scene: Scene, bot: PingBot) -> None:
    """op 9 (false) makes discord.py IDENTIFY again and rebuild its cache from READY."""
    await scene.emu.invalidate_session()
    await scene.emu.wait_connected()
    assert scene.emu.gateway.identifies == 2
    result = await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "ping")
    assert result.content == "pong"


async def test_member_chunk_request_echoes_nonce(scene: Scene, bot: PingBot) -> None:
    """guild.query_members (op 8) is answered with GUILD_MEMBERS_CHUNK."""
    guild = bot.get_guild(scene.guild.id)
    assert guild is not None
    found = await guild.query_members("ali")
    assert [m.id for m in found] == [scene.alice.id]


async def test_events_follow_state_changes(scene: Scene, bot: PingBot) -> None:
    """Members joining later, new roles and channels reach the client's cache."""
    carol = await scene.emu.create_user("carol")
    role = await scene.emu.create_role(scene.guild.id, "presenter")
    await scene.emu.add_member(scene.guild.id, carol.id, roles=[role.id])
    channel = await scene.emu.create_channel(scene.guild.id, "later")
    await scene.emu.settle(bot)
    guild = bot.get_guild(scene.guild.id)
    assert guild is not None
    member = guild.get_member(carol.id)
    assert member is not None
    assert [r.name for r in member.roles[1:]] == ["presenter"]
    assert guild.get_channel(channel.id) is not None


class OutageWatcher(PingBot):
    """Records the guild events discord.py derives from an outage and its end."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int]] = []
        self.changed = asyncio.Event()

    async def on_guild_unavailable(self, guild: discord.Guild) -> None:
        self.seen.append(("unavailable", guild.id))
        self.changed.set()

    async def on_guild_available(self, guild: discord.Guild) -> None:
        self.seen.append(("available", guild.id))
        self.changed.set()

    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        self.seen.append(("voice", member.id))
        self.changed.set()

    async def next_change(self) -> None:
        await asyncio.wait_for(self.changed.wait(), timeout=5)
        self.changed.clear()


async def test_a_guild_outage_hides_its_events_until_it_is_back(scene: Scene) -> None:
    """GUILD_DELETE with `unavailable` true, none of the guild's events meanwhile, then a
    GUILD_CREATE whose state is current (docs, Gateway "Guild Delete"/"Guild Create")."""
    client = OutageWatcher()
    async with scene.emu.connected(client):
        assert client.seen == [("available", scene.guild.id)]  # discord.py, before READY
        client.seen.clear()
        client.changed.clear()
        await scene.emu.guild_outage(scene.guild.id)
        await client.next_change()
        guild = client.get_guild(scene.guild.id)
        assert guild is not None
        assert guild.unavailable
        await scene.emu.join_voice(scene.alice.id, scene.voice.id)
        await scene.emu.guild_back(scene.guild.id)
        await client.next_change()
        assert client.seen == [("unavailable", scene.guild.id), ("available", scene.guild.id)]
        back = client.get_guild(scene.guild.id)  # the same object, updated in place
        assert back is guild
        assert not back.unavailable
        alice = back.get_member(scene.alice.id)
        assert alice is not None
        assert alice.voice is not None
        assert alice.voice.channel is not None
        assert alice.voice.channel.id == scene.voice.id


async def test_a_session_started_during_an_outage_gets_the_guild_when_it_is_back(
    scene: Scene,
) -> None:
    """READY lists the guild as unavailable, and no GUILD_CREATE follows until the outage
    ends; a client then hears `guild_available` for it."""
    await scene.emu.guild_outage(scene.guild.id)
    client = OutageWatcher()
    async with scene.emu.connected(client):
        guild = client.get_guild(scene.guild.id)
        assert guild is not None
        assert guild.unavailable
        assert client.seen == []
        await scene.emu.guild_back(scene.guild.id)
        await client.next_change()
        assert client.seen == [("available", scene.guild.id)]
        assert client.get_channel(scene.text.id) is not None
