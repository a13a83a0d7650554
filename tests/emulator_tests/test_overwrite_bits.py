"""The MANAGE_ROLES ("Manage Permissions") bit in an overwrite may be set only by an
administrator or by someone whose MANAGE_ROLES in the channel comes from an overwrite
(Discord changelog, 22 January 2021; discord-api-docs #2522)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from tests.emulator.control import BOT_DEFAULT
from tests.emulator.permissions import P

from .conftest import Scene, bot_intents


@pytest.fixture
async def client(scene: Scene) -> AsyncIterator[discord.Client]:
    client = discord.Client(intents=bot_intents())
    async with scene.emu.connected(client):
        yield client


def _text(client: discord.Client, scene: Scene) -> tuple[discord.Guild, discord.TextChannel]:
    guild = client.get_guild(scene.guild.id)
    text = client.get_channel(scene.text.id)
    assert guild is not None
    assert isinstance(text, discord.TextChannel)
    return guild, text


async def test_guild_manage_roles_cannot_set_the_manage_roles_bit(
    scene: Scene, client: discord.Client
) -> None:
    """Holding MANAGE_ROLES in the guild is not enough, to allow or to deny the bit; other
    bits it holds are fine."""
    emu = scene.emu
    assert BOT_DEFAULT & P.MANAGE_ROLES
    assert not BOT_DEFAULT & P.ADMINISTRATOR
    guild, text = _text(client, scene)
    alice = guild.get_member(scene.alice.id)
    assert alice is not None
    for overwrite in (
        discord.PermissionOverwrite(manage_permissions=True),
        discord.PermissionOverwrite(manage_permissions=False),
    ):
        with pytest.raises(discord.Forbidden) as error:
            await text.set_permissions(alice, overwrite=overwrite)
        assert error.value.code == 50013
    assert scene.alice.id not in emu.overwrites(text.id)
    with pytest.raises(discord.Forbidden):
        await guild.create_text_channel(
            "mods", overwrites={alice: discord.PermissionOverwrite(manage_permissions=True)}
        )
    await text.set_permissions(alice, send_messages=False)
    assert emu.overwrites(text.id)[alice.id].deny == P.SEND_MESSAGES


async def test_a_manage_roles_overwrite_or_administrator_may_set_it(
    scene: Scene, client: discord.Client
) -> None:
    """With its own MANAGE_ROLES overwrite in the channel the bot may; so may an admin. An
    overwrite that keeps a bit someone else set is not setting it."""
    emu = scene.emu
    guild, text = _text(client, scene)
    alice, bob = guild.get_member(scene.alice.id), guild.get_member(scene.bob.id)
    assert alice is not None
    assert bob is not None
    await emu.set_overwrite(text.id, scene.bob.id, allow=P.MANAGE_ROLES)  # by an admin
    await emu.settle(client)
    await text.set_permissions(bob, manage_permissions=True, send_messages=False)
    assert emu.overwrites(text.id)[bob.id].deny == P.SEND_MESSAGES
    await emu.set_overwrite(text.id, emu.bot_id, allow=P.MANAGE_ROLES)
    await emu.settle(client)
    await text.set_permissions(alice, manage_permissions=True)
    assert emu.overwrites(text.id)[alice.id].allow == P.MANAGE_ROLES
    await emu.edit_role(guild.id, emu.bot_role(guild.id).id, permissions=P.ADMINISTRATOR)
    await emu.settle(client)
    created = await guild.create_text_channel(
        "mods", overwrites={alice: discord.PermissionOverwrite(manage_permissions=True)}
    )
    assert emu.overwrites(created.id)[alice.id].allow == P.MANAGE_ROLES
