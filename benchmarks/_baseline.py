"""A bare discord.py bot making the same REST calls as balint-bot: the benchmarks' yardstick.

Run as its own process (`python -m benchmarks._baseline`) against the emulator, with
the bot's intents and cache flags. `/ping` answers at once; `/phase set` defers, then
makes the three requests of a phase change (into the discussion: the presenter's voice
overwrite, the move that makes Discord apply it, the text overwrite; out of it: the
text overwrite deleted, the voice one deleted, the move) and edits its answer.
`/followup write` opens a modal whose submission is deferred, posted in the channel as
an embed and answered, as balint-bot posts a follow-up. Which
room and presenter belong to a text channel comes from BASELINE_GROUPS (JSON:
{"text channel id": [voice channel id, presenter id]}); nothing is read from a database.
BASELINE_REMINDERS (JSON: {"at": epoch seconds, "groups": [[text channel, role, room,
member], …]}) makes it post, at that moment, every group's reminder as balint-bot posts
one: the role pinged, two RSVP buttons, then a DM to the member (0: none).
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import discord
import yarl
from discord import app_commands

from benchmarks._report import announce, answer_reports

VOICE_SILENCE = discord.Permissions(speak=True).value
TEXT_SILENCE = discord.Permissions(
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    add_reactions=True,
).value


def intents() -> discord.Intents:
    """balint-bot's intents (bot/app.py), repeated here so the baseline imports no bot code."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.voice_states = True
    wanted.guild_scheduled_events = True
    return wanted


class FollowUp(discord.ui.Modal, title="Follow-up"):
    text: discord.ui.TextInput[FollowUp] = discord.ui.TextInput(
        label="Follow-up", custom_id="text", style=discord.TextStyle.paragraph, max_length=4000
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert isinstance(interaction.channel, discord.abc.Messageable)
        await interaction.channel.send(embed=discord.Embed(description=self.text.value))
        await interaction.edit_original_response(content="Posted.")


class Baseline(discord.Client):
    def __init__(self, groups: dict[int, tuple[int, int]]) -> None:
        super().__init__(
            intents=intents(), member_cache_flags=discord.MemberCacheFlags.from_intents(intents())
        )
        self.groups = groups
        self.tree = app_commands.CommandTree(self)
        phase = app_commands.Group(name="phase", description="Move through the phases")

        @self.tree.command(name="ping", description="Answer at once")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

        @phase.command(name="set", description="Jump to a phase")
        async def phase_set(interaction: discord.Interaction, phase: str) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await self.change(interaction, phase == "discussion")
            await interaction.edit_original_response(content=f"Now: **{phase}**.")

        self.tree.add_command(phase)
        followup = app_commands.Group(name="followup", description="Follow-ups")

        @followup.command(name="write", description="Write a follow-up")
        async def followup_write(interaction: discord.Interaction, case: str) -> None:
            await interaction.response.send_modal(FollowUp())

        self.tree.add_command(followup)

    async def change(self, interaction: discord.Interaction, silence: bool) -> None:
        assert interaction.guild_id is not None
        assert interaction.channel_id is not None
        voice, presenter = self.groups[interaction.channel_id]
        text = interaction.channel_id
        http = self.http
        if silence:
            await http.edit_channel_permissions(voice, presenter, "0", str(VOICE_SILENCE), 1)
            await http.edit_member(interaction.guild_id, presenter, channel_id=voice)
            await http.edit_channel_permissions(text, presenter, "0", str(TEXT_SILENCE), 1)
        else:
            await http.delete_channel_permissions(text, presenter)
            await http.delete_channel_permissions(voice, presenter)
            await http.edit_member(interaction.guild_id, presenter, channel_id=voice)

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def remind(self, at: float, groups: list[list[int]]) -> None:
        """Every group's reminder at `at`, all at once, with no database between."""
        await asyncio.sleep(max(at - time.time(), 0))
        await asyncio.gather(*(self.remind_one(at, *group) for group in groups))

    async def remind_one(self, at: float, text: int, role: int, room: int, member: int) -> None:
        said = (
            f"**Group {text % 1000}** meets <t:{int(at) + 900}:F> (<t:{int(at) + 900}:R>) in "
            f"<#{room}>. Will you be there? Your answer helps the leaders plan."
        )
        await self.get_partial_messageable(text).send(
            f"<@&{role}> {said}",
            view=rsvp_view(),
            allowed_mentions=discord.AllowedMentions(
                everyone=False, users=False, roles=[discord.Object(role)]
            ),
        )
        if member:
            dm = await self.create_dm(discord.Object(member))
            await dm.send(f"Reminder: {said}", view=rsvp_view())


def rsvp_view() -> discord.ui.View:
    """Two buttons, as balint-bot's RSVP view (custom ids only; nothing answers them)."""
    view = discord.ui.View(timeout=None)
    for answer in ("attending", "apologies"):
        view.add_item(discord.ui.Button(label=answer.title(), custom_id=f"rsvp:{answer}"))
    return view


async def run() -> None:
    api = os.environ["BALINT_TEST_API"]
    discord.http.Route.BASE = f"{api}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
        api.replace("http://", "ws://", 1) + "/"
    )
    groups = {
        int(text): (voice, presenter)
        for text, (voice, presenter) in json.loads(os.environ.get("BASELINE_GROUPS", "{}")).items()
    }
    client = Baseline(groups)
    # As tests/e2e/bot_process.py waits (read here to import no bot or test code).
    client._connection.guild_ready_timeout = float(
        os.environ.get("BALINT_TEST_GUILD_READY_TIMEOUT", "0.05")
    )
    answer_reports()

    reminders = json.loads(os.environ.get("BASELINE_REMINDERS", "{}"))

    async def tell_ready() -> None:
        await client.wait_until_ready()
        announce("READY")
        announce("IDLE")
        if reminders:
            await client.remind(reminders["at"], reminders["groups"])

    progress = asyncio.create_task(tell_ready())
    async with client:
        await client.start(os.environ["DISCORD_TOKEN"])
    progress.cancel()


if __name__ == "__main__":
    asyncio.run(run())
