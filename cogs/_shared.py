"""What the cogs share: the bot behind an interaction and the persistent-button pattern.

A module whose name starts with "_" is not loaded as an extension (bot.app.extension_names).
"""

from __future__ import annotations

import re
from typing import Any, Self

import discord

from bot.app import BalintBot
from bot.db.models import Group
from bot.domain.input_checks import database_id
from bot.services.sessions import NoSuchGroup


def bot_of(interaction: discord.Interaction) -> BalintBot:
    """The bot an interaction came to (typed, for the services it carries)."""
    bot = interaction.client
    assert isinstance(bot, BalintBot)
    return bot


async def load_group(bot: BalintBot, group_id: int) -> Group:
    """The group a button names; it may have been deleted since the button was sent."""
    async with bot.session_factory() as session:
        group = await session.get(Group, group_id)
    if group is None:
        raise NoSuchGroup()
    return group


def _custom_id_part(text: str) -> Any:
    """A captured part of a custom_id: digits are a row or Discord id (0 if out of range)."""
    return database_id(text) or 0 if text.isdigit() else text


class PersistentButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"(?!)",  # never matches; only subclasses, with their own templates, are registered
):
    """A button whose whole state is in its custom_id, so it keeps working after a restart.

    A subclass's template captures its constructor's arguments, in order.
    """

    def __init__(
        self,
        custom_id: str,
        label: str,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
    ) -> None:
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=custom_id))

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[discord.ui.View],
        match: re.Match[str],
    ) -> Self:
        return cls(*(_custom_id_part(part) for part in match.groups()))
