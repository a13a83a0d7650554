"""/privacy: a copy of what the bot keeps about you, and erasing it."""

from __future__ import annotations

import io
import json

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import BalintBot
from bot.replies import reply_ephemeral
from cogs._shared import PersistentButton, bot_of


def export_file(data: dict[str, object]) -> discord.File:
    payload = json.dumps(data, indent=2, ensure_ascii=False).encode()
    return discord.File(io.BytesIO(payload), filename="balint-bot-my-data.json")


class EraseButton(PersistentButton, template=r"privacy:(?P<answer>erase|keep):(?P<user>\d+)"):
    """The confirmation of `/privacy delete`; only the person who asked can press it."""

    def __init__(self, answer: str, user_id: int) -> None:
        erase = answer == "erase"
        super().__init__(
            f"privacy:{answer}:{user_id}",
            "Delete my data" if erase else "Cancel",
            discord.ButtonStyle.danger if erase else discord.ButtonStyle.secondary,
        )
        self.answer = answer
        self.user_id = user_id

    async def callback(self, interaction: discord.Interaction) -> None:
        if interaction.user.id != self.user_id:
            await reply_ephemeral(interaction, "Only the person who asked can answer this.")
            return
        if self.answer == "keep":
            await interaction.response.edit_message(
                content="Nothing was deleted.", view=None, embed=None
            )
            return
        bot = bot_of(interaction)
        await interaction.response.edit_message(content="Deleting your data…", view=None)
        erasure = await bot.privacy.erase(self.user_id)
        text = (
            f"Done. {erasure.followups} follow-up(s) deleted (their forum messages are being "
            "removed), and your attendance, cases and answers no longer point to you; the "
            "groups keep only anonymous counts."
        )
        if erasure.kept_groups:
            names = ", ".join(f"**{name}**" for name in erasure.kept_groups)
            text += (
                f"\nYou are still a member of {names}, so that membership stays. Ask a leader to "
                "remove you, then run `/privacy delete` again to erase it too."
            )
        await interaction.followup.send(text, ephemeral=True)


class PrivacyCommands(commands.GroupCog, group_name="privacy"):
    """Your data: a copy, or its erasure."""

    def __init__(self, bot: BalintBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(EraseButton)

    @app_commands.command(name="export")
    async def export(self, interaction: discord.Interaction) -> None:
        """Get a file, in DMs, with everything this bot keeps about you."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        data = await self.bot.privacy.export(interaction.user.id)
        try:
            await interaction.user.send(
                "Here is everything I keep about you, as a JSON file.", file=export_file(data)
            )
        except discord.HTTPException:
            await interaction.followup.send(
                "I couldn't DM you (your DMs may be closed), so here it is, visible only to you.",
                file=export_file(data),
                ephemeral=True,
            )
            return
        await interaction.followup.send("I've sent you your data in DMs.", ephemeral=True)

    @app_commands.command(name="delete")
    async def delete(self, interaction: discord.Interaction) -> None:
        """Erase your follow-ups and your personal records, after you confirm."""
        view = discord.ui.View(timeout=None)
        view.add_item(EraseButton("erase", interaction.user.id))
        view.add_item(EraseButton("keep", interaction.user.id))
        await interaction.response.send_message(
            "This deletes all your follow-ups (here and in the forum) and unlinks your "
            "attendance, cases and answers from you, for good. Leaders keep only anonymous "
            "counts. You will no longer be able to get attendance statements (CPD) for "
            "meetings before today, and statements already issued will no longer verify: "
            "get any you need with `/attendance statement` first. You may want "
            "`/privacy export` too.",
            view=view,
            ephemeral=True,
        )

    @commands.Cog.listener()
    async def on_ready(self) -> None:
        self.bot.privacy.start()


async def setup(bot: commands.Bot) -> None:
    assert isinstance(bot, BalintBot)
    await bot.add_cog(PrivacyCommands(bot))
