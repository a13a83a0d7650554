"""Which group a command is about, and whether the caller may act on it.

Leaders are whoever the database says they are; Discord permissions alone never
make someone a leader.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import queries
from bot.db.models import Group, MembershipStatus
from bot.domain.input_checks import excerpt
from bot.errors import UserFacingError


def channel_ids_of(channel: object) -> list[int]:
    """The channel, its parent (forum or category) and its category, as ids."""
    ids: list[int] = []
    for attribute in ("id", "parent_id", "category_id"):
        value = getattr(channel, attribute, None)
        if isinstance(value, int):
            ids.append(value)
    parent = getattr(channel, "parent", None)
    category_id = getattr(parent, "category_id", None)
    if isinstance(category_id, int):
        ids.append(category_id)
    return ids


def offers_group_option(interaction: discord.Interaction) -> bool:
    """Whether the command being run has a `group` option to name its group with."""
    command = interaction.command
    return isinstance(command, app_commands.Command) and any(
        parameter.name == "group" for parameter in command.parameters
    )


async def resolve_group(
    session_factory: async_sessionmaker[AsyncSession],
    guild_id: int,
    channel: object,
    name: str | None,
    viewer: discord.Member | discord.User | None = None,
    *,
    group_option: bool = False,
) -> Group:
    """The group named, or the one whose channel this is; refuses a mismatch.

    A group named by someone who may not see it is answered as if it did not exist:
    its name and existence are for its members, invitees and the server's admins.
    """
    async with session_factory() as session:
        return await _resolve(session, guild_id, channel, name, viewer, group_option)


async def _resolve(
    session: AsyncSession,
    guild_id: int,
    channel: object,
    name: str | None,
    viewer: discord.Member | discord.User | None,
    group_option: bool,
) -> Group:
    """`resolve_group` in the caller's session."""
    here = await queries.group_by_channel(session, guild_id, channel_ids_of(channel))
    if name:
        named = await queries.group_by_name(session, guild_id, name)
        if (
            named is None
            or named.archived_at is not None
            or (viewer is not None and not await may_see(session, named, viewer))
        ):
            raise UserFacingError(
                f"There is no active group called **{excerpt(name, 60)}** here."
            )
        if here is not None and here.id != named.id:
            raise UserFacingError(
                f"This channel belongs to **{here.name}**. Run commands for "
                f"**{named.name}** in its own channels."
            )
        return named
    if here is None:
        chats = (
            [
                f"<#{group.text_channel_id}>"
                for group in await queries.user_groups(session, guild_id, viewer.id)
                if group.text_channel_id
            ][:3]
            if viewer is not None
            else []
        )
        where = f" ({', '.join(chats)})" if chats else ""
        option = ", or choose the `group` option" if group_option else ""
        raise UserFacingError(f"Which group? Run this in the group's own chat{where}{option}.")
    return here


def is_server_admin(user: discord.Member | discord.User) -> bool:
    """Server admins (Manage Server) see and manage every group of their server."""
    return isinstance(user, discord.Member) and user.guild_permissions.manage_guild


async def may_see(session: AsyncSession, group: Group, user: discord.Member | discord.User) -> bool:
    """Whether `user` may know of `group`: an admin, a member or leader, or invited."""
    if is_server_admin(user):
        return True
    membership = await queries.membership(session, group.id, user.id)
    return membership is not None and membership.status in (
        MembershipStatus.ACTIVE,
        MembershipStatus.INVITED,
    )


async def require_leader(
    session_factory: async_sessionmaker[AsyncSession], group: Group, user_id: int, action: str
) -> None:
    async with session_factory() as session:
        await _leads(session, group, user_id, action)


async def require_runner(
    session_factory: async_sessionmaker[AsyncSession], group: Group, user_id: int, action: str
) -> None:
    """The leaders, or whoever holds the live meeting while its leader is away."""
    async with session_factory() as session:
        await _runs(session, group, user_id, action)


async def require_member(
    session_factory: async_sessionmaker[AsyncSession], group: Group, user_id: int, action: str
) -> None:
    async with session_factory() as session:
        await _is_member(session, group, user_id, action)


# The checks in the caller's session: a command's group and the caller's right to act on
# it are read in one.
Check = Callable[[AsyncSession, Group, int, str], Awaitable[None]]


async def _leads(session: AsyncSession, group: Group, user_id: int, action: str) -> None:
    if user_id not in await queries.leader_ids(session, group.id):
        raise UserFacingError(f"Only the leaders of **{group.name}** can {action}.")


async def _runs(session: AsyncSession, group: Group, user_id: int, action: str) -> None:
    if user_id in await queries.leader_ids(session, group.id):
        return
    if user_id == await queries.stand_in_id(session, group.id):
        return
    raise UserFacingError(f"Only the leaders of **{group.name}** (or their deputy) can {action}.")


async def _is_member(session: AsyncSession, group: Group, user_id: int, action: str) -> None:
    membership = await queries.membership(session, group.id, user_id)
    if membership is None or membership.status != MembershipStatus.ACTIVE:
        raise UserFacingError(f"Only members of **{group.name}** can {action}.")


async def require_leader_or_admin(
    session_factory: async_sessionmaker[AsyncSession],
    group: Group,
    user: discord.Member | discord.User,
    action: str,
) -> None:
    """Server admins (Manage Server) manage groups without being members of them."""
    if is_server_admin(user):
        return
    await require_leader(session_factory, group, user.id, action)


async def _callers_group(
    session_factory: async_sessionmaker[AsyncSession],
    interaction: discord.Interaction,
    action: str,
    name: str | None,
    check: Check,
) -> Group:
    assert interaction.guild is not None
    async with session_factory() as session:
        group = await _resolve(
            session,
            interaction.guild.id,
            interaction.channel,
            name,
            interaction.user,
            offers_group_option(interaction),
        )
        await check(session, group, interaction.user.id, action)
    return group


async def group_led_by_caller(
    session_factory: async_sessionmaker[AsyncSession],
    interaction: discord.Interaction,
    action: str,
    name: str | None = None,
) -> Group:
    """The command's group (named, or this channel's), if the caller leads it."""
    return await _callers_group(session_factory, interaction, action, name, _leads)


async def group_run_by_caller(
    session_factory: async_sessionmaker[AsyncSession],
    interaction: discord.Interaction,
    action: str,
) -> Group:
    """The command's group, if the caller leads it or holds its meeting as deputy."""
    return await _callers_group(session_factory, interaction, action, None, _runs)


async def group_of_caller(
    session_factory: async_sessionmaker[AsyncSession],
    interaction: discord.Interaction,
    action: str,
    name: str | None = None,
) -> Group:
    """The command's group (named, or this channel's), if the caller is an active member."""
    return await _callers_group(session_factory, interaction, action, name, _is_member)
