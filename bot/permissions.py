"""The Discord permissions the bot asks for, each with the reason it needs it.

The invite URL and the "missing permission" messages are computed from this one
list, so asking for a new permission means saying here why.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord


@dataclass(frozen=True)
class RequiredPermission:
    flag: str
    label: str
    reason: str


REQUIRED_PERMISSIONS: tuple[RequiredPermission, ...] = (
    RequiredPermission(
        "view_channel", "View Channels", "to see the group's channels and the lobby"
    ),
    RequiredPermission(
        "manage_channels",
        "Manage Channels",
        "to create each group's private category, text, voice and forum channels",
    ),
    RequiredPermission(
        "manage_roles",
        "Manage Roles",
        "to give members the group role and to silence the presenter with channel overwrites",
    ),
    RequiredPermission(
        "send_messages", "Send Messages", "to post the session panel, cues and reminders"
    ),
    RequiredPermission(
        "send_messages_in_threads",
        "Send Messages in Threads",
        "to post follow-ups in each case's forum post",
    ),
    RequiredPermission(
        "create_public_threads",
        "Create Public Threads",
        "to open a forum post for each presented case",
    ),
    RequiredPermission(
        "manage_threads", "Manage Threads", "to lock case posts when a group is archived"
    ),
    RequiredPermission(
        "embed_links", "Embed Links", "to show the session panel and summaries as embeds"
    ),
    RequiredPermission(
        "read_message_history",
        "Read Message History",
        "to find the messages to clear after a meeting",
    ),
    RequiredPermission(
        "manage_messages",
        "Manage Messages",
        "to clear the session text channel after a meeting, for groups that choose it",
    ),
    RequiredPermission(
        "connect", "Connect", "because Discord only lets a bot move members into rooms it can join"
    ),
    RequiredPermission(
        "speak",
        "Speak",
        "because Discord only lets a bot deny the presenter a permission the bot has itself",
    ),
    RequiredPermission(
        "add_reactions",
        "Add Reactions",
        "to pause the presenter's reactions in the chat while they listen",
    ),
    RequiredPermission(
        "move_members",
        "Move Members",
        "to bring members from the lobby into the room and to make the "
        "presenter's silence take effect at once",
    ),
    RequiredPermission(
        "create_events",
        "Create Events",
        "to publish each meeting as a Discord event and start and end it",
    ),
)


def required_permissions() -> discord.Permissions:
    """Exactly the permissions in `REQUIRED_PERMISSIONS`."""
    return discord.Permissions(**{permission.flag: True for permission in REQUIRED_PERMISSIONS})


def lacking(granted: discord.Permissions) -> list[RequiredPermission]:
    """The required permissions `granted` does not hold (administrator not implied)."""
    return [p for p in REQUIRED_PERMISSIONS if not getattr(granted, p.flag)]


def describe_missing(missing_flags: list[str]) -> str:
    """One sentence naming what to grant and why, for a leader to act on.

    With no flags known (Discord said only "Missing Permissions"), it names them all.
    """
    wanted = [p for p in REQUIRED_PERMISSIONS if not missing_flags or p.flag in missing_flags]
    unknown = [flag for flag in missing_flags if flag not in {p.flag for p in wanted}]
    parts = [f"**{p.label}** ({p.reason})" for p in wanted]
    parts += [f"**{flag.replace('_', ' ').title()}**" for flag in unknown]
    return "I'm missing a permission here. Please grant the bot's role " + ", ".join(parts) + "."
