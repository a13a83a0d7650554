"""Discord's harder gateway moments: op 7, op 9 true, withheld heartbeat ACKs, expired
sessions, and events that come late, twice or never. discord.py copes with each and its
cache ends up right."""

from __future__ import annotations

import asyncio

import discord

from .conftest import Scene, bot_intents
from .test_gateway import PingBot, bot

__all__ = ["bot"]


def voice_members(client: discord.Client, channel_id: int) -> set[int]:
    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.VoiceChannel)
    return {member.id for member in channel.members}


async def test_op7_reconnect_resumes_and_loses_nothing(scene: Scene, bot: PingBot) -> None:
    """After op 7 the client RESUMEs; what happened in between is replayed."""
    await scene.emu.request_reconnect()
    await scene.emu.join_voice(scene.alice.id, scene.voice.id)
    await asyncio.wait_for(bot.resumed.wait(), 5)
    await scene.emu.settle(bot)
    assert (scene.emu.gateway.identifies, scene.emu.gateway.resumes) == (1, 1)
    assert voice_members(bot, scene.voice.id) == {scene.alice.id}


async def test_op9_true_resumes(scene: Scene, bot: PingBot) -> None:
    """An invalid session that may be resumed (d: true) is resumed, not re-identified."""
    await scene.emu.invalidate_session(resumable=True)
    await scene.emu.join_voice(scene.bob.id, scene.voice.id)
    await asyncio.wait_for(bot.resumed.wait(), 5)
    await scene.emu.settle(bot)
    assert (scene.emu.gateway.identifies, scene.emu.gateway.resumes) == (1, 1)
    assert voice_members(bot, scene.voice.id) == {scene.bob.id}


class ImpatientBot(PingBot):
    """Gives up on a silent gateway after half a second (discord.py's default is 60 s)."""

    def __init__(self) -> None:
        discord.Client.__init__(self, intents=bot_intents(), heartbeat_timeout=0.5)
        self.tree = discord.app_commands.CommandTree(self)
        self.resumed = asyncio.Event()


async def test_withheld_heartbeat_acks_make_the_client_reconnect(scene: Scene) -> None:
    """No ACK and nothing else received: the client closes the socket and RESUMEs."""
    scene.emu.gateway.heartbeat_interval_ms = 100
    scene.emu.gateway.ack_heartbeats = False
    client = ImpatientBot()
    async with scene.emu.connected(client):
        await asyncio.wait_for(client.resumed.wait(), 5)
        assert scene.emu.gateway.heartbeats >= 2
        assert scene.emu.gateway.resumes >= 1


async def test_a_late_resume_of_an_expired_session_is_refused(
    scene: Scene, bot: PingBot
) -> None:
    """After a long outage the session has expired: RESUME gets op 9 false, the client
    IDENTIFYs and rebuilds its cache from READY, so the change made meanwhile is there."""
    scene.emu.gateway.expire_sessions()
    await scene.emu.drop_gateway()
    await scene.emu.join_voice(scene.alice.id, scene.voice.id)
    await scene.emu.wait_connected()
    for _ in range(100):
        if scene.emu.gateway.identifies == 2:
            break
        await asyncio.sleep(0.02)
    await scene.emu.settle(bot)
    assert scene.emu.gateway.refused_resumes == 1
    assert scene.emu.gateway.identifies == 2
    assert voice_members(bot, scene.voice.id) == {scene.alice.id}
    result = await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "ping")
    assert result.content == "pong"


async def test_late_and_duplicated_events_still_leave_the_cache_right(
    scene: Scene, bot: PingBot
) -> None:
    """Events held back and sent twice: they fired, and the cache is right once settled."""
    events = scene.emu.gateway.events
    events.delay, events.duplicate = 0.05, 1.0
    await scene.emu.join_voice(scene.alice.id, scene.voice.id)
    await scene.emu.join_voice(scene.bob.id, scene.voice.id)
    await scene.emu.join_voice(scene.alice.id, scene.other_voice.id)
    assert scene.emu.gateway.pending > 0  # not yet sent when the change is made
    await scene.emu.settle(bot)
    assert events.duplicated == 3
    assert voice_members(bot, scene.voice.id) == {scene.bob.id}
    assert voice_members(bot, scene.other_voice.id) == {scene.alice.id}


async def test_a_lost_event_is_never_seen(scene: Scene, bot: PingBot) -> None:
    """An event Discord never sends leaves the cache stale: only a fetch tells the truth."""
    scene.emu.gateway.events.drop["VOICE_STATE_UPDATE"] = 1
    await scene.emu.join_voice(scene.alice.id, scene.voice.id)
    await scene.emu.settle(bot)
    assert scene.emu.gateway.events.dropped == 1
    assert voice_members(bot, scene.voice.id) == set()
    assert scene.emu.voice_channel_of(scene.alice.id) == scene.voice.id
