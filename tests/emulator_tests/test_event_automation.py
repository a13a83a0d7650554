"""Scheduled events change on Discord's own as time passes, and events in channels the bot
cannot view are hidden from it."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import discord
import pytest

from tests.emulator.automation import EMPTY_FOR, MISSED_START
from tests.emulator.permissions import P

from .conftest import Clock, Scene, bot_intents

SCHEDULED, ACTIVE, COMPLETED, CANCELED = 1, 2, 3, 4


class Watcher(discord.Client):
    """Records the GUILD_SCHEDULED_EVENT_UPDATEs it receives."""

    def __init__(self) -> None:
        super().__init__(intents=bot_intents())
        self.updates: list[tuple[int, discord.EventStatus]] = []

    async def on_scheduled_event_update(
        self, before: discord.ScheduledEvent, after: discord.ScheduledEvent
    ) -> None:
        self.updates.append((after.id, after.status))


@pytest.fixture
async def client(scene: Scene, clock: Clock) -> AsyncIterator[Watcher]:
    client = Watcher()
    async with scene.emu.connected(client):
        yield client


async def _voice_event(
    client: discord.Client, scene: Scene, clock: Clock, *, channel_id: int | None = None
) -> discord.ScheduledEvent:
    guild = client.get_guild(scene.guild.id)
    voice = client.get_channel(channel_id or scene.voice.id)
    assert guild is not None
    assert isinstance(voice, discord.VoiceChannel)
    return await guild.create_scheduled_event(
        name="Balint group",
        start_time=clock.now + dt.timedelta(minutes=10),
        channel=voice,
        privacy_level=discord.PrivacyLevel.guild_only,
    )


async def test_active_voice_event_completes_minutes_after_its_channel_empties(
    scene: Scene, client: Watcher, clock: Clock
) -> None:
    """Started with people in the room: it lives while anyone stays; once the last one has
    left, a few minutes later Discord completes it and says so on the gateway."""
    emu = scene.emu
    event = await _voice_event(client, scene, clock)
    await emu.join_voice(scene.alice.id, scene.voice.id)
    await event.start()
    clock.now += EMPTY_FOR * 3
    await emu.settle(client)
    assert emu.state.event(scene.guild.id, event.id).status == ACTIVE  # Alice is there
    await emu.leave_voice(scene.alice.id)
    clock.now += EMPTY_FOR - dt.timedelta(seconds=1)
    await emu.settle(client)
    assert emu.state.event(scene.guild.id, event.id).status == ACTIVE
    await emu.join_voice(scene.bob.id, scene.voice.id)  # back in time: the count restarts
    await emu.leave_voice(scene.bob.id)
    clock.now += EMPTY_FOR - dt.timedelta(seconds=1)
    await emu.settle(client)
    assert emu.state.event(scene.guild.id, event.id).status == ACTIVE
    clock.now += dt.timedelta(seconds=1)
    await emu.settle(client)
    assert emu.state.event(scene.guild.id, event.id).status == COMPLETED
    assert client.updates[-1] == (event.id, discord.EventStatus.completed)
    with pytest.raises(discord.HTTPException) as error:
        await event.edit(name="renamed")
    assert error.value.code == 180000


async def test_event_started_in_an_empty_room_completes_by_itself(
    scene: Scene, client: Watcher, clock: Clock
) -> None:
    """Nobody ever came: the minutes count from the start; a REST call sees it ended."""
    event = await _voice_event(client, scene, clock)
    await event.start()
    clock.now += EMPTY_FOR
    fetched = await client.get_guild(scene.guild.id).fetch_scheduled_event(event.id)  # type: ignore[union-attr]
    assert fetched.status == discord.EventStatus.completed


async def test_event_not_started_is_cancelled_hours_after_its_start_time(
    scene: Scene, client: Watcher, clock: Clock
) -> None:
    """Still SCHEDULED well after its start time: Discord cancels it; starting it fails."""
    emu = scene.emu
    event = await _voice_event(client, scene, clock)
    clock.now += dt.timedelta(minutes=10) + MISSED_START - dt.timedelta(seconds=1)
    await emu.settle(client)
    assert emu.state.event(scene.guild.id, event.id).status == SCHEDULED
    clock.now += dt.timedelta(seconds=1)
    await emu.settle(client)
    assert emu.state.event(scene.guild.id, event.id).status == CANCELED
    assert client.updates == [(event.id, discord.EventStatus.cancelled)]
    with pytest.raises(discord.HTTPException) as error:
        await event.start()
    assert error.value.code == 180000


async def test_external_event_starts_and_ends_at_its_times(
    scene: Scene, client: Watcher, clock: Clock
) -> None:
    """An external event goes ACTIVE at its start and COMPLETED at its end."""
    guild = client.get_guild(scene.guild.id)
    assert guild is not None
    start = clock.now + dt.timedelta(minutes=10)
    event = await guild.create_scheduled_event(
        name="Conference",
        start_time=start,
        end_time=start + dt.timedelta(hours=1),
        location="Dubbo",
        entity_type=discord.EntityType.external,
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    clock.now = start
    await scene.emu.settle(client)
    assert scene.emu.state.event(guild.id, event.id).status == ACTIVE
    clock.now = start + dt.timedelta(hours=1)
    await scene.emu.settle(client)
    assert scene.emu.state.event(guild.id, event.id).status == COMPLETED
    assert [s for _, s in client.updates] == [
        discord.EventStatus.active,
        discord.EventStatus.completed,
    ]


async def test_events_in_channels_the_bot_cannot_view_are_hidden(
    scene: Scene, client: Watcher, clock: Clock
) -> None:
    """Listing leaves out an event whose channel the bot cannot view; fetching it is 50001."""
    emu = scene.emu
    seen = await _voice_event(client, scene, clock)
    hidden = await _voice_event(client, scene, clock, channel_id=scene.other_voice.id)
    await emu.set_overwrite(scene.other_voice.id, emu.bot_id, deny=P.VIEW_CHANNEL)
    guild = client.get_guild(scene.guild.id)
    assert guild is not None
    listed = await guild.fetch_scheduled_events()
    assert [e.id for e in listed] == [seen.id]
    assert {e.id for e in emu.scheduled_events(guild.id)} == {seen.id, hidden.id}
    with pytest.raises(discord.Forbidden) as error:
        await guild.fetch_scheduled_event(hidden.id)
    assert error.value.code == 50001
