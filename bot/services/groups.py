"""Groups: creating their private channels, membership and the agreement, archiving."""

from __future__ import annotations

import contextlib
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import discord
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import queries
from bot.db.models import Group, Meeting, MemberRole, Membership, MembershipStatus
from bot.domain.group_settings import GroupSettings, SettingsError
from bot.domain.input_checks import excerpt
from bot.domain.phases import TemplateError
from bot.domain.zones import zone_names
from bot.errors import MissingBotPermission, UserFacingError
from bot.messages import DEFAULT_AGREEMENT
from bot.permissions import describe_missing
from bot.services.followups import untaggable

log = logging.getLogger(__name__)

MAX_GROUP_NAME = 60

# What the group's role and the bot are allowed in each kind of channel. Voice
# permissions exist only in voice channels (and categories, which hold both kinds):
# Discord refuses an overwrite that grants a text channel a voice permission.
MEMBER_TEXT = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
    add_reactions=True,
)
MEMBER_VOICE = discord.Permissions(view_channel=True, connect=True, speak=True)
BOT_TEXT = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    manage_threads=True,
    embed_links=True,
    read_message_history=True,
    manage_messages=True,
    add_reactions=True,
)
BOT_VOICE = discord.Permissions(view_channel=True, connect=True, move_members=True, speak=True)
# Discord's JSON error code for moving (or disconnecting) a member who is not in voice.
NOT_CONNECTED_TO_VOICE = 40032
# In a forum, "send messages" means starting posts: the bot opens one per case.
FORUM_MEMBER_DENY = discord.Permissions(send_messages=True, create_public_threads=True)


class ChannelKind(enum.Enum):
    CATEGORY = "category"
    TEXT = "text"
    VOICE = "voice"
    FORUM = "forum"


def kind_of(channel: discord.abc.GuildChannel) -> ChannelKind:
    if isinstance(channel, discord.CategoryChannel):
        return ChannelKind.CATEGORY
    if isinstance(channel, discord.VoiceChannel):
        return ChannelKind.VOICE
    if isinstance(channel, discord.ForumChannel):
        return ChannelKind.FORUM
    return ChannelKind.TEXT


TEXT_LOCKED = discord.Permissions(
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    add_reactions=True,
)
VOICE_LOCKED = discord.Permissions(connect=True, speak=True)


@dataclass(frozen=True)
class AdoptedChannels:
    """Existing channels a leader asked the new group to use instead of new ones."""

    category: discord.CategoryChannel | None = None
    text: discord.TextChannel | None = None
    voice: discord.VoiceChannel | None = None
    forum: discord.ForumChannel | None = None

    def all(self) -> list[discord.abc.GuildChannel]:
        return [c for c in (self.category, self.text, self.voice, self.forum) if c is not None]


@dataclass(frozen=True)
class GroupSummary:
    group: Group
    memberships: Sequence[Membership]
    next_meeting: Meeting | None
    live_meeting: Meeting | None


def validate_zone(name: str) -> str:
    """The IANA zone name as given, or a clear error with examples."""
    # IANA Region/City names only: not the server's `localtime`, nor a file path.
    known = name in zone_names() or name == "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        known = False
    if not known:
        raise UserFacingError(
            f"I don't know the time zone `{excerpt(name)}`. Use an IANA name such as "
            "`Australia/Sydney`, `Australia/Adelaide`, `Pacific/Auckland` or `Europe/London` "
            "(start typing and pick one from the list)."
        ) from None
    return name


def validate_group_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 2 <= len(cleaned) <= MAX_GROUP_NAME:
        raise UserFacingError(f"A group name needs 2 to {MAX_GROUP_NAME} characters.")
    return cleaned


def bot_grants(kind: ChannelKind) -> discord.Permissions:
    """What the bot allows itself in a group channel of this kind."""
    voice = kind in (ChannelKind.VOICE, ChannelKind.CATEGORY)
    text = kind is not ChannelKind.VOICE
    return discord.Permissions((BOT_VOICE.value if voice else 0) | (BOT_TEXT.value if text else 0))


def private_overwrites(
    guild: discord.Guild, role: discord.Role, kind: ChannelKind
) -> dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite]:
    """Hidden from everyone but the group's role and the bot."""
    voice = kind in (ChannelKind.VOICE, ChannelKind.CATEGORY)
    text = kind is not ChannelKind.VOICE
    member_allow = (MEMBER_VOICE.value if voice else 0) | (MEMBER_TEXT.value if text else 0)
    member_deny = FORUM_MEMBER_DENY.value if kind is ChannelKind.FORUM else 0
    member_allow &= ~member_deny
    bot_allow = bot_grants(kind).value
    hidden = discord.Permissions(view_channel=True, connect=voice)
    # In this order, so that editing an existing channel never hides it from the bot midway.
    return {
        guild.me: discord.PermissionOverwrite.from_pair(
            discord.Permissions(bot_allow), discord.Permissions.none()
        ),
        role: discord.PermissionOverwrite.from_pair(
            discord.Permissions(member_allow), discord.Permissions(member_deny)
        ),
        guild.default_role: discord.PermissionOverwrite.from_pair(
            discord.Permissions.none(), hidden
        ),
    }


class GroupService:
    """Use cases of groups and their members."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock

    # Creating and archiving ------------------------------------------------------------

    async def create_group(
        self,
        guild: discord.Guild,
        *,
        name: str,
        leader: discord.Member,
        timezone: str,
        adopted: AdoptedChannels,
    ) -> Group:
        """Make the role and the private channels, then the group; all or nothing."""
        name = validate_group_name(name)
        validate_zone(timezone)
        if leader.bot:
            raise UserFacingError("A bot can't lead a Balint group: choose a person.")
        async with self._session_factory() as session:
            if await queries.group_by_name(session, guild.id, name) is not None:
                raise UserFacingError(f"This server already has a group called **{name}**.")
        _check_bot_can_build(guild, adopted)

        created: list[discord.abc.GuildChannel | discord.Role] = []
        try:
            role = await guild.create_role(
                name=f"{name}", mentionable=False, reason=f"Balint group {name}"
            )
            created.append(role)
            category = adopted.category or await guild.create_category(
                name,
                overwrites=private_overwrites(guild, role, ChannelKind.CATEGORY),
                reason="Balint group",
            )
            text = adopted.text or await guild.create_text_channel(
                "group-chat",
                category=category,
                overwrites=private_overwrites(guild, role, ChannelKind.TEXT),
            )
            voice = adopted.voice or await guild.create_voice_channel(
                "meeting-room",
                category=category,
                overwrites=private_overwrites(guild, role, ChannelKind.VOICE),
            )
            forum = adopted.forum or await guild.create_forum(
                "follow-ups",
                category=category,
                overwrites=private_overwrites(guild, role, ChannelKind.FORUM),
            )
            created += [c for c in (category, text, voice, forum) if c not in adopted.all()]
            for channel in adopted.all():
                for target, overwrite in private_overwrites(guild, role, kind_of(channel)).items():
                    allow, deny = overwrite.pair()
                    await guild._state.http.edit_channel_permissions(
                        channel.id,
                        target.id,
                        str(allow.value),
                        str(deny.value),
                        0 if isinstance(target, discord.Role) else 1,
                        reason=f"adopted by Balint group {name}",
                    )
            await leader.add_roles(role, reason=f"leader of Balint group {name}")
            return await self._store_group(
                guild.id,
                name,
                timezone,
                leader.id,
                role,
                category,
                text,
                voice,
                forum,
                [item.id for item in created],
            )
        except BaseException as error:
            await _delete_quietly(created)
            if isinstance(error, discord.Forbidden):
                raise MissingBotPermission(
                    describe_missing(["manage_roles", "manage_channels"])
                ) from error
            if isinstance(error, IntegrityError):
                raise UserFacingError(
                    f"This server already has a group called **{name}**."
                ) from error
            raise

    async def _store_group(
        self,
        server_id: int,
        name: str,
        timezone: str,
        leader_id: int,
        role: discord.Role,
        category: discord.CategoryChannel,
        text: discord.TextChannel,
        voice: discord.VoiceChannel,
        forum: discord.ForumChannel,
        created_ids: list[int],
    ) -> Group:
        now = self._clock.now()
        async with self._session_factory() as session:
            await queries.ensure_server(session, server_id, now)
            group = Group(
                server_id=server_id,
                name=name,
                timezone=timezone,
                role_id=role.id,
                category_id=category.id,
                text_channel_id=text.id,
                voice_channel_id=voice.id,
                forum_channel_id=forum.id,
                created_discord_ids=created_ids,
                agreement_text=DEFAULT_AGREEMENT,
                settings={},
                created_at=now,
            )
            session.add(group)
            await session.flush()
            session.add(
                Membership(
                    group_id=group.id,
                    user_id=leader_id,
                    role=MemberRole.LEADER,
                    status=MembershipStatus.ACTIVE,
                    invited_at=now,
                    joined_at=now,
                )
            )
            await session.commit()
            return group

    async def archive_group(self, guild: discord.Guild, group: Group) -> None:
        """Lock the channels (kept readable for the record), then mark the group archived."""
        async with self._session_factory() as session:
            if await queries.live_meeting(session, group.id) is not None:
                raise UserFacingError("End the meeting that is running before archiving.")
            stored = await session.get(Group, group.id)
            assert stored is not None
            if stored.archived_at is not None:
                raise UserFacingError(f"**{group.name}** is already archived.")
        read_only = discord.Permissions(view_channel=True, read_message_history=True).value
        locks = (
            (group.text_channel_id, TEXT_LOCKED),
            (group.forum_channel_id, TEXT_LOCKED),
            (group.voice_channel_id, VOICE_LOCKED),
        )
        try:
            for channel_id, locked in locks:
                if channel_id is not None and group.role_id is not None:
                    await guild._state.http.edit_channel_permissions(
                        channel_id,
                        group.role_id,
                        str(read_only),
                        str(locked.value),
                        0,
                        reason=f"Balint group {group.name} archived",
                    )
        except discord.Forbidden as error:
            raise MissingBotPermission(describe_missing(["manage_roles"])) from error
        async with self._session_factory() as session:
            stored = await session.get(Group, group.id)
            assert stored is not None
            stored.archived_at = self._clock.now()
            await session.commit()

    # Membership and the agreement --------------------------------------------------------

    async def invite(
        self, group: Group, user: discord.Member | discord.User, role: MemberRole
    ) -> Membership:
        """Record an invitation; access comes only when the agreement is accepted."""
        if user.bot:
            raise UserFacingError("Bots can't be members of a Balint group.")
        if not isinstance(user, discord.Member):
            raise UserFacingError(f"{user.mention} isn't a member of this server.")
        now = self._clock.now()
        async with self._session_factory() as session:
            membership = await queries.membership(session, group.id, user.id)
            if membership is not None and membership.status == MembershipStatus.ACTIVE:
                raise UserFacingError(f"{user.mention} is already in **{group.name}**.")
            if membership is None:
                membership = Membership(
                    group_id=group.id,
                    user_id=user.id,
                    invited_at=now,
                    role=role,
                    status=MembershipStatus.INVITED,
                )
                session.add(membership)
            membership.role = role
            membership.status = MembershipStatus.INVITED
            membership.invited_at = now
            membership.agreement_accepted_at = None
            membership.left_at = None
            await session.commit()
            return membership

    async def accept_agreement(self, guild: discord.Guild, membership_id: int) -> Group:
        """Activate the membership, then give the role; undone if Discord refuses.

        Accepting again gives the role again: a role lost to a crash between the two
        steps is completed by the member's second click.
        """
        now = self._clock.now()
        async with self._session_factory() as session:
            claimed = await session.execute(
                update(Membership)
                .where(
                    Membership.id == membership_id, Membership.status == MembershipStatus.INVITED
                )
                .values(status=MembershipStatus.ACTIVE, agreement_accepted_at=now, joined_at=now)
            )
            membership = await session.get(Membership, membership_id)
            group = await session.get(Group, membership.group_id) if membership else None
            if membership is None or group is None or group.archived_at is not None:
                raise UserFacingError("This invitation is no longer open.")
            claimed_now = claimed.rowcount == 1  # type: ignore[attr-defined]
            if not claimed_now and membership.status != MembershipStatus.ACTIVE:
                raise UserFacingError("This invitation is no longer open; ask a leader.")
            await session.commit()
        try:
            assert group.role_id is not None
            await guild._state.http.add_role(
                guild.id, membership.user_id, group.role_id, reason="accepted the group agreement"
            )
        except discord.HTTPException:
            # Undone only if this click made it active: an older acceptance stands.
            if claimed_now:
                async with self._session_factory() as session:
                    await session.execute(
                        update(Membership)
                        .where(Membership.id == membership_id)
                        .values(
                            status=MembershipStatus.INVITED,
                            agreement_accepted_at=None,
                            joined_at=None,
                        )
                    )
                    await session.commit()
            raise UserFacingError(
                "I couldn't give you access to the group just now, so nothing changed. "
                "Please try again later; the leaders may need to check my permissions."
            ) from None
        return group

    async def decline_agreement(self, membership_id: int) -> Group:
        async with self._session_factory() as session:
            membership = await session.get(Membership, membership_id)
            if membership is None or membership.status != MembershipStatus.INVITED:
                raise UserFacingError("This invitation is no longer open.")
            membership.status = MembershipStatus.DECLINED
            group = await session.get(Group, membership.group_id)
            assert group is not None
            await session.commit()
            return group

    async def remove_member(
        self, guild: discord.Guild, group: Group, user_id: int, *, may_remove_leaders: bool
    ) -> None:
        """Take the role and every access away at once, voice included.

        Discord first, the record after: the database never says "removed" while the
        member still sees the group. If Discord refuses or fails, nothing is recorded and
        running `/group remove` again finishes the job (each step is idempotent).
        """
        async with self._session_factory() as session:
            membership = await queries.membership(session, group.id, user_id)
            if membership is None or membership.status not in (
                MembershipStatus.ACTIVE,
                MembershipStatus.INVITED,
            ):
                raise UserFacingError(f"<@{user_id}> isn't in **{group.name}**.")
            if membership.role == MemberRole.LEADER and not may_remove_leaders:
                raise UserFacingError(
                    "Only the group's leader or a server admin can remove a leader."
                )
            if (
                membership.role == MemberRole.LEADER
                and len(await queries.leader_ids(session, group.id)) == 1
            ):
                raise UserFacingError("That is the group's only leader: add another leader first.")
            live = await queries.live_meeting(session, group.id)
        if membership.status == MembershipStatus.ACTIVE:
            rooms = {r for r in (group.voice_channel_id, live and live.voice_channel_id) if r}
            await self._take_access(guild, group, user_id, rooms)
        async with self._session_factory() as session:
            await session.execute(
                update(Membership)
                .where(Membership.id == membership.id, Membership.status == membership.status)
                .values(status=MembershipStatus.REMOVED, left_at=self._clock.now())
            )
            await session.commit()

    async def _take_access(
        self, guild: discord.Guild, group: Group, user_id: int, rooms: set[int]
    ) -> None:
        """Take the group's role away and disconnect them from its rooms; raise if refused."""
        http = guild._state.http
        try:
            if group.role_id is not None:
                await http.remove_role(guild.id, user_id, group.role_id, reason="left the group")
            if _voice_channel_of(guild, user_id) in rooms:
                await http.edit_member(guild.id, user_id, channel_id=None, reason="left the group")
        except discord.Forbidden as error:
            raise MissingBotPermission(
                describe_missing(["manage_roles", "move_members"])
                + f" <@{user_id}> is still in **{group.name}**: run `/group remove` again "
                "once it is granted."
            ) from error
        except discord.HTTPException as error:
            if error.code == NOT_CONNECTED_TO_VOICE:
                return
            raise UserFacingError(
                f"Discord didn't complete the removal (it answered {error.status}), so "
                f"<@{user_id}> is still in **{group.name}**. Run `/group remove` again in a "
                "moment."
            ) from None

    async def set_agreement(self, group: Group, text: str) -> None:
        cleaned = text.strip()
        if not 20 <= len(cleaned) <= 4000:
            raise UserFacingError("The agreement needs 20 to 4,000 characters.")
        async with self._session_factory() as session:
            stored = await session.get(Group, group.id)
            assert stored is not None
            stored.agreement_text = cleaned
            await session.commit()

    async def update_settings(
        self, group: Group, change: Callable[[GroupSettings], GroupSettings]
    ) -> GroupSettings:
        """Apply a validated change to the group's stored settings."""
        try:
            async with self._session_factory() as session:
                stored = await session.get(Group, group.id)
                assert stored is not None
                updated = change(GroupSettings.from_dict(stored.settings))
                stored.settings = updated.to_dict()
                await session.commit()
        except (SettingsError, TemplateError) as error:
            raise UserFacingError(str(error)) from None
        group.settings = updated.to_dict()
        return updated

    async def summary(self, group: Group) -> GroupSummary:
        async with self._session_factory() as session:
            memberships = await queries.all_memberships(session, group.id)
            live, coming = await queries.live_and_next_meeting(
                session, group.id, self._clock.now()
            )
        return GroupSummary(group, memberships, next_meeting=coming, live_meeting=live)


def _voice_channel_of(guild: discord.Guild, user_id: int) -> int | None:
    state = guild._voice_state_for(user_id)
    return state.channel.id if state is not None and state.channel is not None else None


def _check_bot_can_build(guild: discord.Guild, adopted: AdoptedChannels) -> None:
    """Refuse before creating anything if the bot could not finish.

    The bot grants itself what it needs in each channel (Embed Links for the panel and the
    follow-ups, say), and Discord lets it grant only what it holds in the server, or in the
    category of a channel: a bit missing there would fail halfway with a bare 403."""
    me = guild.me.guild_permissions
    missing = [
        flag
        for flag in ("manage_roles", "manage_channels", "view_channel")
        if not getattr(me, flag)
    ]
    if not me.administrator:
        missing += _not_held(me, BOT_TEXT | BOT_VOICE)
    if missing:
        raise MissingBotPermission(describe_missing(missing))
    problem = untaggable(adopted.forum) if adopted.forum is not None else None
    if problem is not None:
        raise MissingBotPermission(f"I couldn't open case posts there: {problem}.")
    for channel in adopted.all():
        permissions = channel.permissions_for(guild.me)
        if not (permissions.manage_roles and permissions.view_channel):
            raise MissingBotPermission(
                f"I can't manage {channel.mention}: give the bot's role **Manage Permissions** "
                "and **View Channel** on it, or leave that option out and I'll create a channel."
            )
        category = channel.category
        if category is None or category in adopted.all() or me.administrator:
            continue
        lacking = _not_held(category.permissions_for(guild.me), bot_grants(kind_of(channel)))
        if lacking:
            raise MissingBotPermission(
                describe_missing(lacking)
                + f" (in the category {category.mention}, which holds {channel.mention})"
            )


def _not_held(held: discord.Permissions, wanted: discord.Permissions) -> list[str]:
    """The flags of ``wanted`` that ``held`` lacks, by name."""
    return [flag for flag, value in wanted if value and not getattr(held, flag)]


async def _delete_quietly(created: list[discord.abc.GuildChannel | discord.Role]) -> None:
    """Undo a half-built group, newest first; failures are logged, not raised."""
    for item in reversed(created):
        with contextlib.suppress(discord.HTTPException):
            await item.delete(reason="group creation failed")
            continue
        log.warning(
            "could not delete %s %s after a failed group creation", type(item).__name__, item.id
        )
