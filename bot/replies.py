"""Small helpers every cog uses to answer people."""

from __future__ import annotations

from datetime import datetime

import discord


async def reply_ephemeral(interaction: discord.Interaction, content: str) -> None:
    """Answer privately, whether or not the interaction was already answered or deferred."""
    if interaction.response.is_done():
        await interaction.followup.send(content, ephemeral=True)
    else:
        await interaction.response.send_message(content, ephemeral=True)


def timestamp(moment: datetime, style: discord.utils.TimestampStyle = "F") -> str:
    """A Discord timestamp (`<t:…:F>`): each reader sees it in their own time zone."""
    return discord.utils.format_dt(moment, style=style)
