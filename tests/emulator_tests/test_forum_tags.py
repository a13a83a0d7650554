"""Forum tags as Discord enforces them: REQUIRE_TAG (40067 without ``applied_tags``), only the
forum's own tags, at most 5, moderated tags need MANAGE_THREADS, editing tags needs
MANAGE_CHANNELS."""

from __future__ import annotations

from collections.abc import AsyncIterator

import discord
import pytest

from tests.emulator.control import BOT_DEFAULT
from tests.emulator.permissions import P
from tests.emulator.state import Channel, ChannelType

from .conftest import Scene, bot_intents

TAGS = ["case", "a", "b", "c", "d", "e"]


@pytest.fixture
async def forum(scene: Scene) -> AsyncIterator[discord.ForumChannel]:
    required = await scene.emu.create_channel(
        scene.guild.id, "required", ChannelType.FORUM, available_tags=TAGS,
        flags=Channel.REQUIRE_TAG,
    )
    client = discord.Client(intents=bot_intents())
    async with scene.emu.connected(client):
        channel = client.get_channel(required.id)
        assert isinstance(channel, discord.ForumChannel)
        yield channel


async def test_a_post_needs_a_tag_of_the_forum(
    scene: Scene, forum: discord.ForumChannel
) -> None:
    assert forum.flags.require_tag
    with pytest.raises(discord.HTTPException) as error:
        await forum.create_thread(name="untagged", content="x")
    assert (error.value.status, error.value.code) == (400, 40067)
    foreign = discord.ForumTag(name="open")  # a tag of another forum
    foreign.id = int(scene.forum.available_tags[0]["id"])
    with pytest.raises(discord.HTTPException) as error:
        await forum.create_thread(name="foreign", content="x", applied_tags=[foreign])
    assert (error.value.code, "applied_tags.0" in error.value.text) == (50035, True)
    with pytest.raises(discord.HTTPException) as error:
        await forum.create_thread(name="six", content="x", applied_tags=forum.available_tags)
    assert (error.value.code, "applied_tags" in error.value.text) == (50035, True)
    assert scene.emu.state.threads(scene.guild.id) == []
    case = forum.available_tags[0]
    created = await forum.create_thread(name="tagged", content="x", applied_tags=[case])
    assert scene.emu.channel(created.thread.id).applied_tags == [case.id]


async def test_moderated_tags_and_editing_tags(scene: Scene, forum: discord.ForumChannel) -> None:
    """Adding a tag edits the forum (MANAGE_CHANNELS); a moderated tag needs MANAGE_THREADS."""
    edited = await forum.create_tag(name="closed", moderated=True)
    assert [t["name"] for t in scene.emu.channel(forum.id).available_tags][-1] == "closed"
    await scene.emu.edit_role(
        scene.guild.id, scene.emu.bot_role(scene.guild.id).id,
        permissions=BOT_DEFAULT & ~P.MANAGE_THREADS & ~P.MANAGE_CHANNELS,
    )
    with pytest.raises(discord.Forbidden):
        await forum.create_thread(name="closed", content="x", applied_tags=[edited])
    with pytest.raises(discord.Forbidden):
        await forum.create_tag(name="another")
