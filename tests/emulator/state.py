"""In-memory Discord objects: the one source of truth for REST, gateway and control APIs."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .errors import unknown

DISCORD_EPOCH_MS = 1420070400000


class ChannelType(IntEnum):
    """Discord channel type numbers."""

    TEXT = 0
    DM = 1
    VOICE = 2
    CATEGORY = 4
    NEWS = 5
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    STAGE = 13
    FORUM = 15


VOICE_TYPES = frozenset({ChannelType.VOICE, ChannelType.STAGE})
THREAD_TYPES = frozenset({ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD})


_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)  # noqa: E731


def utcnow() -> dt.datetime:
    """The emulator's "now": the clock of the newest :class:`State` (the test's clock when a
    test gives one), for timestamps, timeouts and snowflakes alike."""
    return _clock()


class SnowflakeGenerator:
    """Timestamp-based ids like Discord's, strictly increasing even within one millisecond;
    their timestamp is the emulator's "now"."""

    def __init__(self, now: Callable[[], dt.datetime] = utcnow) -> None:
        self._now = now
        self._last_ms = 0
        self._increment = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        """A fresh snowflake whose timestamp is now."""
        with self._lock:
            now = int(self._now().timestamp() * 1000)
            if now <= self._last_ms:
                self._increment += 1
                if self._increment >= 4096:
                    self._last_ms += 1
                    self._increment = 0
            else:
                self._last_ms, self._increment = now, 0
            return (
                ((self._last_ms - DISCORD_EPOCH_MS) << 22) | (1 << 17) | (1 << 12) | self._increment
            )


def iso(moment: dt.datetime) -> str:
    """Discord's ISO-8601 timestamp format."""
    return moment.astimezone(dt.UTC).isoformat()


@dataclass
class User:
    """A Discord account (person or bot)."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    dms_open: bool = True


@dataclass
class Role:
    """A guild role; the @everyone role has ``id == guild_id`` and position 0."""

    id: int
    guild_id: int
    name: str
    permissions: int
    position: int
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed_bot_id: int | None = None


@dataclass
class Overwrite:
    """A channel permission overwrite; ``type`` 0 is a role, 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0


@dataclass
class Channel:
    """Any channel: guild text/voice/category/forum, thread or DM."""

    id: int
    type: ChannelType
    name: str
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    topic: str | None = None
    nsfw: bool = False
    bitrate: int = 64000
    user_limit: int = 0
    rate_limit_per_user: int = 0
    last_message_id: int | None = None
    recipient_ids: list[int] = field(default_factory=list)
    available_tags: list[dict[str, Any]] = field(default_factory=list)
    # thread fields
    owner_id: int | None = None
    archived: bool = False
    locked: bool = False
    auto_archive_duration: int = 1440
    applied_tags: list[int] = field(default_factory=list)
    message_count: int = 0
    created_at: dt.datetime = field(default_factory=utcnow)
    # when ``archived`` last changed, and the last "activity" (docs, Threads: a message, an
    # unarchive or a new auto_archive_duration) from which auto-archiving counts
    archive_timestamp: dt.datetime = field(default_factory=utcnow)
    active_at: dt.datetime = field(default_factory=utcnow)
    flags: int = 0  # channel flags: PINNED 1 << 1 (threads), REQUIRE_TAG 1 << 4 (forums)

    PINNED = 1 << 1
    REQUIRE_TAG = 1 << 4

    @property
    def is_thread(self) -> bool:
        """Threads (and forum posts) inherit permissions from their parent."""
        return self.type in THREAD_TYPES

    @property
    def is_voice(self) -> bool:
        """Voice and stage channels hold voice states."""
        return self.type in VOICE_TYPES

    def idle_expired(self, now: dt.datetime) -> bool:
        """An active, unpinned thread idle for its ``auto_archive_duration`` minutes, which
        Discord archives (docs, Threads: "Auto Archive")."""
        return (
            self.is_thread
            and not self.archived
            and not self.flags & self.PINNED
            and now - self.active_at >= dt.timedelta(minutes=self.auto_archive_duration)
        )


@dataclass
class Member:
    """A user's membership of a guild."""

    guild_id: int
    user_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    mute: bool = False
    deaf: bool = False
    joined_at: dt.datetime = field(default_factory=utcnow)
    communication_disabled_until: dt.datetime | None = None


@dataclass
class VoiceState:
    """A member connected to a voice channel.

    ``speak_granted`` is computed on join/move only, as Discord does: a later
    overwrite change does not affect it until the member is moved or rejoins.
    """

    guild_id: int
    user_id: int
    channel_id: int
    session_id: str
    speak_granted: bool
    self_mute: bool = False
    self_deaf: bool = False
    suppress: bool = False


@dataclass
class Message:
    """A message in a channel (or an ephemeral interaction message, held off-channel)."""

    id: int
    channel_id: int
    author_id: int
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    flags: int = 0
    type: int = 0
    guild_id: int | None = None
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    mention_ids: list[int] = field(default_factory=list)
    timestamp: dt.datetime = field(default_factory=utcnow)
    edited_timestamp: dt.datetime | None = None

    EPHEMERAL = 64
    LOADING = 128

    @property
    def ephemeral(self) -> bool:
        """True for messages only the invoking user sees."""
        return bool(self.flags & self.EPHEMERAL)

    def custom_ids(self) -> list[str]:
        """Every component custom_id on the message, in display order (for ``click``)."""
        return [c["custom_id"] for c in walk_components(self.components) if "custom_id" in c]


def walk_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten nested component trees (action rows, labels, containers, sections)."""
    flat: list[dict[str, Any]] = []
    for component in components:
        flat.append(component)
        flat.extend(walk_components(component.get("components", [])))
        if "component" in component:
            flat.extend(walk_components([component["component"]]))
        if "accessory" in component:
            flat.extend(walk_components([component["accessory"]]))
    return flat


@dataclass
class ScheduledEvent:
    """A guild scheduled event; status 1 scheduled, 2 active, 3 completed, 4 canceled."""

    id: int
    guild_id: int
    creator_id: int
    name: str
    scheduled_start_time: str
    entity_type: int
    privacy_level: int = 2
    status: int = 1
    channel_id: int | None = None
    description: str | None = None
    scheduled_end_time: str | None = None
    location: str | None = None
    image: str | None = None
    subscriber_ids: list[int] = field(default_factory=list)
    empty_since: dt.datetime | None = None  # active, and nobody in its channel since then


@dataclass
class AppCommand:
    """A synced application command as Discord stores it."""

    id: int
    application_id: int
    guild_id: int | None
    data: dict[str, Any]
    version: int

    @property
    def name(self) -> str:
        """The command's top-level name."""
        return str(self.data["name"])

    @property
    def type(self) -> int:
        """1 slash, 2 user, 3 message."""
        return int(self.data.get("type", 1))


@dataclass
class Guild:
    """A guild and everything scoped to it."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    voice_states: dict[int, VoiceState] = field(default_factory=dict)
    events: dict[int, ScheduledEvent] = field(default_factory=dict)
    # In an outage (docs, Gateway "Guild Delete": `unavailable` true): its events are not
    # sent, and a new session gets no GUILD_CREATE for it until it is back.
    unavailable: bool = False

    @property
    def everyone(self) -> Role:
        """The @everyone role, whose id equals the guild id."""
        return self.roles[self.id]


@dataclass
class Attachment:
    """Stored bytes of an uploaded file, served back at its URL."""

    id: int
    filename: str
    content_type: str
    data: bytes


class State:
    """All emulated Discord data plus the lookups that raise Discord's 404s."""

    def __init__(self, now: Callable[[], dt.datetime]) -> None:
        self.now = now
        self.snowflakes = SnowflakeGenerator(lambda: self.now())
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, dict[int, Message]] = {}
        self.ephemeral: dict[int, Message] = {}
        self.commands: dict[int, AppCommand] = {}
        self.files: dict[int, Attachment] = {}

    @property
    def now(self) -> Callable[[], dt.datetime]:
        """The clock behind every timestamp; setting it makes it the emulator's "now"."""
        return self._now

    @now.setter
    def now(self, clock: Callable[[], dt.datetime]) -> None:
        global _clock
        self._now = _clock = clock

    def new_id(self) -> int:
        """Next snowflake."""
        return self.snowflakes.next()

    def user(self, user_id: int) -> User:
        """User or 10013."""
        try:
            return self.users[user_id]
        except KeyError:
            raise unknown("user") from None

    def guild(self, guild_id: int) -> Guild:
        """Guild or 10004."""
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise unknown("guild") from None

    def channel(self, channel_id: int) -> Channel:
        """Channel or 10003."""
        try:
            return self.channels[channel_id]
        except KeyError:
            raise unknown("channel") from None

    def member(self, guild_id: int, user_id: int) -> Member:
        """Member or 10007."""
        try:
            return self.guild(guild_id).members[user_id]
        except KeyError:
            raise unknown("member") from None

    def role(self, guild_id: int, role_id: int) -> Role:
        """Role or 10011."""
        try:
            return self.guild(guild_id).roles[role_id]
        except KeyError:
            raise unknown("role") from None

    def message(self, channel_id: int, message_id: int) -> Message:
        """Message or 10008."""
        try:
            return self.messages[channel_id][message_id]
        except KeyError:
            raise unknown("message") from None

    def event(self, guild_id: int, event_id: int) -> ScheduledEvent:
        """Scheduled event or 10070."""
        try:
            return self.guild(guild_id).events[event_id]
        except KeyError:
            raise unknown("guild scheduled event") from None

    def guild_channels(self, guild_id: int) -> list[Channel]:
        """Non-thread channels of a guild ordered by position."""
        return _by_position(
            c for c in self.channels.values() if c.guild_id == guild_id and not c.is_thread
        )

    def threads(self, guild_id: int) -> list[Channel]:
        """Threads of a guild (GUILD_CREATE lists the active ones)."""
        return [c for c in self.channels.values() if c.guild_id == guild_id and c.is_thread]

    def channels_by_guild(self) -> dict[int, tuple[list[Channel], list[Channel]]]:
        """Every guild's channels (by position) and threads, in one pass over the channels:
        an IDENTIFY sends a GUILD_CREATE per guild, and asking `guild_channels` and `threads`
        for each of a thousand guilds would scan every channel two thousand times."""
        grouped: dict[int, tuple[list[Channel], list[Channel]]] = {}
        for c in self.channels.values():
            if c.guild_id is not None:
                grouped.setdefault(c.guild_id, ([], []))[c.is_thread].append(c)
        return {
            guild_id: (_by_position(channels), threads)
            for guild_id, (channels, threads) in grouped.items()
        }

    def guild_of_channel(self, channel: Channel) -> Guild | None:
        """The channel's guild, or None for DMs."""
        return None if channel.guild_id is None else self.guild(channel.guild_id)

    def dm_channel(self, user_id: int) -> Channel | None:
        """The existing DM channel between the bot and a user (one bot per emulator)."""
        for channel in self.channels.values():
            if channel.type == ChannelType.DM and channel.recipient_ids == [user_id]:
                return channel
        return None

    def add_message(self, message: Message) -> Message:
        """Store a message in its channel and bump the channel's counters."""
        self.messages.setdefault(message.channel_id, {})[message.id] = message
        channel = self.channels[message.channel_id]
        channel.last_message_id = message.id
        if channel.is_thread:
            channel.message_count += 1
        return message

    def highest_role_position(self, guild: Guild, user_id: int) -> int:
        """Position of the member's top role; the owner outranks everyone."""
        if user_id == guild.owner_id:
            return 1 << 30
        member = guild.members[user_id]
        return max((guild.roles[r].position for r in member.roles if r in guild.roles), default=0)


def _by_position(channels: Iterable[Channel]) -> list[Channel]:
    """Channels in the order Discord lists them."""
    return sorted(channels, key=lambda c: (c.position, c.id))
