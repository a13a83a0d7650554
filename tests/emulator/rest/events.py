"""Guild scheduled events, with Discord's validation and status transitions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import automation, payloads
from ..automation import ACTIVE, CANCELED, COMPLETED, EXTERNAL, SCHEDULED, STAGE, VOICE
from ..errors import ApiError, invalid_form, missing_permissions
from ..limits import check_event_text
from ..permissions import P
from ..state import ChannelType, Guild, ScheduledEvent
from ..world import snowflake
from . import Call, Routes
from .guilds import bot_guild

routes = Routes()

_TRANSITIONS = {SCHEDULED: {SCHEDULED, ACTIVE, CANCELED}, ACTIVE: {ACTIVE, COMPLETED}}
MAX_UNFINISHED = 100


def _time(value: str, field: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise invalid_form(field, "Could not interpret as a date", "DATE_TIME_TYPE_PARSE") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment


def _check_permission(
    call: Call, guild: Guild, event: ScheduledEvent | None, channel_id: int | None
) -> None:
    """CREATE_EVENTS (own events) or MANAGE_EVENTS; voice/stage also VIEW_CHANNEL and CONNECT."""
    world = call.world
    own = event is None or event.creator_id == world.bot_id
    if channel_id is not None:
        perms = world.require(world.state.channel(channel_id), P.CONNECT)
    else:
        perms = world.guild_perms(guild, world.bot_id)
    if not (perms & P.MANAGE_EVENTS or (own and perms & P.CREATE_EVENTS)):
        raise missing_permissions()


def _validate(call: Call, guild: Guild, event: ScheduledEvent, *, creating: bool) -> None:
    """Entity/channel consistency and times, as Discord enforces them."""
    start = _time(event.scheduled_start_time, "scheduled_start_time")
    if creating and start < call.world.state.now():
        raise invalid_form(
            "scheduled_start_time",
            "Cannot schedule event in the past.",
            "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
        )
    end = event.scheduled_end_time
    if end is not None and _time(end, "scheduled_end_time") <= start:
        raise invalid_form(
            "scheduled_end_time",
            "Cannot schedule event to end before starting.",
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
        )
    if event.entity_type == EXTERNAL:
        if event.channel_id is not None or not event.location or event.scheduled_end_time is None:
            raise invalid_form(
                "entity_metadata", "External events need a location and an end time."
            )
        return
    if event.entity_type not in (STAGE, VOICE) or event.channel_id is None:
        raise invalid_form("channel_id", "This field is required", "BASE_TYPE_REQUIRED")
    channel = call.world.state.channel(event.channel_id)
    wanted = ChannelType.STAGE if event.entity_type == STAGE else ChannelType.VOICE
    if channel.type != wanted or channel.guild_id != guild.id:
        raise invalid_form("channel_id", "Channel type does not match the entity type.")


def _apply(event: ScheduledEvent, body: dict[str, Any]) -> None:
    for field in (
        "name",
        "description",
        "scheduled_start_time",
        "scheduled_end_time",
        "privacy_level",
        "entity_type",
        "image",
    ):
        if field in body:
            setattr(event, field, body[field])
    if "channel_id" in body:
        event.channel_id = None if body["channel_id"] is None else snowflake(body["channel_id"])
    if "entity_metadata" in body:
        event.location = (body["entity_metadata"] or {}).get("location")


def _visible(call: Call, event: ScheduledEvent) -> bool:
    """An event in a channel is seen only with VIEW_CHANNEL there ("Get Permissions")."""
    if event.channel_id is None or event.channel_id not in call.world.state.channels:
        return True
    channel = call.world.state.channels[event.channel_id]
    return bool(call.world.perms(call.world.bot_id, channel) & P.VIEW_CHANNEL)


@routes("GET", "/guilds/{guild_id}/scheduled-events")
async def list_events(call: Call) -> Any:
    """The guild's events the bot may see: those in channels it cannot view are left out."""
    guild = bot_guild(call)
    count = call.query_flag("with_user_count")
    return [
        payloads.scheduled_event(call.world.state, e, with_count=count)
        for e in guild.events.values()
        if _visible(call, e)
    ]


@routes("POST", "/guilds/{guild_id}/scheduled-events")
async def create_event(call: Call) -> Any:
    """Create an event (at most 100 unfinished per guild)."""
    world, guild, body = call.world, bot_guild(call), call.json
    if not body.get("name") or "scheduled_start_time" not in body:
        raise invalid_form("name", "This field is required", "BASE_TYPE_REQUIRED")
    check_event_text(body)
    event = ScheduledEvent(
        id=world.state.new_id(),
        guild_id=guild.id,
        creator_id=world.bot_id,
        name=str(body["name"]),
        scheduled_start_time=str(body["scheduled_start_time"]),
        entity_type=int(body.get("entity_type") or 0),
    )
    _apply(event, body)
    _check_permission(call, guild, None, event.channel_id)
    _validate(call, guild, event, creating=True)
    if sum(e.status in (SCHEDULED, ACTIVE) for e in guild.events.values()) >= MAX_UNFINISHED:
        raise ApiError(
            400, 30038, "Maximum number of uncompleted guild scheduled events reached (100)"
        )
    guild.events[event.id] = event
    data = payloads.scheduled_event(world.state, event)
    await world.gateway.dispatch("GUILD_SCHEDULED_EVENT_CREATE", data)
    return data


@routes("GET", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def get_event(call: Call) -> Any:
    """One event (VIEW_CHANNEL in its channel, if it has one)."""
    guild = bot_guild(call)
    event = call.world.state.event(guild.id, call.id("guild_scheduled_event_id"))
    if event.channel_id is not None:
        call.world.require(call.world.state.channel(event.channel_id), P.VIEW_CHANNEL)
    return payloads.scheduled_event(
        call.world.state, event, with_count=call.query_flag("with_user_count")
    )


@routes("PATCH", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def edit_event(call: Call) -> Any:
    """Edit or change status (scheduled → active/canceled, active → completed)."""
    world, guild, body = call.world, bot_guild(call), call.json
    event = world.state.event(guild.id, call.id("guild_scheduled_event_id"))
    _check_permission(call, guild, event, event.channel_id)
    if event.status not in _TRANSITIONS:
        raise ApiError(400, 180000, "Cannot modify a finished event")
    status = int(body.get("status", event.status))
    if status not in _TRANSITIONS[event.status]:
        raise invalid_form(
            "status",
            "Invalid Guild Scheduled Event Status Transition",
            "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION",
        )
    if body.get("entity_type") == EXTERNAL:
        body = {**body, "channel_id": None}
    check_event_text(body)
    _apply(event, body)
    if "channel_id" in body and event.channel_id is not None:
        _check_permission(call, guild, event, event.channel_id)
    _validate(call, guild, event, creating=False)
    event.status = status
    automation.note_voice(world.state, guild)  # an event started in an empty channel
    data = payloads.scheduled_event(world.state, event)
    await world.gateway.dispatch("GUILD_SCHEDULED_EVENT_UPDATE", data)
    return data


@routes("DELETE", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}")
async def delete_event(call: Call) -> Any:
    """Delete an event."""
    world, guild = call.world, bot_guild(call)
    event = world.state.event(guild.id, call.id("guild_scheduled_event_id"))
    _check_permission(call, guild, event, event.channel_id)
    del guild.events[event.id]
    await world.gateway.dispatch(
        "GUILD_SCHEDULED_EVENT_DELETE", payloads.scheduled_event(world.state, event)
    )
    return None


@routes("GET", "/guilds/{guild_id}/scheduled-events/{guild_scheduled_event_id}/users")
async def event_users(call: Call) -> Any:
    """Subscribers ("Interested"), by user id with before/after/limit (max 100)."""
    world, guild = call.world, bot_guild(call)
    event = world.state.event(guild.id, call.id("guild_scheduled_event_id"))
    limit = min(call.query_int("limit", 100) or 100, 100)
    before, after = call.query_int("before"), call.query_int("after")
    ids = sorted(
        u
        for u in event.subscriber_ids
        if (before is None or u < before) and (after is None or u > after)
    )
    ids = ids[-limit:] if before is not None else ids[:limit]
    with_member = call.query_flag("with_member")
    users = []
    for user_id in ids:
        entry: dict[str, Any] = {
            "guild_scheduled_event_id": str(event.id),
            "user": payloads.user(world.state.users[user_id]),
        }
        if with_member and user_id in guild.members:
            entry["member"] = payloads.member(world.state, guild.members[user_id], with_user=False)
        users.append(entry)
    return users
