"""/help, and the first steps posted when the bot joins a server."""

from __future__ import annotations

import contextlib
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import BalintBot
from bot.services.guide import GuideSection, admin_section, guide_for

log = logging.getLogger(__name__)


def embeds_of(sections: list[GuideSection]) -> list[discord.Embed]:
    return [
        discord.Embed(title=section.title, description=section.body, colour=discord.Colour.teal())
        for section in sections
    ]


class GuideCommands(commands.Cog):
    """The guide inside Discord: nobody has to read the code to find their way."""

    def __init__(self, bot: BalintBot) -> None:
        self.bot = bot

    @app_commands.command(name="help")
    async def show_help(self, interaction: discord.Interaction) -> None:
        """How to use balint-bot, for you: set-up, running a meeting, or taking part."""
        sections = await guide_for(
            self.bot.session_factory, interaction.guild, interaction.user, interaction.channel
        )
        await interaction.response.send_message(embeds=embeds_of(sections), ephemeral=True)

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        """First steps for whoever manages the server: the system channel, else the owner."""
        welcome = (
            "Thanks for adding **balint-bot**. Here is how to get a Balint group going; "
            "`/help` shows this again, with what is already done ticked off."
        )
        section = admin_section(guild.me.guild_permissions, None, 0)
        channel = guild.system_channel
        allowed = channel.permissions_for(guild.me) if channel is not None else None
        if channel is not None and allowed and allowed.send_messages and allowed.embed_links:
            with contextlib.suppress(discord.HTTPException):
                await channel.send(welcome, embeds=embeds_of([section]))
                return
        owner = guild.owner or await self._fetch_owner(guild)
        if owner is None:
            return
        try:
            await owner.send(welcome, embeds=embeds_of([section]))
        except discord.HTTPException:
            log.info("could not send first steps for guild %s: DMs closed", guild.id)

    async def _fetch_owner(self, guild: discord.Guild) -> discord.User | None:
        if guild.owner_id is None:
            return None
        try:
            return await self.bot.fetch_user(guild.owner_id)
        except discord.HTTPException:
            return None


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, BalintBot)
    await bot.add_cog(GuideCommands(bot))
