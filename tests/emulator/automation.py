"""What Discord does to scheduled events on its own as time passes ("Guild Scheduled Event
Status Update Automation" in resources/guild-scheduled-event.mdx).

- An ACTIVE voice or stage event whose channel has had nobody in it for a few minutes
  is set COMPLETED.
- An EXTERNAL event starts (ACTIVE) at its start time and ends (COMPLETED) at its end.
- A SCHEDULED event not started a few hours after its start time is set CANCELED.

Each change is sent as GUILD_SCHEDULED_EVENT_UPDATE. Time is the emulator's "now" (the
test clock in e2e), so the rules run whenever Discord is looked at: before each REST
request is handled and in :meth:`Emulator.settle`; the emptiness of a channel is noted
the moment its last member leaves (:func:`note_voice`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from . import payloads
from .state import Guild, ScheduledEvent, State

if TYPE_CHECKING:
    from .world import World

STAGE, VOICE, EXTERNAL = 1, 2, 3
SCHEDULED, ACTIVE, COMPLETED, CANCELED = 1, 2, 3, 4

# "On the order of minutes" and "on the order of hours": the short end of each, so a
# bot that leans on the event lasting is caught.
EMPTY_FOR = dt.timedelta(minutes=3)
MISSED_START = dt.timedelta(hours=1)


def _moment(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def note_voice(state: State, guild: Guild) -> None:
    """After a voice change or an event starting: remember since when each active voice or
    stage event's channel has been empty."""
    occupied = {v.channel_id for v in guild.voice_states.values()}
    for event in guild.events.values():
        if event.status != ACTIVE or event.entity_type == EXTERNAL:
            continue
        if event.channel_id in occupied:
            event.empty_since = None
        elif event.empty_since is None:
            event.empty_since = state.now()


def _due(event: ScheduledEvent, now: dt.datetime) -> int | None:
    """The status Discord would give the event by now, if it changes."""
    start, end = _moment(event.scheduled_start_time), _moment(event.scheduled_end_time)
    if event.status == SCHEDULED:
        if event.entity_type == EXTERNAL and start is not None and now >= start:
            return ACTIVE
        if start is not None and now >= start + MISSED_START:
            return CANCELED
    elif event.status == ACTIVE:
        if event.entity_type == EXTERNAL:
            return COMPLETED if end is not None and now >= end else None
        if event.empty_since is not None and now >= event.empty_since + EMPTY_FOR:
            return COMPLETED
    return None


async def run(world: World) -> None:
    """Apply every transition that is due, each with its GUILD_SCHEDULED_EVENT_UPDATE."""
    now = world.state.now()
    for guild in list(world.state.guilds.values()):
        for event in list(guild.events.values()):
            while (status := _due(event, now)) is not None:
                event.status = status
                await world.gateway.dispatch(
                    "GUILD_SCHEDULED_EVENT_UPDATE", payloads.scheduled_event(world.state, event)
                )
