"""Archived threads as Discord documents them: auto-archive after inactivity, no edits while
archived (50083), unarchiving by a message or PATCH ``archived: false``, locked threads."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import discord
import pytest

from tests.emulator.permissions import P
from tests.emulator.state import Overwrite

from .conftest import Clock, Scene, bot_intents


@pytest.fixture
async def client(scene: Scene, clock: Clock) -> AsyncIterator[discord.Client]:
    client = discord.Client(intents=bot_intents())
    async with scene.emu.connected(client):
        yield client


async def _post(client: discord.Client, scene: Scene) -> discord.Message:
    """A forum post by the bot (auto_archive_duration 60 minutes) and its starter message."""
    forum = client.get_channel(scene.forum.id)
    assert isinstance(forum, discord.ForumChannel)
    created = await forum.create_thread(
        name="case", content="starter", auto_archive_duration=60
    )
    await scene.emu.settle(client)
    return created.message


async def test_an_idle_post_archives_and_refuses_edits(
    scene: Scene, client: discord.Client, clock: Clock
) -> None:
    """After auto_archive_duration minutes without activity the post is archived (THREAD_UPDATE
    reaches the client); editing a message in it is 400 50083 and changes nothing."""
    starter = await _post(client, scene)
    thread = scene.emu.channel(starter.channel.id)
    assert client.get_channel(thread.id) is not None
    clock.now += dt.timedelta(minutes=59)
    assert await scene.emu.archive_idle_threads() == []
    clock.now += dt.timedelta(minutes=1)
    with pytest.raises(discord.HTTPException) as error:
        await starter.edit(content="changed")
    assert (error.value.status, error.value.code) == (400, 50083)
    assert thread.archived
    assert thread.archive_timestamp == clock.now
    assert scene.emu.messages(thread.id)[0].content == "starter"
    await scene.emu.settle(client)
    assert client.get_channel(thread.id) is None  # discord.py forgets archived threads


async def test_a_message_is_activity_and_unarchives(
    scene: Scene, client: discord.Client, clock: Clock
) -> None:
    """Sending keeps a post active; sending in an archived post unarchives it (docs: "The API
    will helpfully automatically unarchive a thread when sending a message")."""
    starter = await _post(client, scene)
    thread = scene.emu.channel(starter.channel.id)
    clock.now += dt.timedelta(minutes=50)
    await starter.channel.send("still talking")
    clock.now += dt.timedelta(minutes=50)
    assert await scene.emu.archive_idle_threads() == []
    clock.now += dt.timedelta(minutes=10)
    assert await scene.emu.archive_idle_threads() == [thread]
    await starter.channel.send("back again")
    assert not thread.archived
    await starter.edit(content="editable again")
    assert scene.emu.messages(thread.id)[0].content == "editable again"


async def test_unarchiving_by_patch(scene: Scene, client: discord.Client, clock: Clock) -> None:
    """An archived post takes no other edit (50083) until a PATCH sets archived false, which
    needs SEND_MESSAGES when not locked."""
    starter = await _post(client, scene)
    thread_id = starter.channel.id
    clock.now += dt.timedelta(hours=2)
    await scene.emu.archive_idle_threads()
    with pytest.raises(discord.HTTPException) as error:
        await client.http.edit_channel(thread_id, name="renamed")
    assert error.value.code == 50083
    await scene.emu.set_overwrite(
        scene.forum.id, scene.emu.bot_role(scene.guild.id).id, deny=P.SEND_MESSAGES
    )
    with pytest.raises(discord.Forbidden):
        await client.http.edit_channel(thread_id, archived=False)
    await scene.emu.set_overwrite(scene.forum.id, scene.emu.bot_role(scene.guild.id).id)
    await client.http.edit_channel(thread_id, archived=False, name="renamed")
    thread = scene.emu.channel(thread_id)
    assert not thread.archived
    assert thread.name == "renamed"
    assert thread.archive_timestamp == clock.now == thread.active_at


async def test_locked_threads(scene: Scene, client: discord.Client, clock: Clock) -> None:
    """A locked, archived post is not unarchived by a message (50083); only MANAGE_THREADS
    unarchives it; a locked active post refuses messages without MANAGE_THREADS (160005)."""
    starter = await _post(client, scene)
    thread = scene.emu.channel(starter.channel.id)
    await client.http.edit_channel(thread.id, locked=True)
    clock.now += dt.timedelta(hours=2)
    await scene.emu.archive_idle_threads()
    with pytest.raises(discord.HTTPException) as error:
        await starter.channel.send("hello")
    assert error.value.code == 50083
    assert thread.archived
    role = scene.emu.bot_role(scene.guild.id).id
    scene.emu.channel(scene.forum.id).overwrites[role] = Overwrite(role, 0, deny=P.MANAGE_THREADS)
    with pytest.raises(discord.Forbidden):
        await client.http.edit_channel(thread.id, archived=False)
    scene.emu.channel(scene.forum.id).overwrites.pop(role)
    await client.http.edit_channel(thread.id, archived=False)
    scene.emu.channel(scene.forum.id).overwrites[role] = Overwrite(role, 0, deny=P.MANAGE_THREADS)
    with pytest.raises(discord.HTTPException) as error:
        await starter.channel.send("hello")
    assert error.value.code == 160005
