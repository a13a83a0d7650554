"""Messages with files, forum posts, DMs, scheduled events: the bot's REST calls end to end."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator

import discord
import pytest

from tests.emulator.control import BOT_DEFAULT
from tests.emulator.permissions import P

from .conftest import Scene, bot_intents


@pytest.fixture
async def client(scene: Scene) -> AsyncIterator[discord.Client]:
    """A plain connected client."""
    client = discord.Client(intents=bot_intents())
    async with scene.emu.connected(client):
        yield client


def _get(client: discord.Client, channel_id: int) -> discord.abc.GuildChannel:
    channel = client.get_channel(channel_id)
    assert isinstance(channel, discord.abc.GuildChannel)
    return channel


async def test_message_with_file_edit_and_delete(scene: Scene, client: discord.Client) -> None:
    """Multipart upload is parsed; the attachment is downloadable; edits and deletes apply."""
    channel = _get(client, scene.text.id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("report", file=discord.File(io.BytesIO(b"BEGIN:VCALENDAR"), "g.ics"))
    assert sent.attachments[0].filename == "g.ics"
    assert await sent.attachments[0].read() == b"BEGIN:VCALENDAR"
    await sent.edit(content="report v2")
    (stored,) = scene.emu.messages(channel.id)
    assert stored.content == "report v2"
    assert stored.edited_timestamp is not None
    fetched = await channel.fetch_message(sent.id)
    assert fetched.content == "report v2"
    await sent.delete()
    assert scene.emu.messages(channel.id) == []
    with pytest.raises(discord.NotFound) as error:
        await channel.fetch_message(sent.id)
    assert error.value.code == 10008


async def test_bulk_delete(scene: Scene, client: discord.Client) -> None:
    """purge() uses bulk-delete for recent messages."""
    channel = _get(client, scene.text.id)
    assert isinstance(channel, discord.TextChannel)
    for index in range(3):
        await channel.send(str(index))
    deleted = await channel.purge(limit=10)
    assert len(deleted) == 3
    assert scene.emu.requests("POST", "/channels/{channel_id}/messages/bulk-delete")
    assert scene.emu.messages(channel.id) == []


async def test_forum_post_and_thread_rules(scene: Scene, client: discord.Client) -> None:
    """A forum post creates a thread whose starter message shares its id; archiving works."""
    forum = _get(client, scene.forum.id)
    assert isinstance(forum, discord.ForumChannel)
    tag = forum.available_tags[0]
    post = await forum.create_thread(name="Case 1", content="What happened", applied_tags=[tag])
    assert post.thread.id == post.message.id
    assert scene.emu.channel(post.thread.id).applied_tags == [tag.id]
    assert [m.content for m in scene.emu.messages(post.thread.id)] == ["What happened"]
    await post.thread.send("reply")
    edited = await post.thread.edit(archived=True, locked=True)
    assert edited.archived
    assert edited.locked
    assert scene.emu.channel(post.thread.id).archived


async def test_dm_and_closed_dms(scene: Scene, client: discord.Client) -> None:
    """DMs reach the user; a user with closed DMs gives 50007."""
    alice = await client.fetch_user(scene.alice.id)
    await alice.send("hello")
    assert [m.content for m in scene.emu.dms(scene.alice.id)] == ["hello"]
    await scene.emu.set_dms_open(scene.bob.id, False)
    bob = await client.fetch_user(scene.bob.id)
    with pytest.raises(discord.Forbidden) as error:
        await bob.send("hello")
    assert error.value.code == 50007


async def test_scheduled_event_lifecycle(scene: Scene, client: discord.Client) -> None:
    """Create a voice event, start and complete it; subscribers are listed."""
    guild = client.get_guild(scene.guild.id)
    voice = _get(client, scene.voice.id)
    assert guild is not None
    assert isinstance(voice, discord.VoiceChannel)
    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    event = await guild.create_scheduled_event(
        name="Balint group",
        start_time=start,
        channel=voice,
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    await scene.emu.subscribe_event(scene.alice.id, guild.id, event.id)
    users = [u.id async for u in event.users()]
    assert users == [scene.alice.id]
    started = await event.start()
    await started.end()
    (stored,) = scene.emu.scheduled_events(guild.id)
    assert stored.status == 3
    with pytest.raises(discord.HTTPException) as error:
        await event.edit(status=discord.EventStatus.active)
    assert error.value.code == 180000


async def test_scheduled_event_rules(scene: Scene, client: discord.Client) -> None:
    """Past start times are refused; without CREATE/MANAGE_EVENTS the bot gets 50013."""
    guild = client.get_guild(scene.guild.id)
    voice = _get(client, scene.voice.id)
    assert guild is not None
    assert isinstance(voice, discord.VoiceChannel)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    with pytest.raises(discord.HTTPException) as error:
        await guild.create_scheduled_event(
            name="late",
            start_time=past,
            channel=voice,
            privacy_level=discord.PrivacyLevel.guild_only,
        )
    assert error.value.code == 50035
    bot_role = scene.emu.bot_role(guild.id)
    await scene.emu.edit_role(
        guild.id, bot_role.id, permissions=BOT_DEFAULT & ~(P.CREATE_EVENTS | P.MANAGE_EVENTS)
    )
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with pytest.raises(discord.Forbidden):
        await guild.create_scheduled_event(
            name="x",
            start_time=future,
            channel=voice,
            privacy_level=discord.PrivacyLevel.guild_only,
        )


async def test_unknown_ids_give_discord_errors(scene: Scene, client: discord.Client) -> None:
    """Unknown channel, member and role ids answer Discord's 404 codes."""
    with pytest.raises(discord.NotFound) as channel_error:
        await client.fetch_channel(123)
    assert channel_error.value.code == 10003
    guild = client.get_guild(scene.guild.id)
    assert guild is not None
    with pytest.raises(discord.NotFound) as member_error:
        await guild.fetch_member(123)
    assert member_error.value.code == 10007
    with pytest.raises(discord.NotFound) as role_error:
        await guild.get_member(scene.alice.id).add_roles(discord.Object(123))  # type: ignore[union-attr]
    assert role_error.value.code == 10011
