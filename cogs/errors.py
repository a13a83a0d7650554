"""The one place where application command errors become replies."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot import messages
from bot.db.engine import database_unavailable
from bot.errors import UserFacingError
from bot.permissions import describe_missing
from bot.replies import ALREADY_ACKNOWLEDGED, HANDLED_ELSEWHERE, reply_ephemeral

log = logging.getLogger(__name__)


def error_message(error: app_commands.AppCommandError) -> str:
    original = getattr(error, "original", error)
    if isinstance(original, UserFacingError):
        return original.message
    if database_unavailable(original):
        return messages.DATABASE_UNAVAILABLE
    if isinstance(error, app_commands.TransformerError) and (
        error.type is discord.AppCommandOptionType.user
    ):
        return "That person isn't a member of this server."
    if isinstance(error, app_commands.NoPrivateMessage):
        return messages.NOT_IN_SERVER
    if isinstance(error, app_commands.BotMissingPermissions):
        return describe_missing(error.missing_permissions)
    if isinstance(error, app_commands.MissingPermissions):
        names = ", ".join(p.replace("_", " ").title() for p in error.missing_permissions)
        return f"You need the **{names}** permission in this server to do that."
    if isinstance(original, discord.Forbidden):
        return describe_missing([])
    return messages.SOMETHING_WENT_WRONG


class ErrorHandler(commands.Cog):
    """Turns every command error into a clear, private reply."""

    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot
        bot.tree.error(self.on_app_command_error)

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        command = interaction.command.qualified_name if interaction.command else "?"
        original = getattr(error, "original", error)
        if isinstance(original, discord.HTTPException) and original.code == ALREADY_ACKNOWLEDGED:
            # Claimed by its acknowledgement (bot/app.py), and another process answered.
            log.info(HANDLED_ELSEWHERE, interaction.id)
            return
        expected = (UserFacingError, app_commands.CheckFailure, app_commands.TransformerError)
        if database_unavailable(original):
            log.warning("command /%s could not reach the database", command)
        elif not isinstance(original, expected):
            # The exception type and command only: arguments may hold case details.
            log.error(
                "command /%s failed: %s",
                command,
                type(original).__name__,
                exc_info=not isinstance(original, discord.HTTPException),
            )
        try:
            await reply_ephemeral(interaction, error_message(error))
        except discord.HTTPException as failed:
            if failed.code == ALREADY_ACKNOWLEDGED:
                log.info(HANDLED_ELSEWHERE, interaction.id)
                return
            log.warning("could not tell the user that /%s failed", command)


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(ErrorHandler(bot))
