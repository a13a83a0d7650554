"""The README's example scenario runs as written."""

from __future__ import annotations

import discord
from discord import app_commands

from tests.emulator.control import BOT_DEFAULT, Emulator
from tests.emulator.state import ChannelType


class Bot(discord.Client):
    """The README's bot."""

    def __init__(self) -> None:
        super().__init__(intents=discord.Intents.default())
        self.tree = app_commands.CommandTree(self)

        @self.tree.command(name="hello", description="Say hello")
        async def hello(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(f"hi {name}", ephemeral=True)

    async def setup_hook(self) -> None:
        await self.tree.sync()


async def test_hello(emulator: Emulator) -> None:
    """A member runs /hello and the bot's ephemeral reply comes back."""
    guild = await emulator.create_guild("Balint", bot_permissions=BOT_DEFAULT)
    alice = await emulator.create_user("alice")
    await emulator.add_member(guild.id, alice.id)
    text = await emulator.create_channel(guild.id, "general")
    room = await emulator.create_channel(guild.id, "room", ChannelType.VOICE)

    async with emulator.connected(Bot()):
        result = await emulator.run_command(alice.id, guild.id, text.id, "hello", name="bob")
        assert result.content == "hi bob"
        assert result.ephemeral
        await emulator.join_voice(alice.id, room.id)
        assert emulator.can_speak(alice.id)
