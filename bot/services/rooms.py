"""Voice rooms: the server's shared pool, the lobby, and moving members in and out.

A pooled room is claimed for one meeting with a conditional update, so two
meetings (or two bot processes) can never hold the same room. While held, it is
opened to the group's role only, through the overwrite ledger, and put back
exactly as it was when the meeting ends.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import discord
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import queries
from bot.db.models import Group, Meeting, MeetingStatus, Membership, MembershipStatus, VoiceRoom
from bot.domain.group_settings import GroupSettings
from bot.errors import MissingBotPermission, UserFacingError
from bot.permissions import describe_missing
from bot.services.groups import BOT_VOICE, NOT_CONNECTED_TO_VOICE
from bot.services.silence import OverwriteLedger, WantedOverwrite, failure

log = logging.getLogger(__name__)

ROOM_REASON = "room"
ROOM_HIDDEN = discord.Permissions(view_channel=True, connect=True).value
ROOM_OPEN = discord.Permissions(view_channel=True, connect=True, speak=True).value


class RoomService:
    """Claims, opens, fills, empties and releases the rooms meetings happen in."""

    def __init__(
        self,
        http: discord.http.HTTPClient,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        ledger: OverwriteLedger,
    ) -> None:
        self._http = http
        self._session_factory = session_factory
        self._clock = clock
        self._ledger = ledger

    # The pool and the lobby (server admins) ---------------------------------------------

    async def add_to_pool(self, guild: discord.Guild, channel: discord.VoiceChannel) -> None:
        permissions = channel.permissions_for(guild.me)
        missing = [
            f
            for f in ("view_channel", "connect", "move_members", "manage_roles")
            if not getattr(permissions, f)
        ]
        if missing:
            raise MissingBotPermission(describe_missing(missing) + f" (in {channel.mention})")
        async with self._session_factory() as session:
            await queries.ensure_server(session, guild.id, self._clock.now())
            session.add(
                VoiceRoom(server_id=guild.id, channel_id=channel.id, added_at=self._clock.now())
            )
            try:
                await session.commit()
            except IntegrityError:
                raise UserFacingError(f"{channel.mention} is already in the pool.") from None

    async def remove_from_pool(self, guild_id: int, channel_id: int) -> None:
        async with self._session_factory() as session:
            room = (
                await session.execute(
                    select(VoiceRoom).where(
                        VoiceRoom.server_id == guild_id, VoiceRoom.channel_id == channel_id
                    )
                )
            ).scalar_one_or_none()
            if room is None:
                raise UserFacingError(f"<#{channel_id}> isn't in the pool.")
            if room.held_by_meeting_id is not None:
                raise UserFacingError(f"A meeting is using <#{channel_id}> right now.")
            await session.delete(room)
            await session.commit()

    async def pool(self, guild_id: int) -> Sequence[VoiceRoom]:
        async with self._session_factory() as session:
            result = await session.execute(
                select(VoiceRoom).where(VoiceRoom.server_id == guild_id).order_by(VoiceRoom.id)
            )
            return result.scalars().all()

    async def set_lobby(self, guild: discord.Guild, channel: discord.VoiceChannel | None) -> None:
        async with self._session_factory() as session:
            server = await queries.ensure_server(session, guild.id, self._clock.now())
            server.lobby_channel_id = channel.id if channel else None
            await session.commit()

    # A meeting's room ---------------------------------------------------------------------

    async def claim(self, group: Group, meeting_id: int) -> int:
        """The room for this meeting: a free pooled room, or the group's own."""
        settings = GroupSettings.from_dict(group.settings)
        async with self._session_factory() as session:
            if settings.use_room_pool:
                free = (
                    (
                        await session.execute(
                            select(VoiceRoom.id)
                            .where(
                                VoiceRoom.server_id == group.server_id,
                                VoiceRoom.held_by_meeting_id.is_(None),
                            )
                            .order_by(VoiceRoom.id)
                        )
                    )
                    .scalars()
                    .all()
                )
                for room_id in free:
                    claimed = await session.execute(
                        update(VoiceRoom)
                        .where(VoiceRoom.id == room_id, VoiceRoom.held_by_meeting_id.is_(None))
                        .values(held_by_meeting_id=meeting_id)
                    )
                    if claimed.rowcount == 1:  # type: ignore[attr-defined]
                        room = await session.get(VoiceRoom, room_id)
                        assert room is not None
                        await session.commit()
                        return room.channel_id
                if group.voice_channel_id is None:
                    raise UserFacingError(
                        "Every room in the pool is in use. Wait for a meeting to end, or ask "
                        "the server's admins to add a room with `/room pool-add`."
                    )
            if group.voice_channel_id is None:
                raise UserFacingError("This group has no voice room; ask an admin to add one.")
            return group.voice_channel_id

    async def open(self, guild: discord.Guild, group: Group, meeting_id: int, room_id: int) -> None:
        """Open a pooled room to the group alone; the group's own room is private already."""
        if room_id == group.voice_channel_id:
            return
        channel = guild.get_channel(room_id)
        if channel is None or group.role_id is None:
            raise UserFacingError(f"I can't find the room <#{room_id}>.")
        # The bot first, so that hiding the room from @everyone never hides it from the bot.
        await self._ledger.apply(
            meeting_id,
            [
                WantedOverwrite(channel, guild.me.id, False, ROOM_REASON, allow=BOT_VOICE.value),
                WantedOverwrite(channel, group.role_id, True, ROOM_REASON, allow=ROOM_OPEN),
                WantedOverwrite(
                    channel, guild.default_role.id, True, ROOM_REASON, deny=ROOM_HIDDEN
                ),
            ],
        )

    async def gather(self, guild: discord.Guild, group: Group, room_id: int) -> list[int]:
        """Move the group's members waiting in the lobby into the room; returns who moved."""
        lobby_id = await self.lobby_id(guild.id)
        lobby = guild.get_channel(lobby_id) if lobby_id else None
        if not isinstance(lobby, discord.VoiceChannel):
            return []
        waiting = list(lobby.voice_states)
        async with self._session_factory() as session:
            members = set(
                (
                    await session.execute(
                        select(Membership.user_id).where(
                            Membership.group_id == group.id,
                            Membership.status == MembershipStatus.ACTIVE,
                            Membership.user_id.in_(waiting),
                        )
                    )
                )
                .scalars()
                .all()
            )
        moved = []
        for user_id in waiting:
            if user_id not in members:
                continue
            try:
                if await self.move(guild.id, user_id, room_id, "meeting"):
                    moved.append(user_id)
            except discord.HTTPException as error:
                # Best effort: a member left in the lobby joins the room themselves.
                log.info("could not bring a member in from the lobby: HTTP %s", error.status)
        return moved

    async def release(self, guild: discord.Guild, group: Group, meeting: Meeting) -> list[str]:
        """Send members back to the lobby, put the room back and free it; returns failures."""
        failures: list[str] = []
        room_id = meeting.voice_channel_id
        lobby_id = await self.lobby_id(guild.id)
        settings = GroupSettings.from_dict(group.settings)
        room = guild.get_channel(room_id) if room_id else None
        if settings.return_to_lobby and lobby_id and isinstance(room, discord.VoiceChannel):
            for user_id in list(room.voice_states):
                if user_id == guild.me.id:
                    continue
                try:
                    await self.move(guild.id, user_id, lobby_id, "end of the meeting")
                except (discord.HTTPException, MissingBotPermission) as error:
                    failures.append(failure(f"moving <@{user_id}> back to the lobby", error))
        changes = await self._ledger.open_changes(meeting_id=meeting.id, reason=ROOM_REASON)
        if await self._ledger.restore(changes):
            failures.append(f"resetting <#{room_id}>")
        async with self._session_factory() as session:
            await session.execute(
                update(VoiceRoom)
                .where(VoiceRoom.held_by_meeting_id == meeting.id)
                .values(held_by_meeting_id=None)
            )
            await session.commit()
        return failures

    async def move(self, guild_id: int, user_id: int, channel_id: int, why: str) -> bool:
        """Move a connected member; False if they are not connected (left voice meanwhile).

        Any other refusal raises (MissingBotPermission for a 403, else the HTTPException):
        a move that makes a voice rule take effect must not count as done when it failed.
        """
        try:
            await self._http.edit_member(guild_id, user_id, channel_id=channel_id, reason=why)
        except discord.Forbidden as error:
            raise MissingBotPermission(
                describe_missing(["move_members", "connect"]) + f" (for <#{channel_id}>)"
            ) from error
        except discord.HTTPException as error:
            if error.code != NOT_CONNECTED_TO_VOICE:
                raise
            log.info("could not move a member (%s): not connected", why)
            return False
        return True

    async def live_room_for_returning_member(self, guild_id: int, user_id: int) -> int | None:
        """The room of a live meeting of one of the member's groups in this server, if any."""
        async with self._session_factory() as session:
            result = await session.execute(
                select(Meeting.voice_channel_id)
                .join(Group, Group.id == Meeting.group_id)
                .join(Membership, Membership.group_id == Group.id)
                .where(
                    Group.server_id == guild_id,
                    Meeting.status == MeetingStatus.LIVE,
                    Membership.user_id == user_id,
                    Membership.status == MembershipStatus.ACTIVE,
                )
                .order_by(Meeting.started_at)
            )
            return result.scalars().first()

    async def lobby_id(self, guild_id: int) -> int | None:
        async with self._session_factory() as session:
            server = await queries.ensure_server(session, guild_id, self._clock.now())
            await session.commit()
            return server.lobby_channel_id
