"""JSON shapes of the emulated objects, exactly as Discord's API and gateway send them."""

from __future__ import annotations

from typing import Any

from .state import (
    AppCommand,
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    Role,
    ScheduledEvent,
    State,
    User,
    VoiceState,
    iso,
)

JSON = dict[str, Any]


def user(u: User) -> JSON:
    """A user object."""
    return {
        "id": str(u.id),
        "username": u.username,
        "global_name": u.global_name,
        "discriminator": "0",
        "avatar": None,
        "bot": u.bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
        "primary_guild": None,
    }


def numbered(components: list[JSON]) -> list[JSON]:
    """Components as Discord returns them: each with a numeric ``id``, given in document
    order where the sender left it out."""
    counter = iter(range(1, 1_000))

    def number(component: JSON) -> JSON:
        children = {"components": [number(c) for c in component["components"]]} if (
            "components" in component) else {}
        return {**component, "id": component.get("id") or next(counter), **children}

    return [number(c) for c in components]


def role(r: Role) -> JSON:
    """A role object; managed bot roles carry ``tags.bot_id``."""
    data: JSON = {
        "id": str(r.id),
        "name": r.name,
        "permissions": str(r.permissions),
        "position": r.position,
        "color": r.color,
        "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
        "hoist": r.hoist,
        "managed": r.managed_bot_id is not None,
        "mentionable": r.mentionable,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }
    if r.managed_bot_id is not None:
        data["tags"] = {"bot_id": str(r.managed_bot_id)}
    return data


def member(state: State, m: Member, *, with_user: bool = True) -> JSON:
    """A guild member object (``user`` omitted where Discord omits it, e.g. resolved data)."""
    data: JSON = {
        "roles": [str(r) for r in m.roles],
        "nick": m.nick,
        "avatar": None,
        "banner": None,
        "joined_at": iso(m.joined_at),
        "premium_since": None,
        "deaf": m.deaf,
        "mute": m.mute,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": (
            iso(m.communication_disabled_until) if m.communication_disabled_until else None
        ),
    }
    if with_user:
        data["user"] = user(state.users[m.user_id])
    return data


def overwrites(c: Channel) -> list[JSON]:
    """Permission overwrites with string bitfields, @everyone first as Discord orders them."""
    ordered = sorted(c.overwrites.values(), key=lambda o: (o.id != c.guild_id, o.type, o.id))
    return [
        {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
        for o in ordered
    ]


def channel(state: State, c: Channel) -> JSON:
    """A channel object for any channel type."""
    data: JSON = {
        "id": str(c.id),
        "type": int(c.type),
        "last_message_id": None if c.last_message_id is None else str(c.last_message_id),
        "flags": c.flags,
    }
    if c.type == ChannelType.DM:
        data["recipients"] = [user(state.users[r]) for r in c.recipient_ids]
        return data
    data.update(
        guild_id=str(c.guild_id),
        name=c.name,
        parent_id=None if c.parent_id is None else str(c.parent_id),
        rate_limit_per_user=c.rate_limit_per_user,
        nsfw=c.nsfw,
    )
    if c.is_thread:
        data.update(
            owner_id=str(c.owner_id),
            message_count=c.message_count,
            total_message_sent=c.message_count,
            member_count=1,
            applied_tags=[str(t) for t in c.applied_tags],
            thread_metadata={
                "archived": c.archived,
                "locked": c.locked,
                "auto_archive_duration": c.auto_archive_duration,
                "archive_timestamp": iso(c.archive_timestamp),
                "create_timestamp": iso(c.created_at),
            },
        )
        return data
    data.update(position=c.position, permission_overwrites=overwrites(c))
    if c.is_voice:
        data.update(bitrate=c.bitrate, user_limit=c.user_limit, rtc_region=None)
    if c.type in (ChannelType.TEXT, ChannelType.NEWS, ChannelType.FORUM):
        data.update(topic=c.topic, default_auto_archive_duration=c.auto_archive_duration)
    if c.type == ChannelType.FORUM:
        data.update(
            available_tags=c.available_tags,
            default_reaction_emoji=None,
            default_sort_order=None,
            default_forum_layout=0,
            default_thread_rate_limit_per_user=0,
        )
    return data


def voice_state(state: State, vs: VoiceState) -> JSON:
    """A voice state, with the member object the gateway includes."""
    m = state.guilds[vs.guild_id].members[vs.user_id]
    return {
        "guild_id": str(vs.guild_id),
        "channel_id": str(vs.channel_id),
        "user_id": str(vs.user_id),
        "member": member(state, m),
        "session_id": vs.session_id,
        "deaf": m.deaf,
        "mute": m.mute,
        "self_deaf": vs.self_deaf,
        "self_mute": vs.self_mute,
        "self_stream": False,
        "self_video": False,
        "suppress": vs.suppress,
        "request_to_speak_timestamp": None,
    }


def disconnected_voice_state(state: State, guild_id: int, user_id: int) -> JSON:
    """VOICE_STATE_UPDATE payload for a member who left voice."""
    m = state.guilds[guild_id].members[user_id]
    return {
        "guild_id": str(guild_id),
        "channel_id": None,
        "user_id": str(user_id),
        "member": member(state, m),
        "session_id": "",
        "deaf": m.deaf,
        "mute": m.mute,
        "self_deaf": False,
        "self_mute": False,
        "self_stream": False,
        "self_video": False,
        "suppress": False,
        "request_to_speak_timestamp": None,
    }


def message(state: State, m: Message) -> JSON:
    """A message object; ``guild_id`` included as the gateway does."""
    data: JSON = {
        "id": str(m.id),
        "channel_id": str(m.channel_id),
        "author": user(state.users[m.author_id]),
        "content": m.content,
        "timestamp": iso(m.timestamp),
        "edited_timestamp": None if m.edited_timestamp is None else iso(m.edited_timestamp),
        "tts": False,
        "mention_everyone": False,
        "mentions": [user(state.users[u]) for u in m.mention_ids if u in state.users],
        "mention_roles": [],
        "attachments": m.attachments,
        "embeds": m.embeds,
        "components": numbered(m.components),
        "pinned": False,
        "type": m.type,
        "flags": m.flags,
    }
    if m.guild_id is not None:
        data["guild_id"] = str(m.guild_id)
        guild = state.guilds[m.guild_id]
        if m.author_id in guild.members and m.webhook_id is None:
            data["member"] = member(state, guild.members[m.author_id], with_user=False)
    if m.webhook_id is not None:
        data["webhook_id"] = str(m.webhook_id)
    if m.application_id is not None:
        data["application_id"] = str(m.application_id)
    if m.interaction_metadata is not None:
        data["interaction_metadata"] = m.interaction_metadata
    return data


def scheduled_event(state: State, e: ScheduledEvent, *, with_count: bool = True) -> JSON:
    """A guild scheduled event object."""
    data: JSON = {
        "id": str(e.id),
        "guild_id": str(e.guild_id),
        "channel_id": None if e.channel_id is None else str(e.channel_id),
        "creator_id": str(e.creator_id),
        "creator": user(state.users[e.creator_id]),
        "name": e.name,
        "description": e.description,
        "scheduled_start_time": e.scheduled_start_time,
        "scheduled_end_time": e.scheduled_end_time,
        "privacy_level": e.privacy_level,
        "status": e.status,
        "entity_type": e.entity_type,
        "entity_id": None,
        "entity_metadata": {"location": e.location} if e.location is not None else None,
        "image": e.image,
        "recurrence_rule": None,
        "guild_scheduled_event_exceptions": [],
    }
    if with_count:
        data["user_count"] = len(e.subscriber_ids)
    return data


def command(c: AppCommand) -> JSON:
    """An application command as returned by the sync endpoints."""
    data: JSON = {
        "type": 1,
        "description": "",
        "options": [],
        "default_member_permissions": None,
        "nsfw": False,
        "contexts": None,
        **c.data,
        "id": str(c.id),
        # Discord stores its default when a command is synced with null (guild install).
        "integration_types": c.data.get("integration_types") or [0],
        "application_id": str(c.application_id),
        "version": str(c.version),
    }
    if c.guild_id is not None:
        data["guild_id"] = str(c.guild_id)
    return data


def guild(state: State, g: Guild) -> JSON:
    """A guild object as GET /guilds/{id} returns it."""
    return {
        "id": str(g.id),
        "name": g.name,
        "owner_id": str(g.owner_id),
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "features": [],
        "roles": [role(r) for r in g.roles.values()],
        "emojis": [],
        "stickers": [],
        "max_members": 500000,
        "approximate_member_count": len(g.members),
    }


def guild_create(
    state: State, g: Guild, channels: tuple[list[Channel], list[Channel]] | None = None
) -> JSON:
    """The full GUILD_CREATE payload: roles, channels, threads, members, voice states, events.

    `channels` are the guild's channels and threads when the caller has them grouped
    already (`State.channels_by_guild`)."""
    listed, threads = channels or (state.guild_channels(g.id), state.threads(g.id))
    data = guild(state, g)
    data.update(
        unavailable=False,
        large=False,
        joined_at=iso(g.members[next(iter(g.members))].joined_at),
        member_count=len(g.members),
        channels=[channel(state, c) for c in listed],
        threads=[channel(state, c) for c in threads if not c.archived],
        members=[member(state, m) for m in g.members.values()],
        voice_states=[
            {k: v for k, v in voice_state(state, vs).items() if k != "member"}
            for vs in g.voice_states.values()
        ],
        presences=[],
        stage_instances=[],
        guild_scheduled_events=[scheduled_event(state, e) for e in g.events.values()],
        soundboard_sounds=[],
    )
    return data
