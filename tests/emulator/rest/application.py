"""Users, the application, application command sync and DM channels."""

from __future__ import annotations

import re
from typing import Any

from .. import payloads
from ..errors import invalid_form, missing_access, unknown
from ..state import AppCommand
from . import Call, Routes

routes = Routes()

_NAME = re.compile(r"^[-_\w]{1,32}$")


@routes("GET", "/gateway/bot")
async def get_bot_gateway(call: Call) -> Any:
    """Where to connect and how many shards Discord recommends (AutoShardedClient asks
    when given no shard count)."""
    return {
        "url": call.world.gateway.url().rstrip("/"),
        "shards": call.world.gateway.recommended_shards,
        "session_start_limit": {
            "total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1,
        },
    }


@routes("GET", "/users/@me")
async def get_me(call: Call) -> Any:
    """The bot user (discord.py's login)."""
    bot = call.world.state.users[call.world.bot_id]
    return {
        **payloads.user(bot), "verified": True, "mfa_enabled": False, "email": None,
        "locale": "en-US",
    }


@routes("GET", "/users/@me/guilds")
async def list_my_guilds(call: Call) -> Any:
    """The bot's guilds by id, paged with before/after/limit (1–200, default 200).

    `permissions` is the bot's roles combined, as Discord documents it: "excludes
    overwrites and implicit permissions" (owner and ADMINISTRATOR are not expanded).
    """
    limit = call.query_int("limit", 200) or 200
    if not 1 <= limit <= 200:
        raise invalid_form("limit", "Must be between 1 and 200.")
    before, after = call.query_int("before"), call.query_int("after")
    guilds = sorted(
        (g for g in call.world.state.guilds.values() if call.world.bot_id in g.members),
        key=lambda g: g.id,
    )
    if after is not None:
        guilds = [g for g in guilds if g.id > after]
    if before is not None:
        guilds = [g for g in guilds if g.id < before]
    guilds = guilds[-limit:] if before is not None and after is None else guilds[:limit]
    listed = []
    for guild in guilds:
        member = guild.members[call.world.bot_id]
        permissions = guild.everyone.permissions
        for role_id in member.roles:
            if role_id in guild.roles:
                permissions |= guild.roles[role_id].permissions
        entry: dict[str, Any] = {
            "id": str(guild.id), "name": guild.name, "icon": None, "banner": None,
            "owner": guild.owner_id == call.world.bot_id, "permissions": str(int(permissions)),
            "features": [],
        }
        if call.query_flag("with_counts"):
            entry["approximate_member_count"] = len(guild.members)
            entry["approximate_presence_count"] = 0
        listed.append(entry)
    return listed


@routes("GET", "/users/{user_id}")
async def get_user(call: Call) -> Any:
    """Any user by id."""
    return payloads.user(call.world.state.user(call.id("user_id")))


@routes("GET", "/oauth2/applications/@me")
async def get_application(call: Call) -> Any:
    """Application info; its id equals the bot user id, as for every modern bot."""
    bot = call.world.state.users[call.world.bot_id]
    return {
        "id": str(bot.id),
        "name": bot.username,
        "icon": None,
        "description": "",
        "rpc_origins": [],
        "bot_public": False,
        "bot_require_code_grant": False,
        "bot": payloads.user(bot),
        "owner": payloads.user(bot),
        "team": None,
        "verify_key": "0" * 64,
        "flags": 0,
        "summary": "",
        "tags": [],
        "integration_types_config": {"0": {}},
        "type": None,
        "flags_new": "0",
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "approximate_guild_count": len(call.world.state.guilds),
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "eligible_oauth2_scopes": ["bot", "applications.commands"],
    }


@routes("POST", "/users/@me/channels")
async def open_dm(call: Call) -> Any:
    """Create (or return) the DM channel with a user."""
    recipient = int(call.json.get("recipient_id", 0))
    if recipient not in call.world.state.users:
        raise unknown("user")
    return payloads.channel(call.world.state, await call.world.dm_channel(recipient))


def _application(call: Call) -> int:
    app_id = call.id("application_id")
    if app_id != call.world.bot_id:
        raise missing_access()
    return app_id


def _guild_scope(call: Call) -> int | None:
    if "guild_id" not in call.request.match_info:
        return None
    guild = call.world.state.guild(call.id("guild_id"))
    if call.world.bot_id not in guild.members:
        raise missing_access()
    return guild.id


def _validate(command: dict[str, Any], path: str) -> None:
    """The checks Discord applies to command definitions that matter in practice."""
    name = command.get("name", "")
    if command.get("type", 1) == 1 and (not _NAME.match(name) or name != name.lower()):
        raise invalid_form(
            f"{path}.name", "Command name is invalid", "APPLICATION_COMMAND_INVALID_NAME"
        )
    if command.get("type", 1) == 1 and not 1 <= len(command.get("description", "")) <= 100:
        raise invalid_form(f"{path}.description", "Must be between 1 and 100 in length.")
    options = command.get("options") or []
    if len(options) > 25:
        raise invalid_form(f"{path}.options", "Must be 25 or fewer in length.")
    seen_optional = False
    for index, option in enumerate(options):
        if option["type"] in (1, 2):
            _validate({**option, "type": 1}, f"{path}.options.{index}")
            continue
        if option.get("required"):
            if seen_optional:
                raise invalid_form(
                    f"{path}.options.{index}",
                    "Required options must be placed before non-required options",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                )
        else:
            seen_optional = True


def _scoped(call: Call, guild_id: int | None) -> list[AppCommand]:
    return [c for c in call.world.state.commands.values() if c.guild_id == guild_id]


def _upsert(call: Call, guild_id: int | None, data: dict[str, Any]) -> AppCommand:
    """Keep a command's id when its name and type match an existing one, as Discord does."""
    state = call.world.state
    existing = next(
        (
            c
            for c in _scoped(call, guild_id)
            if c.name == data["name"] and c.type == data.get("type", 1)
        ),
        None,
    )
    if existing is not None:
        existing.data, existing.version = data, state.new_id()
        return existing
    command = AppCommand(state.new_id(), call.world.bot_id, guild_id, data, state.new_id())
    state.commands[command.id] = command
    return command


@routes("GET", "/applications/{application_id}/commands")
@routes("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
async def list_commands(call: Call) -> Any:
    """The synced commands of a scope."""
    _application(call)
    return [payloads.command(c) for c in _scoped(call, _guild_scope(call))]


@routes("PUT", "/applications/{application_id}/commands")
@routes("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
async def bulk_overwrite(call: Call) -> Any:
    """Replace a scope's commands (``tree.sync``)."""
    _application(call)
    guild_id = _guild_scope(call)
    body = call.body if isinstance(call.body, list) else []
    if len(body) > 100:
        raise invalid_form("_errors", "Must be 100 or fewer in length.")
    for index, data in enumerate(body):
        _validate(data, str(index))
    kept = [_upsert(call, guild_id, data) for data in body]
    for command in _scoped(call, guild_id):
        if command not in kept:
            del call.world.state.commands[command.id]
    return [payloads.command(c) for c in kept]


@routes("POST", "/applications/{application_id}/commands")
@routes("POST", "/applications/{application_id}/guilds/{guild_id}/commands")
async def upsert_command(call: Call) -> Any:
    """Create or replace one command."""
    _application(call)
    _validate(call.json, "")
    return payloads.command(_upsert(call, _guild_scope(call), call.json))


def _command(call: Call) -> AppCommand:
    _application(call)
    command = call.world.state.commands.get(call.id("command_id"))
    if command is None or command.guild_id != _guild_scope(call):
        raise unknown("application command")
    return command


@routes("GET", "/applications/{application_id}/commands/{command_id}")
@routes("GET", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def get_command(call: Call) -> Any:
    """One command."""
    return payloads.command(_command(call))


@routes("DELETE", "/applications/{application_id}/commands/{command_id}")
@routes("DELETE", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def delete_command(call: Call) -> Any:
    """Delete one command."""
    del call.world.state.commands[_command(call).id]
    return None
