"""The command tree that checks every typed value before any command runs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import discord
from discord import app_commands

from bot import messages
from bot.domain.input_checks import number_refusal, text_refusal
from bot.replies import reply_ephemeral

_STRING, _INTEGER, _NUMBER = 3, 4, 10
_SUBCOMMANDS = (1, 2)


def typed_values(options: list[Mapping[str, Any]]) -> Iterator[tuple[str, int, Any]]:
    """(name, type, value) of every option given, through subcommands and groups."""
    for option in options:
        if option.get("type") in _SUBCOMMANDS:
            yield from typed_values(option.get("options") or [])
        elif "value" in option:
            yield str(option.get("name")), int(option.get("type", 0)), option["value"]


def refusal(options: list[Mapping[str, Any]]) -> str | None:
    """Why the values of a command are refused, or None: the first bad one is named."""
    for name, kind, value in typed_values(options):
        if kind == _STRING and isinstance(value, str):
            reason = text_refusal(name, value)
        elif kind in (_INTEGER, _NUMBER) and isinstance(value, int | float):
            reason = number_refusal(name, value)
        else:
            continue
        if reason is not None:
            return reason
    return None


def _guild_only(command: object) -> bool:
    root = getattr(command, "root_parent", None) or command
    return bool(getattr(root, "guild_only", False) or getattr(command, "guild_only", False))


class CheckedCommandTree(app_commands.CommandTree[Any]):
    """Refuses, privately and before the command runs, values no command can use."""

    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        if interaction.type is not discord.InteractionType.application_command:
            return True
        if interaction.guild_id is None and _guild_only(interaction.command):
            # Discord offers these only in servers; a client can still send one from a DM.
            await reply_ephemeral(interaction, messages.NOT_IN_SERVER)
            return False
        data: Mapping[str, Any] = interaction.data or {}
        reason = refusal(list(data.get("options") or []))
        if reason is None:
            return True
        await reply_ephemeral(interaction, f"{reason} Nothing was changed.")
        return False
