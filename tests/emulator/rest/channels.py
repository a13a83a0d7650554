"""Channels, permission overwrites, messages and threads (including forum posts)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from .. import payloads
from ..errors import ApiError, invalid_form, missing_permissions, thread_archived, unknown
from ..limits import check_overwrite_type, check_thread_name
from ..permissions import P
from ..state import Channel, ChannelType, Message, Overwrite
from ..world import snowflake
from . import Call, Routes

routes = Routes()

_GUILD_CHANNEL_FIELDS = (
    "name",
    "topic",
    "nsfw",
    "rate_limit_per_user",
    "bitrate",
    "user_limit",
    "position",
)


def _channel(call: Call) -> Channel:
    """The path's channel, 10003 if unknown or invisible to the bot (as Discord hides it)."""
    channel = call.world.state.channel(call.id("channel_id"))
    if (
        channel.guild_id is not None
        and call.world.bot_id not in call.world.state.guild(channel.guild_id).members
    ):
        raise unknown("channel")
    return channel


@routes("GET", "/channels/{channel_id}")
async def get_channel(call: Call) -> Any:
    """A channel the bot can see."""
    channel = _channel(call)
    call.world.require(channel, P.VIEW_CHANNEL)
    return payloads.channel(call.world.state, channel)


def parse_overwrites(raw: list[dict[str, Any]]) -> list[Overwrite]:
    """Overwrites from a request body (discord.py sends ids and bitfields as ints or strings)."""
    return [
        Overwrite(
            id=snowflake(o["id"]),
            type=check_overwrite_type(o.get("type"), f"permission_overwrites.{n}.type"),
            allow=int(o.get("allow") or 0),
            deny=int(o.get("deny") or 0),
        )
        for n, o in enumerate(raw)
    ]


@routes("PATCH", "/channels/{channel_id}")
async def edit_channel(call: Call) -> Any:
    """Edit a guild channel (MANAGE_CHANNELS, plus MANAGE_ROLES for overwrites) or a thread."""
    world, body, channel = call.world, call.json, _channel(call)
    if channel.is_thread:
        return await _edit_thread(call, channel, body)
    world.require(channel, P.MANAGE_CHANNELS)
    if "permission_overwrites" in body:
        new = parse_overwrites(body["permission_overwrites"] or [])
        for overwrite in new:
            world.check_overwrite_edit(channel, overwrite)
        channel.overwrites = {o.id: o for o in new}
    if "parent_id" in body:
        parent_id = body["parent_id"]
        channel.parent_id = None if parent_id is None else snowflake(parent_id)
    if "available_tags" in body and channel.type == ChannelType.FORUM:
        channel.available_tags = [
            {
                "id": str(t.get("id") or world.state.new_id()),
                "moderated": False,
                "emoji_id": None,
                "emoji_name": None,
                **{k: v for k, v in t.items() if k != "id"},
            }
            for t in body["available_tags"]
        ]
    if "flags" in body and channel.type == ChannelType.FORUM:
        channel.flags = int(body["flags"] or 0) & Channel.REQUIRE_TAG
    for field in _GUILD_CHANNEL_FIELDS:
        if field in body:
            setattr(channel, field, body[field])
    await world.channel_changed(channel)
    return payloads.channel(world.state, channel)


_CREATOR_FIELDS = frozenset({"name", "archived", "auto_archive_duration", "applied_tags"})
_ARCHIVE_DURATIONS = frozenset({60, 1440, 4320, 10080})


async def _edit_thread(call: Call, thread: Channel, body: dict[str, Any]) -> Any:
    """Discord's rules (docs, "Modify Channel" for threads, and Threads): an archived thread
    takes no edit unless the request unarchives it (50083); unarchiving needs SEND_MESSAGES,
    or MANAGE_THREADS when locked; name, archive state, duration and tags need MANAGE_THREADS
    or being the creator (and not locked); locking and slow mode need MANAGE_THREADS."""
    world = call.world
    perms = world.require(thread, 0)
    manage = bool(perms & P.MANAGE_THREADS)
    unarchive = body.get("archived") is False
    if thread.archived and not unarchive:
        raise thread_archived()
    if (
        unarchive
        and thread.archived
        and not (manage if thread.locked else perms & P.SEND_MESSAGES)
    ):
        raise missing_permissions()
    others = set(body) - {"archived"} if unarchive else set(body)
    creator = thread.owner_id == world.bot_id and not thread.locked
    if others and not manage and (not creator or others - _CREATOR_FIELDS):
        raise missing_permissions()
    if "name" in body:
        check_thread_name(body["name"])
    if "applied_tags" in body:
        parent = world.state.channels.get(thread.parent_id or 0)
        if parent is not None and parent.type == ChannelType.FORUM:
            thread.applied_tags = _forum_tags(parent, body["applied_tags"], manage)
    if "auto_archive_duration" in body:
        duration = int(body["auto_archive_duration"])
        if duration not in _ARCHIVE_DURATIONS:
            raise invalid_form(
                "auto_archive_duration", "Value must be one of (60, 1440, 4320, 10080)."
            )
        thread.auto_archive_duration = duration
        thread.active_at = thread.archive_timestamp = world.state.now()  # docs: activity
    for field in ("name", "locked", "rate_limit_per_user"):
        if field in body:
            setattr(thread, field, body[field])
    if "archived" in body and bool(body["archived"]) != thread.archived:
        await world.set_archived(thread, bool(body["archived"]))
    else:
        await world.channel_changed(thread)
    return payloads.channel(world.state, thread)


def _forum_tags(forum: Channel, raw: list[Any] | None, manage: bool) -> list[int]:
    """A post's tags: at most 5, the forum's own, moderated ones only with MANAGE_THREADS,
    and at least one when the forum has REQUIRE_TAG (40067)."""
    tags = [snowflake(t) for t in raw or []]
    if len(tags) > 5:
        raise invalid_form("applied_tags", "Must be 5 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    own = {int(t["id"]): t for t in forum.available_tags}
    for i, tag in enumerate(tags):
        if tag not in own:
            raise invalid_form(f"applied_tags.{i}", "Unknown tag for this channel.")
        if own[tag].get("moderated") and not manage:
            raise missing_permissions()
    if not tags and forum.flags & Channel.REQUIRE_TAG:
        raise ApiError(400, 40067, "A tag is required to create a forum post in this channel")
    return tags


@routes("DELETE", "/channels/{channel_id}")
async def delete_channel(call: Call) -> Any:
    """Delete a channel (MANAGE_CHANNELS) or thread (MANAGE_THREADS)."""
    channel = _channel(call)
    if channel.type == ChannelType.DM:
        return payloads.channel(call.world.state, channel)
    call.world.require(channel, P.MANAGE_THREADS if channel.is_thread else P.MANAGE_CHANNELS)
    data = payloads.channel(call.world.state, channel)
    await call.world.delete_channel(channel)
    return data


@routes("PUT", "/channels/{channel_id}/permissions/{target}")
async def put_overwrite(call: Call) -> Any:
    """Create/replace one overwrite; dispatches CHANNEL_UPDATE, answers 204."""
    world, channel = call.world, _channel(call)
    if channel.guild_id is None or channel.is_thread:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    body = call.json
    overwrite = Overwrite(
        id=call.id("target"),
        type=check_overwrite_type(body.get("type")),
        allow=int(body.get("allow") or 0),
        deny=int(body.get("deny") or 0),
    )
    guild = world.state.guild(channel.guild_id)
    if overwrite.type == 0 and overwrite.id not in guild.roles:
        raise unknown("role")
    if overwrite.type == 1 and overwrite.id not in guild.members:
        raise unknown("member")
    world.check_overwrite_edit(channel, overwrite)
    await world.set_overwrite(channel, overwrite)
    return None


@routes("DELETE", "/channels/{channel_id}/permissions/{target}")
async def delete_overwrite(call: Call) -> Any:
    """Remove one overwrite (MANAGE_ROLES); dispatches CHANNEL_UPDATE."""
    world, channel = call.world, _channel(call)
    world.require(channel, P.MANAGE_ROLES)
    if channel.overwrites.pop(call.id("target"), None) is not None:
        await world.channel_changed(channel)
    return None


# messages -------------------------------------------------------------------------


def _history_allowed(call: Call, channel: Channel) -> bool:
    perms = call.world.require(channel, 0)
    return bool(perms & P.READ_MESSAGE_HISTORY)


@routes("GET", "/channels/{channel_id}/messages")
async def list_messages(call: Call) -> Any:
    """Newest first, with before/after/around and limit 1-100."""
    channel = _channel(call)
    if not _history_allowed(call, channel):
        return []
    limit = call.query_int("limit", 50) or 50
    if not 1 <= limit <= 100:
        raise invalid_form("limit", "Must be between 1 and 100.")
    found = sorted(call.world.state.messages.get(channel.id, {}).values(), key=lambda m: m.id)
    before, after, around = (call.query_int(k) for k in ("before", "after", "around"))
    if around is not None:
        older = [m for m in found if m.id <= around][-(limit // 2 + 1) :]
        newer = [m for m in found if m.id > around][: limit - len(older)]
        found = older + newer
    elif after is not None:
        found = [m for m in found if m.id > after][:limit]
    else:
        found = [m for m in found if before is None or m.id < before][-limit:]
    return [payloads.message(call.world.state, m) for m in reversed(found)]


@routes("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_message(call: Call) -> Any:
    """One message (needs READ_MESSAGE_HISTORY)."""
    channel = _channel(call)
    if not _history_allowed(call, channel):
        raise missing_permissions()
    return payloads.message(
        call.world.state, call.world.state.message(channel.id, call.id("message_id"))
    )


@routes("POST", "/channels/{channel_id}/messages")
async def create_message(call: Call) -> Any:
    """Send a message (VIEW_CHANNEL + SEND_MESSAGES, ATTACH_FILES for files)."""
    world, channel = call.world, _channel(call)
    reference = call.json.get("message_reference")
    message = world.build_message(
        channel, world.bot_id, call.json, call.uploads, type=19 if reference else 0
    )
    world.check_can_post(channel, world.bot_id, message)
    return payloads.message(world.state, await world.post_message(message))


@routes("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(call: Call) -> Any:
    """Edit the bot's own message; others' only for flags with MANAGE_MESSAGES."""
    world, channel = call.world, _channel(call)
    message = world.state.message(channel.id, call.id("message_id"))
    if message.author_id != world.bot_id:
        if set(call.json) - {"flags"}:
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        world.require(channel, P.MANAGE_MESSAGES)
    perms = world.perms(world.bot_id, channel)
    if channel.is_thread:
        if channel.archived:  # docs, Threads: "Users cannot edit messages" in archived threads
            raise thread_archived()
        world.check_thread_writable(channel, perms)
    edited = dataclasses.replace(message)
    world.apply_message_body(edited, call.json, call.uploads)
    if "embeds" in call.json:
        world.check_embed_links(edited, perms, creating=False)
    vars(message).update(vars(edited))
    await world.message_edited(message)
    return payloads.message(world.state, message)


@routes("DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(call: Call) -> Any:
    """Delete own message, or anyone's with MANAGE_MESSAGES."""
    world, channel = call.world, _channel(call)
    message = world.state.message(channel.id, call.id("message_id"))
    if message.author_id != world.bot_id:
        if channel.guild_id is None:
            raise ApiError(403, 50003, "Cannot execute action on a DM channel")
        world.require(channel, P.MANAGE_MESSAGES)
    await world.delete_message(message)
    return None


@routes("POST", "/channels/{channel_id}/messages/bulk-delete")
async def bulk_delete(call: Call) -> Any:
    """2-100 messages younger than 14 days (MANAGE_MESSAGES); one MESSAGE_DELETE_BULK."""
    world, channel = call.world, _channel(call)
    world.require(channel, P.MANAGE_MESSAGES)
    ids = [snowflake(i) for i in call.json.get("messages", [])]
    if not 2 <= len(ids) <= 100:
        raise invalid_form("messages", "Must be between 2 and 100 in length.")
    stored = world.state.messages.get(channel.id, {})
    cutoff = world.state.now() - dt.timedelta(days=14)
    if any(stored[i].timestamp < cutoff for i in ids if i in stored):
        raise ApiError(400, 50034, "You can only bulk delete messages that are under 14 days old.")
    deleted = [str(i) for i in ids if stored.pop(i, None) is not None]
    data: dict[str, Any] = {"ids": deleted, "channel_id": str(channel.id)}
    if channel.guild_id is not None:
        data["guild_id"] = str(channel.guild_id)
    await world.gateway.dispatch("MESSAGE_DELETE_BULK", data)
    return None


@routes("POST", "/channels/{channel_id}/typing")
async def typing(call: Call) -> Any:
    """Typing indicator: only the permission check matters."""
    call.world.require(_channel(call), 0)
    return None


# threads ---------------------------------------------------------------------------


def _new_thread(
    call: Call, parent: Channel, body: dict[str, Any], thread_id: int, kind: int
) -> Channel:
    check_thread_name(body.get("name"))
    thread = Channel(
        id=thread_id,
        type=ChannelType(kind),
        name=str(body["name"]),
        guild_id=parent.guild_id,
        parent_id=parent.id,
        owner_id=call.world.bot_id,
        auto_archive_duration=int(
            body.get("auto_archive_duration") or parent.auto_archive_duration
        ),
        rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
        applied_tags=[snowflake(t) for t in body.get("applied_tags") or []],
    )
    call.world.state.channels[thread.id] = thread
    return thread


@routes("POST", "/channels/{channel_id}/threads")
async def create_thread(call: Call) -> Any:
    """A forum post (thread + starter message sharing its id) or a thread without a message."""
    world, parent, body = call.world, _channel(call), call.json
    if parent.type == ChannelType.FORUM:
        starter = body.get("message") or {}
        thread_id = world.state.new_id()
        probe = Channel(
            id=thread_id,
            type=ChannelType.PUBLIC_THREAD,
            name="",
            guild_id=parent.guild_id,
            parent_id=parent.id,
        )
        message = world.build_message(probe, world.bot_id, starter, call.uploads)
        message.id = thread_id
        perms = world.require(
            parent, P.SEND_MESSAGES | (P.ATTACH_FILES if message.attachments else 0)
        )
        world.check_embed_links(message, perms, creating=True)
        body = {
            **body,
            "applied_tags": _forum_tags(
                parent, body.get("applied_tags"), bool(perms & P.MANAGE_THREADS)
            ),
        }
        thread = _new_thread(call, parent, body, thread_id, ChannelType.PUBLIC_THREAD)
        await world.channel_changed(thread, created=True)
        await world.post_message(message)
        return {
            **payloads.channel(world.state, thread),
            "message": payloads.message(world.state, message),
        }
    if parent.type not in (ChannelType.TEXT, ChannelType.NEWS):
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    kind = int(body.get("type") or ChannelType.PRIVATE_THREAD)
    world.require(
        parent,
        P.CREATE_PUBLIC_THREADS if kind == ChannelType.PUBLIC_THREAD else P.CREATE_PRIVATE_THREADS,
    )
    thread = _new_thread(call, parent, body, world.state.new_id(), kind)
    await world.channel_changed(thread, created=True)
    return payloads.channel(world.state, thread)


@routes("POST", "/channels/{channel_id}/messages/{message_id}/threads")
async def thread_from_message(call: Call) -> Any:
    """A public thread whose id is the message's id."""
    world, parent = call.world, _channel(call)
    message: Message = world.state.message(parent.id, call.id("message_id"))
    world.require(parent, P.CREATE_PUBLIC_THREADS)
    if message.id in world.state.channels:
        raise ApiError(400, 160004, "A thread has already been created for this message")
    thread = _new_thread(call, parent, call.json, message.id, ChannelType.PUBLIC_THREAD)
    await world.channel_changed(thread, created=True)
    return payloads.channel(world.state, thread)
