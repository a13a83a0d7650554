"""Discord's rules applied to the bot's own requests: permissions, hierarchy, voice."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from tests.emulator.control import BOT_DEFAULT
from tests.emulator.interactions import EmulatorError
from tests.emulator.permissions import P
from tests.emulator.state import Overwrite

from .conftest import Scene, bot_intents


@pytest.fixture
async def client(scene: Scene) -> AsyncIterator[discord.Client]:
    """A plain connected client."""
    client = discord.Client(intents=bot_intents())
    async with scene.emu.connected(client):
        yield client


def _guild(client: discord.Client, scene: Scene) -> discord.Guild:
    guild = client.get_guild(scene.guild.id)
    assert guild is not None
    return guild


async def test_speak_overwrite_applies_only_after_move(
    scene: Scene, client: discord.Client
) -> None:
    """Denying SPEAK leaves a connected member speaking until they are moved (Discord #4032)."""
    emu = scene.emu
    await emu.join_voice(scene.alice.id, scene.voice.id)
    guild = _guild(client, scene)
    voice = guild.get_channel(scene.voice.id)
    alice = guild.get_member(scene.alice.id)
    assert isinstance(voice, discord.VoiceChannel)
    assert alice is not None
    await voice.set_permissions(alice, speak=False)
    assert emu.overwrites(voice.id)[alice.id].deny == P.SPEAK
    assert emu.can_speak(scene.alice.id)
    await emu.settle(client)
    assert voice.overwrites_for(alice).speak is False  # CHANNEL_UPDATE reached the cache
    await alice.move_to(voice)
    assert emu.voice_channel_of(scene.alice.id) == voice.id
    assert not emu.can_speak(scene.alice.id)


async def test_server_mute_blocks_speaking_at_once(scene: Scene, client: discord.Client) -> None:
    """Server mute takes effect immediately; unmuting someone not in voice is a 400."""
    await scene.emu.join_voice(scene.bob.id, scene.voice.id)
    bob = _guild(client, scene).get_member(scene.bob.id)
    assert bob is not None
    await bob.edit(mute=True)
    assert not scene.emu.can_speak(scene.bob.id)
    await scene.emu.leave_voice(scene.bob.id)
    with pytest.raises(discord.HTTPException) as error:
        await bob.edit(mute=False)
    assert error.value.status == 400
    assert error.value.code == 40032


async def test_move_member_not_in_voice_is_40032(scene: Scene, client: discord.Client) -> None:
    """Moving someone who is not connected fails like Discord."""
    guild = _guild(client, scene)
    alice = guild.get_member(scene.alice.id)
    assert alice is not None
    with pytest.raises(discord.HTTPException) as error:
        await alice.move_to(guild.get_channel(scene.voice.id))  # type: ignore[arg-type]
    assert error.value.status == 400
    assert error.value.code == 40032
    assert error.value.text == "Target user is not connected to voice."


async def test_missing_permission_is_50013(scene: Scene, client: discord.Client) -> None:
    """Without MANAGE_ROLES the overwrite edit is refused with Discord's 403 body."""
    emu = scene.emu
    await emu.edit_role(
        scene.guild.id, emu.bot_role(scene.guild.id).id, permissions=BOT_DEFAULT & ~P.MANAGE_ROLES
    )
    channel = _guild(client, scene).get_channel(scene.text.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as error:
        await channel.set_permissions(channel.guild.default_role, send_messages=False)
    assert error.value.code == 50013
    assert error.value.text == "Missing Permissions"


async def test_overwrite_may_only_grant_held_permissions(
    scene: Scene, client: discord.Client
) -> None:
    """A bot with MANAGE_ROLES still cannot allow a permission it lacks (here ADMINISTRATOR)."""
    channel = _guild(client, scene).get_channel(scene.text.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden):
        await channel.set_permissions(channel.guild.default_role, administrator=True)
    await channel.set_permissions(channel.guild.default_role, send_messages=False)
    assert scene.emu.overwrites(channel.id)[scene.guild.id].deny == P.SEND_MESSAGES


async def test_sending_needs_send_messages(scene: Scene, client: discord.Client) -> None:
    """A channel denying SEND_MESSAGES to the bot role refuses its messages."""
    emu = scene.emu
    await emu.set_overwrite(scene.text.id, emu.bot_role(scene.guild.id).id, deny=P.SEND_MESSAGES)
    channel = client.get_channel(scene.text.id)
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.Forbidden) as error:
        await channel.send("hello")
    assert error.value.code == 50013


async def test_moving_needs_connect_in_target(scene: Scene, client: discord.Client) -> None:
    """The bot must be able to connect to the target channel to move someone there."""
    emu = scene.emu
    await emu.join_voice(scene.alice.id, scene.voice.id)
    await emu.set_overwrite(scene.other_voice.id, emu.bot_role(scene.guild.id).id, deny=P.CONNECT)
    guild = _guild(client, scene)
    alice = guild.get_member(scene.alice.id)
    assert alice is not None
    with pytest.raises(discord.Forbidden):
        await alice.move_to(guild.get_channel(scene.other_voice.id))  # type: ignore[arg-type]
    assert emu.voice_channel_of(scene.alice.id) == scene.voice.id


async def test_role_hierarchy(scene: Scene, client: discord.Client) -> None:
    """Roles at or above the bot's top role cannot be assigned."""
    emu = scene.emu
    above = await emu.create_role(
        scene.guild.id, "admins", position=emu.bot_role(scene.guild.id).position + 1
    )
    below = await emu.create_role(scene.guild.id, "members")
    guild = _guild(client, scene)
    alice = guild.get_member(scene.alice.id)
    assert alice is not None
    await alice.add_roles(discord.Object(below.id))
    assert below.id in emu.member(scene.guild.id, scene.alice.id).roles
    with pytest.raises(discord.Forbidden):
        await alice.add_roles(discord.Object(above.id))


async def test_member_without_connect_cannot_join(scene: Scene) -> None:
    """People, too, need VIEW_CHANNEL and CONNECT."""
    await scene.emu.set_overwrite(scene.voice.id, scene.guild.id, deny=P.CONNECT)
    with pytest.raises(EmulatorError, match="cannot connect"):
        await scene.emu.join_voice(scene.alice.id, scene.voice.id)


async def test_creating_channels_needs_manage_channels(
    scene: Scene, client: discord.Client
) -> None:
    """create_text_channel with overwrites works, and fails once MANAGE_CHANNELS is gone."""
    emu = scene.emu
    guild = _guild(client, scene)
    alice = guild.get_member(scene.alice.id)
    assert alice is not None
    created = await guild.create_text_channel(
        "private", overwrites={guild.default_role: discord.PermissionOverwrite(view_channel=False)}
    )
    assert emu.channel(created.id).overwrites == {
        guild.id: Overwrite(guild.id, 0, 0, int(P.VIEW_CHANNEL))
    }
    assert not emu.permissions_for(alice.id, created.id) & P.VIEW_CHANNEL
    await emu.edit_role(
        guild.id, emu.bot_role(guild.id).id, permissions=BOT_DEFAULT & ~P.MANAGE_CHANNELS
    )
    with pytest.raises(discord.Forbidden):
        await guild.create_voice_channel("nope")


async def test_overwrite_bits_are_judged_in_the_guild_not_the_text_channel(
    scene: Scene, client: discord.Client
) -> None:
    """Discord strips voice bits from a text channel, yet a bot holding CONNECT in the guild
    may still put CONNECT in a text channel's overwrite; a bit it lacks is refused."""
    guild = _guild(client, scene)
    channel = guild.get_channel(scene.text.id)
    alice = guild.get_member(scene.alice.id)
    assert isinstance(channel, discord.TextChannel)
    assert alice is not None
    await channel.set_permissions(alice, connect=False)
    assert scene.emu.overwrites(scene.text.id)[scene.alice.id].deny == P.CONNECT
    with pytest.raises(discord.Forbidden):
        await channel.set_permissions(alice, administrator=True)
