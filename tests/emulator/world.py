"""State changes with their side effects (gateway dispatches), shared by REST and control."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from . import automation, payloads
from .errors import (
    ApiError,
    invalid_form,
    missing_access,
    missing_permissions,
    thread_archived,
)
from .gateway import Gateway
from .limits import check_manage_roles_bit, check_message_components
from .permissions import ALL, P, channel_permissions, has
from .permissions import base_permissions as guild_base
from .state import (
    Attachment,
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    Overwrite,
    Role,
    State,
    VoiceState,
    walk_components,
)

DM_PERMISSIONS = int(
    P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.ADD_REACTIONS
)
_MENTION = re.compile(r"<@!?(\d+)>")
_ALLOWED_FLAGS = 4 | 64 | 4096 | 32768  # suppress embeds, ephemeral, silent, components v2


@dataclass
class Upload:
    """A file part of a multipart request (``files[n]``)."""

    field: str
    filename: str
    content_type: str
    data: bytes


def snowflake(value: Any) -> int:
    """discord.py sends ids as ints or strings; normalise."""
    return int(value)


class World:
    """The state plus the events Discord emits when it changes."""

    def __init__(self, state: State, gateway: Gateway, bot_id: int, base_url: str) -> None:
        self.state = state
        self.gateway = gateway
        self.bot_id = bot_id
        self.base_url = base_url

    # permissions ----------------------------------------------------------------

    def perms(self, user_id: int, channel: Channel) -> int:
        """Effective permissions of a user in a channel (DMs: what a DM allows)."""
        if channel.guild_id is None:
            return DM_PERMISSIONS if user_id in [*channel.recipient_ids, self.bot_id] else 0
        guild = self.state.guild(channel.guild_id)
        if user_id not in guild.members:
            return 0
        parent = self.state.channels.get(channel.parent_id) if channel.parent_id else None
        return channel_permissions(guild, channel, parent, user_id)

    def guild_perms(self, guild: Guild, user_id: int) -> int:
        """Guild-level permissions of a member."""
        return guild_base(guild, user_id) if user_id in guild.members else 0

    def require(self, channel: Channel, needed: int, user_id: int | None = None) -> int:
        """Raise 50001 without VIEW_CHANNEL, 50013 without ``needed``; return the permissions."""
        perms = self.perms(self.bot_id if user_id is None else user_id, channel)
        if not perms & P.VIEW_CHANNEL:
            raise missing_access()
        if not has(perms, needed):
            raise missing_permissions()
        return perms

    def require_guild(self, guild: Guild, needed: int) -> None:
        """Raise 50013 unless the bot holds ``needed`` guild-wide."""
        if not has(self.guild_perms(guild, self.bot_id), needed):
            raise missing_permissions()

    def require_above(self, guild: Guild, role_position: int) -> None:
        """Role hierarchy: the bot can only manage roles below its highest role."""
        if self.state.highest_role_position(guild, self.bot_id) <= role_position:
            raise missing_permissions()

    # channels -------------------------------------------------------------------

    async def channel_changed(self, channel: Channel, *, created: bool = False) -> None:
        """Dispatch CHANNEL_*/THREAD_* for a created or updated channel."""
        data = payloads.channel(self.state, channel)
        if channel.type == ChannelType.DM:
            return
        if channel.is_thread:
            event = "THREAD_CREATE" if created else "THREAD_UPDATE"
            if created:
                data["newly_created"] = True
        else:
            event = "CHANNEL_CREATE" if created else "CHANNEL_UPDATE"
        await self.gateway.dispatch(event, data)

    def check_overwrite_edit(self, channel: Channel, overwrite: Overwrite) -> None:
        """MANAGE_ROLES in the channel, and only bits the bot holds "in the guild or parent
        channel (if applicable)" unless it has an explicit MANAGE_ROLES overwrite there or is
        an administrator (docs: "Edit Channel Permissions"); the MANAGE_ROLES bit itself
        only with that overwrite or as administrator (limits.check_manage_roles_bit).
        Holding a bit is judged where the docs say, not in the channel itself, where Discord
        strips e.g. voice bits from a text channel."""
        perms = self.require(channel, P.MANAGE_ROLES)
        explicit = self._has_manage_roles_overwrite(channel)
        check_manage_roles_bit(overwrite, channel.overwrites.get(overwrite.id), perms, explicit)
        if perms == ALL or explicit:
            return
        guild = self.state.guild(channel.guild_id or 0)
        parent = self.state.channels.get(channel.parent_id) if channel.parent_id else None
        held = self.perms(self.bot_id, parent) if parent else self.guild_perms(guild, self.bot_id)
        if (overwrite.allow | overwrite.deny) & ~held:
            raise missing_permissions()

    def _has_manage_roles_overwrite(self, channel: Channel) -> bool:
        guild = self.state.guild(channel.guild_id or 0)
        mine = [self.bot_id, *guild.members[self.bot_id].roles]
        return any(
            ow.allow & P.MANAGE_ROLES for oid, ow in channel.overwrites.items() if oid in mine
        )

    async def set_overwrite(self, channel: Channel, overwrite: Overwrite) -> None:
        """Store an overwrite and dispatch CHANNEL_UPDATE (discord.py's cache relies on it)."""
        channel.overwrites[overwrite.id] = overwrite
        await self.channel_changed(channel)

    async def delete_channel(self, channel: Channel) -> None:
        """Delete a channel, its threads and its messages; disconnect voice; orphan children."""
        guild = self.state.guild_of_channel(channel)
        data = payloads.channel(self.state, channel)
        del self.state.channels[channel.id]
        self.state.messages.pop(channel.id, None)
        if channel.is_thread:
            await self.gateway.dispatch(
                "THREAD_DELETE",
                {k: data[k] for k in ("id", "guild_id", "parent_id", "type")},
            )
            return
        await self.gateway.dispatch("CHANNEL_DELETE", data)
        if guild is None:
            return
        for vs in [v for v in guild.voice_states.values() if v.channel_id == channel.id]:
            await self.set_voice(guild, vs.user_id, None)
        for other in list(self.state.channels.values()):
            if other.parent_id == channel.id:
                if other.is_thread:
                    await self.delete_channel(other)
                else:
                    other.parent_id = None
                    await self.channel_changed(other)

    async def insert_role(self, guild: Guild, role: Role) -> None:
        """Add a role at ``role.position``, shifting the roles above it up (GUILD_ROLE_CREATE,
        then GUILD_ROLE_UPDATE for every shifted role, as Discord does)."""
        shifted = [
            r for r in guild.roles.values() if r.id != guild.id and r.position >= role.position
        ]
        for other in shifted:
            other.position += 1
        guild.roles[role.id] = role
        await self.gateway.dispatch(
            "GUILD_ROLE_CREATE", {"guild_id": str(guild.id), "role": payloads.role(role)}
        )
        for other in shifted:
            await self.role_changed(other)

    async def role_changed(self, role: Role) -> None:
        """Dispatch GUILD_ROLE_UPDATE."""
        await self.gateway.dispatch(
            "GUILD_ROLE_UPDATE", {"guild_id": str(role.guild_id), "role": payloads.role(role)}
        )

    # members & voice ------------------------------------------------------------

    async def member_changed(self, member: Member) -> None:
        """Dispatch GUILD_MEMBER_UPDATE."""
        data = payloads.member(self.state, member)
        data["guild_id"] = str(member.guild_id)
        await self.gateway.dispatch("GUILD_MEMBER_UPDATE", data)

    async def set_voice(self, guild: Guild, user_id: int, channel_id: int | None) -> None:
        """Connect, move or disconnect a member; SPEAK is evaluated now and frozen until the next
        move or rejoin, as Discord does."""
        if channel_id is None:
            if guild.voice_states.pop(user_id, None) is not None:
                automation.note_voice(self.state, guild)
                await self.gateway.dispatch(
                    "VOICE_STATE_UPDATE",
                    payloads.disconnected_voice_state(self.state, guild.id, user_id),
                )
            return
        channel = self.state.channel(channel_id)
        speak = has(self.perms(user_id, channel), P.SPEAK)
        previous = guild.voice_states.get(user_id)
        vs = VoiceState(
            guild_id=guild.id,
            user_id=user_id,
            channel_id=channel_id,
            session_id=previous.session_id if previous else secrets.token_hex(16),
            speak_granted=speak,
            self_mute=previous.self_mute if previous else False,
            self_deaf=previous.self_deaf if previous else False,
        )
        guild.voice_states[user_id] = vs
        automation.note_voice(self.state, guild)
        await self.gateway.dispatch("VOICE_STATE_UPDATE", payloads.voice_state(self.state, vs))

    def can_speak(self, guild: Guild, user_id: int) -> bool:
        """Connected, SPEAK granted at the last join/move, not server-muted, not suppressed."""
        vs = guild.voice_states.get(user_id)
        if vs is None:
            return False
        return vs.speak_granted and not guild.members[user_id].mute and not vs.suppress

    # messages -------------------------------------------------------------------

    def build_message(
        self,
        channel: Channel,
        author_id: int,
        body: dict[str, Any],
        uploads: list[Upload],
        **fields: Any,
    ) -> Message:
        """Validate a message body like Discord does and build the Message (not yet stored)."""
        message = Message(
            id=self.state.new_id(),
            channel_id=channel.id,
            author_id=author_id,
            guild_id=channel.guild_id,
            **fields,
        )
        self.apply_message_body(message, body, uploads)
        if not (message.content or message.embeds or message.components or message.attachments):
            raise ApiError(400, 50006, "Cannot send an empty message")
        return message

    def apply_message_body(
        self, message: Message, body: dict[str, Any], uploads: list[Upload]
    ) -> None:
        """Apply content/embeds/components/attachments/flags from a create or edit body."""
        if "content" in body:
            content = body["content"] or ""
            if len(content) > 2000:
                raise invalid_form(
                    "content", "Must be 2000 or fewer in length.", "BASE_TYPE_MAX_LENGTH"
                )
            message.content = content
            allowed = body.get("allowed_mentions")
            ids = [int(m) for m in _MENTION.findall(content)]
            if allowed is not None and "users" not in allowed.get("parse", []):
                ids = [i for i in ids if str(i) in {str(u) for u in allowed.get("users", [])}]
            message.mention_ids = ids
        if "embeds" in body:
            message.embeds = _check_embeds(body["embeds"] or [])
        if "components" in body:
            check_message_components(body["components"] or [], int(body.get("flags") or 0))
            message.components = _check_components(body["components"] or [])
        if "flags" in body and body["flags"] is not None:
            message.flags = (message.flags & ~_ALLOWED_FLAGS) | (
                int(body["flags"]) & _ALLOWED_FLAGS
            )
        if "attachments" in body or uploads:
            message.attachments = self._attachments(message, body.get("attachments"), uploads)

    def _attachments(
        self, message: Message, described: list[dict[str, Any]] | None, uploads: list[Upload]
    ) -> list[dict[str, Any]]:
        by_field = {u.field: u for u in uploads}
        kept = {str(a["id"]): a for a in message.attachments}
        result: list[dict[str, Any]] = []
        entries = (
            described
            if described is not None
            else [{"id": i} for i in range(len(uploads))] + [{"id": k} for k in kept]
        )
        for entry in entries:
            key = str(entry["id"])
            if key in kept:
                result.append(kept[key])
                continue
            upload = by_field.get(f"files[{key}]")
            if upload is None:
                continue
            stored = Attachment(
                self.state.new_id(), upload.filename, upload.content_type, upload.data
            )
            self.state.files[stored.id] = stored
            url = f"{self.base_url}/attachments/{message.channel_id}/{stored.id}/{stored.filename}"
            attachment = {
                "id": str(stored.id),
                "filename": entry.get("filename", upload.filename),
                "content_type": upload.content_type,
                "size": len(upload.data),
                "url": url,
                "proxy_url": url,
            }
            if entry.get("description") is not None:  # Discord omits an absent one
                attachment["description"] = entry["description"]
            result.append(attachment)
        return result

    def check_can_post(self, channel: Channel, author_id: int, message: Message) -> None:
        """VIEW_CHANNEL + SEND_MESSAGES (SEND_MESSAGES_IN_THREADS in threads), ATTACH_FILES for
        files, EMBED_LINKS for embeds, and archived/locked thread rules."""
        send = P.SEND_MESSAGES_IN_THREADS if channel.is_thread else P.SEND_MESSAGES
        needed = send | (P.ATTACH_FILES if message.attachments else 0)
        perms = self.require(channel, needed, author_id)
        if channel.is_thread:
            self.check_thread_writable(channel, perms)
        self.check_embed_links(message, perms, creating=True)
        if channel.type in (ChannelType.CATEGORY, ChannelType.FORUM):
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        if channel.type == ChannelType.DM and author_id == self.bot_id:
            user = self.state.users[channel.recipient_ids[0]]
            shares_guild = any(
                user.id in g.members and self.bot_id in g.members
                for g in self.state.guilds.values()
            )
            if not user.dms_open or not shares_guild or user.bot:
                raise ApiError(403, 50007, "Cannot send messages to this user")

    def check_thread_writable(self, thread: Channel, perms: int) -> None:
        """Locked threads take messages only from MANAGE_THREADS holders (160005); sending
        unarchives a thread "unless the thread has been locked by a moderator" (docs,
        Threads), so an archived locked thread refuses it (50083)."""
        if thread.locked and thread.archived:
            raise thread_archived()
        if thread.locked and not perms & P.MANAGE_THREADS:
            raise ApiError(400, 160005, "Thread is locked")

    @staticmethod
    def check_embed_links(message: Message, perms: int, *, creating: bool) -> None:
        """Without EMBED_LINKS Discord drops a message's embeds; a new message left with
        nothing else is refused 403 50013 (discord-api-docs#2601), an edit left empty 50006."""
        if not message.embeds or perms & P.EMBED_LINKS:
            return
        message.embeds = []
        if not (message.content or message.components or message.attachments):
            if creating:
                raise missing_permissions()
            raise ApiError(400, 50006, "Cannot send an empty message")

    async def archive_idle_threads(self) -> list[Channel]:
        """Archive every thread idle for its auto_archive_duration on the emulator's clock
        (THREAD_UPDATE each), as Discord does in the background; run before each request."""
        now = self.state.now()
        idle = [c for c in self.state.channels.values() if c.idle_expired(now)]
        for thread in idle:
            await self.set_archived(thread, True)
        return idle

    async def set_archived(self, thread: Channel, archived: bool) -> None:
        """Archive or unarchive (both move ``archive_timestamp``; unarchiving is activity)."""
        now = self.state.now()
        thread.archived, thread.archive_timestamp = archived, now
        if archived:
            thread.flags &= ~Channel.PINNED  # "archiving that thread will unset the flag"
        else:
            thread.active_at = now
        await self.channel_changed(thread)

    async def post_message(self, message: Message) -> Message:
        """Store a message, unarchive its thread, and dispatch MESSAGE_CREATE."""
        self.state.add_message(message)
        channel = self.state.channels[message.channel_id]
        if channel.is_thread:
            channel.active_at = self.state.now()
            if channel.archived:
                await self.set_archived(channel, False)
        await self.gateway.dispatch("MESSAGE_CREATE", payloads.message(self.state, message))
        return message

    async def message_edited(self, message: Message) -> None:
        """Mark edited and dispatch MESSAGE_UPDATE (ephemeral messages are never dispatched)."""
        message.edited_timestamp = self.state.now()
        if not message.ephemeral:
            await self.gateway.dispatch("MESSAGE_UPDATE", payloads.message(self.state, message))

    async def delete_message(self, message: Message) -> None:
        """Remove a message and dispatch MESSAGE_DELETE."""
        self.state.messages.get(message.channel_id, {}).pop(message.id, None)
        self.state.ephemeral.pop(message.id, None)
        if message.ephemeral:
            return
        data = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            data["guild_id"] = str(message.guild_id)
        await self.gateway.dispatch("MESSAGE_DELETE", data)

    async def dm_channel(self, user_id: int) -> Channel:
        """The bot's DM channel with a user, created on first use."""
        self.state.user(user_id)
        channel = self.state.dm_channel(user_id)
        if channel is None:
            channel = Channel(
                id=self.state.new_id(), type=ChannelType.DM, name="", recipient_ids=[user_id]
            )
            self.state.channels[channel.id] = channel
        return channel


# Discord's embed limits (docs, Message: "Embed Limits"), counted without leading and
# trailing whitespace; the six kinds of text also count towards 6000 across all embeds.
_EMBED_TEXT = {"title": 256, "description": 4096}
_EMBED_PART_TEXT = {"footer": ("text", 2048), "author": ("name", 256)}
_FIELD_TEXT = {"name": 256, "value": 1024}
MAX_EMBEDS, MAX_FIELDS, MAX_EMBED_TOTAL = 10, 25, 6000


def _measured(value: Any) -> int:
    return len(str(value or "").strip())


def _too_long(path: str, limit: int) -> ApiError:
    return invalid_form(path, f"Must be {limit} or fewer in length.", "BASE_TYPE_MAX_LENGTH")


def _check_embeds(embeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every limit, with the path of the first offending field (``embeds.0.fields.3.value``);
    the stored embeds get ``type: rich`` like Discord's."""
    if len(embeds) > MAX_EMBEDS:
        raise _too_long("embeds", MAX_EMBEDS)
    total = 0
    for i, embed in enumerate(embeds):
        for key, limit in _EMBED_TEXT.items():
            total += _measured(embed.get(key))
            if _measured(embed.get(key)) > limit:
                raise _too_long(f"embeds.{i}.{key}", limit)
        for part, (key, limit) in _EMBED_PART_TEXT.items():
            text = (embed.get(part) or {}).get(key)
            total += _measured(text)
            if _measured(text) > limit:
                raise _too_long(f"embeds.{i}.{part}.{key}", limit)
        fields = embed.get("fields") or []
        if len(fields) > MAX_FIELDS:
            raise _too_long(f"embeds.{i}.fields", MAX_FIELDS)
        for j, field in enumerate(fields):
            for key, limit in _FIELD_TEXT.items():
                total += _measured(field.get(key))
                if _measured(field.get(key)) > limit:
                    raise _too_long(f"embeds.{i}.fields.{j}.{key}", limit)
    if total > MAX_EMBED_TOTAL:
        raise ApiError(
            400,
            50035,
            "Invalid Form Body",
            {
                "embeds": {
                    "_errors": [
                        {
                            "code": "MAX_EMBED_SIZE_EXCEEDED",
                            "message": f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
                        }
                    ]
                }
            },
        )
    return [{"type": "rich", **embed} for embed in embeds]


def _check_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """custom_id at most 100 characters and unique per message."""
    seen: set[str] = set()
    for component in walk_components(components):
        custom_id = component.get("custom_id")
        if custom_id is None:
            continue
        if len(custom_id) > 100:
            raise invalid_form(
                "components", "Must be 100 or fewer in length.", "BASE_TYPE_MAX_LENGTH"
            )
        if custom_id in seen:
            raise invalid_form(
                "components",
                "Component custom id cannot be duplicated",
                "COMPONENT_CUSTOM_ID_DUPLICATED",
            )
        seen.add(custom_id)
    return components
