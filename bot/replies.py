"""Small helpers every cog uses to answer people."""

from __future__ import annotations

from datetime import datetime

import discord
from discord import app_commands

from bot.domain.zones import matching_zones

# Discord refuses a message over 2,000 characters, and the person would get no answer.
MAX_MESSAGE = 2000


async def reply_ephemeral(interaction: discord.Interaction, content: str) -> None:
    """Answer privately, whether or not the interaction was already answered or deferred."""
    if len(content) > MAX_MESSAGE:
        content = content[: MAX_MESSAGE - 1] + "…"
    if interaction.response.is_done():
        await interaction.followup.send(content, ephemeral=True)
    else:
        await interaction.response.send_message(content, ephemeral=True)


def timestamp(moment: datetime, style: discord.utils.TimestampStyle = "F") -> str:
    """A Discord timestamp (`<t:…:F>`): each reader sees it in their own time zone."""
    return discord.utils.format_dt(moment, style=style)


def zone_choices(typed: str) -> list[app_commands.Choice[str]]:
    """Autocomplete choices of IANA zones, e.g. 'syd' → Australia/Sydney."""
    return [app_commands.Choice(name=zone, value=zone) for zone in matching_zones(typed)]
