"""A real discord.py client answers simulated people's commands, buttons and modals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands

from tests.emulator.control import Emulator
from tests.emulator.interactions import EmulatorError, InteractionFailed

from .conftest import Scene, bot_intents


class Feedback(discord.ui.Modal, title="Feedback"):
    """A modal with one text input."""

    text: discord.ui.TextInput[Feedback] = discord.ui.TextInput(label="Text", custom_id="text")

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"got {self.text.value}", ephemeral=True)


class Join(discord.ui.View):
    """A persistent view: timeout None and a fixed custom_id."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Join", custom_id="group:join")
    async def join(self, interaction: discord.Interaction, button: discord.ui.Button[Join]) -> None:
        await interaction.response.send_message(f"{interaction.user.name} joined", ephemeral=True)


class Bot(discord.Client):
    """A tiny bot with a command group, options of every emulated type, and a persistent view."""

    def __init__(self) -> None:
        super().__init__(intents=bot_intents())
        self.tree = app_commands.CommandTree(self)
        group = app_commands.Group(name="group", description="Groups")

        @group.command(name="create", description="Create a group")
        async def create(
            interaction: discord.Interaction,
            name: str,
            leader: discord.Member,
            size: app_commands.Range[int, 2, 12] = 6,
            room: discord.VoiceChannel | None = None,
            weekly: bool = True,
        ) -> None:
            room_name = room.name if room else "-"
            await interaction.response.send_message(
                f"{name} led by {leader.display_name} size {size} room {room_name} weekly {weekly}",
                view=Join(),
            )

        @create.autocomplete("name")
        async def names(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [
                app_commands.Choice(name=n, value=n)
                for n in ("alpha", "beta")
                if n.startswith(current)
            ]

        @app_commands.command(name="secret", description="Ephemeral reply")
        async def secret(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("psst", ephemeral=True)

        @app_commands.command(name="slow", description="Defers, then follows up")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(0.01)
            await interaction.followup.send("done", embed=discord.Embed(title="Result"))

        @app_commands.command(name="feedback", description="Opens a modal")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(Feedback())

        self.late_error: discord.NotFound | None = None

        @app_commands.command(name="late", description="Answers after the deadline")
        async def late(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.send_message("too late")
            except discord.NotFound as error:
                self.late_error = error

        self.twice_outcomes: list[object] = []
        self.answered_twice = asyncio.Event()

        @app_commands.command(name="twice", description="Answers twice at once")
        async def twice(interaction: discord.Interaction) -> None:
            outcomes = await asyncio.gather(
                interaction.response.send_message("first"),
                interaction.response.send_message("second"),
                return_exceptions=True,
            )
            self.twice_outcomes = list(outcomes)
            self.answered_twice.set()

        @app_commands.command(name="dm", description="Sends you a DM with a button")
        async def dm(interaction: discord.Interaction) -> None:
            await interaction.user.send("click me", view=Join())
            await interaction.response.send_message("sent", ephemeral=True)

        @app_commands.command(name="upload", description="Reads an attached file")
        async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            await interaction.response.send_message(
                f"{file.filename} {file.size} {data.decode()}", ephemeral=True
            )

        commands: list[app_commands.Command[Any, ..., None] | app_commands.Group] = [
            upload,
            group,
            secret,
            slow,
            feedback,
            late,
            twice,
            dm,
        ]
        for command in commands:
            self.tree.add_command(command)

    async def setup_hook(self) -> None:
        self.add_view(Join())
        await self.tree.sync()


@pytest.fixture
async def bot(scene: Scene) -> AsyncIterator[Bot]:
    """The bot, logged in, synced and ready."""
    client = Bot()
    async with scene.emu.connected(client):
        yield client


async def test_slash_command_with_subcommand_and_resolved_options(scene: Scene, bot: Bot) -> None:
    """Nested group/subcommand, user and channel options resolve to discord.py objects."""
    result = await scene.emu.run_command(
        scene.alice.id,
        scene.guild.id,
        scene.text.id,
        "group create",
        name="Tuesday",
        leader=scene.bob.id,
        size=8,
        room=scene.voice.id,
    )
    assert result.content == "Tuesday led by bob size 8 room room weekly True"
    assert not result.ephemeral
    assert result.message in scene.emu.messages(scene.text.id)
    assert result.message is not None
    assert result.message.custom_ids() == ["group:join"]


async def test_attachment_option_is_uploaded_resolved_and_served(
    scene: Scene, bot: Bot
) -> None:
    """The file a person attaches reaches the bot resolved, and its URL serves the bytes."""
    result = await scene.emu.run_command(
        scene.alice.id, scene.guild.id, scene.text.id, "upload", file=("note.txt", b"hello")
    )
    assert result.content == "note.txt 5 hello"


async def test_option_validation_mirrors_discord_client(scene: Scene, bot: Bot) -> None:
    """The client refuses out-of-range values and missing required options."""
    with pytest.raises(EmulatorError, match="out of range"):
        await scene.emu.run_command(
            scene.alice.id,
            scene.guild.id,
            scene.text.id,
            "group create",
            name="x",
            leader=scene.bob.id,
            size=40,
        )
    with pytest.raises(EmulatorError, match="missing required option 'leader'"):
        await scene.emu.run_command(
            scene.alice.id, scene.guild.id, scene.text.id, "group create", name="x"
        )


async def test_ephemeral_reply(scene: Scene, bot: Bot) -> None:
    """Ephemeral replies are flagged and not posted to the channel."""
    result = await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "secret")
    assert result.content == "psst"
    assert result.ephemeral
    assert scene.emu.messages(scene.text.id) == []


async def test_deferred_then_followup_fills_the_thinking_message(scene: Scene, bot: Bot) -> None:
    """defer() then followup.send(): the first follow-up replaces "thinking…"."""
    result = await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "slow")
    assert result.response_type == 5
    # The first answer's time, on the emulator's clock, is the deferral's, not the follow-up's.
    deferred_at = result.responded_at
    assert deferred_at is not None
    assert deferred_at >= result.created
    await result.final()
    assert result.responded_at == deferred_at
    assert result.content == "done"
    assert result.embeds[0]["title"] == "Result"
    assert (await result.followup()).id == result.message.id  # type: ignore[union-attr]


async def test_modal_round_trip(scene: Scene, bot: Bot) -> None:
    """The bot opens a modal; the submitted value reaches on_submit."""
    opened = await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "feedback")
    assert opened.modal is not None
    assert opened.modal["title"] == "Feedback"
    submitted = await scene.emu.submit_modal(scene.alice.id, opened, {"text": "thanks"})
    assert submitted.content == "got thanks"
    assert submitted.ephemeral


async def test_persistent_view_button_click(scene: Scene, bot: Bot) -> None:
    """A button on a persistent view works, including for another member."""
    posted = await scene.emu.run_command(
        scene.alice.id,
        scene.guild.id,
        scene.text.id,
        "group create",
        name="T",
        leader=scene.alice.id,
    )
    assert posted.message is not None
    clicked = await scene.emu.click(scene.bob.id, posted.message, "group:join")
    assert clicked.content == "bob joined"


async def test_button_in_dm(scene: Scene, bot: Bot) -> None:
    """A view sent by DM is clickable there; the interaction carries ``user`` not ``member``."""
    await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "dm")
    (message,) = scene.emu.dms(scene.alice.id)
    clicked = await scene.emu.click(scene.alice.id, message, "group:join")
    assert clicked.content == "alice joined"
    assert clicked.guild_id is None


async def test_autocomplete_returns_choices(scene: Scene, bot: Bot) -> None:
    """Autocomplete gets the partial value and returns the bot's choices."""
    choices = await scene.emu.autocomplete(
        scene.alice.id, scene.guild.id, scene.text.id, "group create", focused="name", name="a"
    )
    assert choices == [{"name": "alpha", "value": "alpha"}]


async def test_missed_deadline_invalidates_token(scene: Scene, bot: Bot) -> None:
    """After the deadline the interaction fails and a late callback gets 10062."""
    scene.emu.registry.deadline = 0.1
    with pytest.raises(InteractionFailed):
        await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "late")
    (missed,) = scene.emu.missed_deadlines
    await missed.wait_for(lambda r: r.late_callbacks == 1)
    assert bot.late_error is not None
    assert bot.late_error.code == 10062


async def test_two_answers_sent_at_once_are_one_accepted_one_refused(
    scene: Scene, bot: Bot
) -> None:
    """Discord accepts one acknowledgement per interaction even when two race: the other
    gets 40060, and the person sees one answer."""
    result = await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "twice")
    await result.final(5)
    await asyncio.wait_for(bot.answered_twice.wait(), 5)
    refused = [o for o in bot.twice_outcomes if isinstance(o, discord.HTTPException)]
    assert [error.code for error in refused] == [40060]
    assert result.message is not None
    assert result.message.content in ("first", "second")


async def test_command_sync_is_idempotent(emulator: Emulator, scene: Scene, bot: Bot) -> None:
    """A second sync keeps command ids, as Discord does."""
    before = {c.name: c.id for c in emulator.commands()}
    await bot.tree.sync()
    assert {c.name: c.id for c in emulator.commands()} == before
    assert set(before) == {"group", "secret", "slow", "feedback", "late", "twice", "dm", "upload"}
