"""Discord's effective-permission algorithm, written from Discord's documentation.

Kept independent of discord.py so the hypothesis test compares two implementations.
"""

from __future__ import annotations

from enum import IntFlag

from .state import Channel, ChannelType, Guild, utcnow


class P(IntFlag):
    """Permission bits used by the emulator's checks."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_AUDIT_LOG = 1 << 7
    PRIORITY_SPEAKER = 1 << 8
    STREAM = 1 << 9
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    SEND_TTS_MESSAGES = 1 << 12
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    CONNECT = 1 << 20
    SPEAK = 1 << 21
    MUTE_MEMBERS = 1 << 22
    DEAFEN_MEMBERS = 1 << 23
    MOVE_MEMBERS = 1 << 24
    CHANGE_NICKNAME = 1 << 26
    MANAGE_NICKNAMES = 1 << 27
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    MANAGE_EVENTS = 1 << 33
    MANAGE_THREADS = 1 << 34
    CREATE_PUBLIC_THREADS = 1 << 35
    CREATE_PRIVATE_THREADS = 1 << 36
    SEND_MESSAGES_IN_THREADS = 1 << 38
    MODERATE_MEMBERS = 1 << 40
    CREATE_EVENTS = 1 << 44


# Every permission Discord defines (bits 0-52, minus the unused 47).
ALL = (1 << 53) - 1 & ~(1 << 47)
# Permissions that only mean something in a voice channel.
VOICE = 321607217185536
# Guild-wide permissions (as the Discord client treats them); the rest are channel-scoped
# and removed without VIEW_CHANNEL.
GUILD_ONLY = int(
    P.KICK_MEMBERS
    | P.BAN_MEMBERS
    | P.ADMINISTRATOR
    | P.MANAGE_GUILD
    | P.VIEW_AUDIT_LOG
    | (1 << 19)
    | P.CHANGE_NICKNAME
    | P.MANAGE_NICKNAMES
    | (1 << 30)
    | P.MANAGE_EVENTS
    | P.MODERATE_MEMBERS
    | (1 << 41)
    | (1 << 43)
    | P.CREATE_EVENTS
    | (1 << 48)
)
ALL_CHANNEL = ALL & ~GUILD_ONLY
# A timed-out member keeps only these.
TIMEOUT_KEEP = int(P.VIEW_CHANNEL | P.READ_MESSAGE_HISTORY)
# Lost when the member cannot send in the channel.
SEND_DEPENDENT = int(P.SEND_TTS_MESSAGES | P.MENTION_EVERYONE | P.EMBED_LINKS | P.ATTACH_FILES)


def base_permissions(guild: Guild, user_id: int) -> int:
    """Guild-level permissions: owner → all, @everyone | member roles, ADMINISTRATOR → all."""
    if user_id == guild.owner_id:
        return ALL
    member = guild.members[user_id]
    perms = guild.everyone.permissions
    for role_id in member.roles:
        role = guild.roles.get(role_id)
        if role is not None:
            perms |= role.permissions
    if perms & P.ADMINISTRATOR:
        return ALL
    return _apply_timeout(perms, guild, user_id)


def _overwritten(perms: int, guild: Guild, channel: Channel, user_id: int) -> int:
    """Apply @everyone, then the member's roles combined (deny, then allow), then the member."""
    member = guild.members[user_id]
    everyone = channel.overwrites.get(guild.id)
    if everyone is not None:
        perms = (perms & ~everyone.deny) | everyone.allow
    allow = deny = 0
    for role_id in member.roles:
        ow = channel.overwrites.get(role_id)
        if ow is not None and ow.type == 0:
            allow |= ow.allow
            deny |= ow.deny
    perms = (perms & ~deny) | allow
    own = channel.overwrites.get(user_id)
    if own is not None and own.type == 1:
        perms = (perms & ~own.deny) | own.allow
    return perms


def _apply_timeout(perms: int, guild: Guild, user_id: int) -> int:
    until = guild.members[user_id].communication_disabled_until
    if until is not None and until > utcnow():
        return perms & TIMEOUT_KEEP
    return perms


def channel_permissions(
    guild: Guild, channel: Channel, parent: Channel | None, user_id: int
) -> int:
    """Effective permissions of a member in a channel (threads use their parent's overwrites)."""
    base = base_permissions(guild, user_id)
    source = parent if channel.is_thread and parent is not None else channel
    perms = base
    if base != ALL:  # owner and administrators skip overwrites
        perms = _apply_timeout(_overwritten(base, guild, source, user_id), guild, user_id)
    send_flag = P.SEND_MESSAGES_IN_THREADS if channel.is_thread else P.SEND_MESSAGES
    if source.type != ChannelType.CATEGORY or channel.is_thread:
        if not perms & send_flag:
            perms &= ~SEND_DEPENDENT
        if not perms & P.VIEW_CHANNEL:
            perms &= ~ALL_CHANNEL
    if channel.is_voice:
        if not perms & P.CONNECT:
            perms &= ~(VOICE | int(P.MANAGE_CHANNELS | P.MANAGE_ROLES))
    elif not channel.is_thread and channel.type != ChannelType.CATEGORY:
        perms &= ~VOICE
    return perms


def has(perms: int, required: int) -> bool:
    """True if every bit of ``required`` is granted."""
    return perms & required == required
