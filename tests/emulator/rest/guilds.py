"""Guilds, their channels, members (moves, mutes, roles), roles and voice states."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import payloads
from ..errors import ApiError, invalid_form, missing_access, missing_permissions
from ..limits import check_manage_roles_bit
from ..permissions import ALL, P, has
from ..state import Channel, ChannelType, Guild, Member, Role
from ..world import snowflake
from . import Call, Routes
from .channels import parse_overwrites

routes = Routes()

NOT_IN_VOICE = ApiError(400, 40032, "Target user is not connected to voice.")


def bot_guild(call: Call) -> Guild:
    """The path's guild; a guild the bot is not in is 'Missing Access' as on Discord."""
    guild = call.world.state.guild(call.id("guild_id"))
    if call.world.bot_id not in guild.members:
        raise missing_access()
    return guild


@routes("GET", "/guilds/{guild_id}")
async def get_guild(call: Call) -> Any:
    """The guild object."""
    guild = bot_guild(call)
    data = payloads.guild(call.world.state, guild)
    if call.query_flag("with_counts"):
        data["approximate_presence_count"] = 0
    return data


@routes("GET", "/guilds/{guild_id}/channels")
async def list_channels(call: Call) -> Any:
    """All non-thread channels (Discord lists them regardless of VIEW_CHANNEL)."""
    guild = bot_guild(call)
    return [
        payloads.channel(call.world.state, c) for c in call.world.state.guild_channels(guild.id)
    ]


@routes("POST", "/guilds/{guild_id}/channels")
async def create_channel(call: Call) -> Any:
    """Create a channel (MANAGE_CHANNELS; MANAGE_ROLES and held bits for overwrites)."""
    world, guild, body = call.world, bot_guild(call), call.json
    world.require_guild(guild, P.MANAGE_CHANNELS)
    kind = ChannelType(int(body.get("type") or 0))
    if kind not in (
        ChannelType.TEXT,
        ChannelType.VOICE,
        ChannelType.CATEGORY,
        ChannelType.FORUM,
        ChannelType.STAGE,
        ChannelType.NEWS,
    ):
        raise invalid_form("type", "Value must be one of {0, 2, 4, 5, 13, 15}.")
    if not 1 <= len(body.get("name") or "") <= 100:
        raise invalid_form("name", "Must be between 1 and 100 in length.")
    parent_id = body.get("parent_id")
    if parent_id is not None:
        parent = world.state.channel(snowflake(parent_id))
        if parent.type != ChannelType.CATEGORY or parent.guild_id != guild.id:
            raise invalid_form("parent_id", "Not a category")
    channel = Channel(
        id=world.state.new_id(),
        type=kind,
        name=str(body["name"]),
        guild_id=guild.id,
        parent_id=None if parent_id is None else snowflake(parent_id),
        position=int(body.get("position") or len(world.state.guild_channels(guild.id))),
        topic=body.get("topic"),
        nsfw=bool(body.get("nsfw")),
        bitrate=int(body.get("bitrate") or 64000),
        user_limit=int(body.get("user_limit") or 0),
        rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
    )
    overwrites = parse_overwrites(body.get("permission_overwrites") or [])
    if overwrites:
        perms = world.guild_perms(guild, world.bot_id)
        if not perms & P.MANAGE_ROLES or (
            perms != ALL and any((o.allow | o.deny) & ~perms for o in overwrites)
        ):
            raise missing_permissions()
        for overwrite in overwrites:  # a new channel holds no overwrite of the bot's yet
            check_manage_roles_bit(overwrite, None, perms, has_overwrite=False)
    channel.overwrites = {o.id: o for o in overwrites}
    world.state.channels[channel.id] = channel
    await world.channel_changed(channel, created=True)
    return payloads.channel(world.state, channel)


# members ---------------------------------------------------------------------------


@routes("GET", "/guilds/{guild_id}/members")
async def list_members(call: Call) -> Any:
    """Members ordered by user id, paginated with ``after`` and ``limit`` (1-1000)."""
    guild = bot_guild(call)
    limit = call.query_int("limit", 1) or 1
    after = call.query_int("after", 0) or 0
    members = sorted(
        (m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id
    )
    return [payloads.member(call.world.state, m) for m in members[:limit]]


@routes("GET", "/guilds/{guild_id}/members/{member_id}")
async def get_member(call: Call) -> Any:
    """One member."""
    guild = bot_guild(call)
    return payloads.member(
        call.world.state, call.world.state.member(guild.id, call.id("member_id"))
    )


def _check_hierarchy(call: Call, guild: Guild, member: Member) -> None:
    """Nicknames and roles of members at or above the bot's top role cannot be changed."""
    if member.user_id == guild.owner_id and member.user_id != call.world.bot_id:
        raise missing_permissions()
    if member.user_id != call.world.bot_id:
        call.world.require_above(
            guild, call.world.state.highest_role_position(guild, member.user_id)
        )


def _check_role_assignable(call: Call, guild: Guild, role_id: int) -> Role:
    role = call.world.state.role(guild.id, role_id)
    call.world.require_guild(guild, P.MANAGE_ROLES)
    call.world.require_above(guild, role.position)
    if role.managed_bot_id is not None or role.id == guild.id:
        raise missing_permissions()
    return role


@routes("PATCH", "/guilds/{guild_id}/members/{user_id}")
@routes("PATCH", "/guilds/{guild_id}/members/@me")
async def edit_member(call: Call) -> Any:
    """nick, roles, mute, deaf, channel_id (move/disconnect), communication_disabled_until."""
    world, guild, body = call.world, bot_guild(call), call.json
    user_id = call.id("user_id") if "user_id" in call.request.match_info else world.bot_id
    member = world.state.member(guild.id, user_id)
    changed = False
    if "nick" in body:
        if user_id == world.bot_id:
            world.require_guild(guild, P.CHANGE_NICKNAME)
        else:
            world.require_guild(guild, P.MANAGE_NICKNAMES)
            _check_hierarchy(call, guild, member)
        member.nick = body["nick"] or None
        changed = True
    if "roles" in body:
        wanted = [snowflake(r) for r in body["roles"] or []]
        for role_id in set(wanted) ^ set(member.roles):
            _check_role_assignable(call, guild, role_id)
        member.roles = [r for r in dict.fromkeys(wanted) if r != guild.id]
        changed = True
    if "communication_disabled_until" in body:
        world.require_guild(guild, P.MODERATE_MEMBERS)
        _check_hierarchy(call, guild, member)
        until = body["communication_disabled_until"]
        member.communication_disabled_until = (
            None if until is None else dt.datetime.fromisoformat(until)
        )
        changed = True
    for flag, permission in (("mute", P.MUTE_MEMBERS), ("deaf", P.DEAFEN_MEMBERS)):
        if flag in body:
            vs = guild.voice_states.get(user_id)
            if vs is None:
                raise NOT_IN_VOICE
            world.require(world.state.channel(vs.channel_id), permission)
            setattr(member, flag, bool(body[flag]))
            changed = True
    if changed:
        await world.member_changed(member)
    if "channel_id" in body:
        await _move(call, guild, member, body["channel_id"])
    elif {"mute", "deaf"} & set(body):
        vs = guild.voice_states[user_id]
        await world.gateway.dispatch("VOICE_STATE_UPDATE", payloads.voice_state(world.state, vs))
    return payloads.member(world.state, member)


async def _move(call: Call, guild: Guild, member: Member, target: Any) -> None:
    """MOVE_MEMBERS in the current channel; in the target also MOVE_MEMBERS and CONNECT."""
    world = call.world
    current = guild.voice_states.get(member.user_id)
    if current is None:
        raise NOT_IN_VOICE
    world.require(world.state.channel(current.channel_id), P.MOVE_MEMBERS)
    if target is None:
        await world.set_voice(guild, member.user_id, None)
        return
    channel = world.state.channel(snowflake(target))
    if channel.guild_id != guild.id or not channel.is_voice:
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    world.require(channel, P.MOVE_MEMBERS | P.CONNECT)
    await world.set_voice(guild, member.user_id, channel.id)


@routes("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def add_member_role(call: Call) -> Any:
    """Give a role (MANAGE_ROLES, role below the bot's top role, not managed)."""
    guild = bot_guild(call)
    member = call.world.state.member(guild.id, call.id("user_id"))
    role = _check_role_assignable(call, guild, call.id("role_id"))
    if role.id not in member.roles:
        member.roles.append(role.id)
        await call.world.member_changed(member)
    return None


@routes("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def remove_member_role(call: Call) -> Any:
    """Take a role away (same rules as adding)."""
    guild = bot_guild(call)
    member = call.world.state.member(guild.id, call.id("user_id"))
    role = _check_role_assignable(call, guild, call.id("role_id"))
    if role.id in member.roles:
        member.roles.remove(role.id)
        await call.world.member_changed(member)
    return None


@routes("GET", "/guilds/{guild_id}/voice-states/{user_id}")
@routes("GET", "/guilds/{guild_id}/voice-states/@me")
async def get_voice_state(call: Call) -> Any:
    """A member's voice state; 10065 Unknown Voice State when not connected."""
    guild = bot_guild(call)
    user_id = call.id("user_id") if "user_id" in call.request.match_info else call.world.bot_id
    vs = guild.voice_states.get(user_id)
    if vs is None:
        raise ApiError(404, 10065, "Unknown Voice State")
    return payloads.voice_state(call.world.state, vs)


# roles -------------------------------------------------------------------------------


@routes("GET", "/guilds/{guild_id}/roles")
async def list_roles(call: Call) -> Any:
    """All roles."""
    return [payloads.role(r) for r in bot_guild(call).roles.values()]


def _check_role_permissions(call: Call, guild: Guild, permissions: int) -> None:
    """A bot cannot grant a role permissions it does not hold itself."""
    held = call.world.guild_perms(guild, call.world.bot_id)
    if not has(held, permissions):
        raise missing_permissions()


@routes("POST", "/guilds/{guild_id}/roles")
async def create_role(call: Call) -> Any:
    """A new role at position 1, just above @everyone."""
    world, guild, body = call.world, bot_guild(call), call.json
    world.require_guild(guild, P.MANAGE_ROLES)
    permissions = int(body.get("permissions") or guild.everyone.permissions)
    _check_role_permissions(call, guild, permissions)
    role = Role(
        id=world.state.new_id(),
        guild_id=guild.id,
        name=str(body.get("name") or "new role"),
        permissions=permissions,
        position=1,
        color=int(body.get("color") or 0),
        hoist=bool(body.get("hoist")),
        mentionable=bool(body.get("mentionable")),
    )
    await world.insert_role(guild, role)
    return payloads.role(role)


@routes("PATCH", "/guilds/{guild_id}/roles/{role_id}")
async def edit_role(call: Call) -> Any:
    """Edit a role below the bot's top role."""
    world, guild, body = call.world, bot_guild(call), call.json
    role = world.state.role(guild.id, call.id("role_id"))
    world.require_guild(guild, P.MANAGE_ROLES)
    world.require_above(guild, role.position)
    if "permissions" in body:
        permissions = int(body["permissions"] or 0)
        _check_role_permissions(call, guild, permissions & ~role.permissions)
        role.permissions = permissions
    for field in ("name", "color", "hoist", "mentionable"):
        if field in body:
            setattr(role, field, body[field])
    await world.role_changed(role)
    return payloads.role(role)


@routes("DELETE", "/guilds/{guild_id}/roles/{role_id}")
async def delete_role(call: Call) -> Any:
    """Delete a role below the bot's top role; managed roles and @everyone cannot be deleted."""
    world, guild = call.world, bot_guild(call)
    role = world.state.role(guild.id, call.id("role_id"))
    world.require_guild(guild, P.MANAGE_ROLES)
    world.require_above(guild, role.position)
    if role.managed_bot_id is not None or role.id == guild.id:
        raise invalid_form("role_id", "Cannot delete this role")
    del guild.roles[role.id]
    for member in guild.members.values():
        if role.id in member.roles:
            member.roles.remove(role.id)
    await world.gateway.dispatch(
        "GUILD_ROLE_DELETE", {"guild_id": str(guild.id), "role_id": str(role.id)}
    )
    return None
