"""Invalid input is refused with 400 50035, never cut to fit: thread names, message
components, modals, autocomplete choices, scheduled event texts, overwrite types."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from discord import app_commands
from discord.http import Route

from .conftest import Scene, bot_intents

MESSAGES = "/channels/{channel_id}/messages"
CALLBACK = "/interactions/{interaction_id}/{interaction_token}/callback"


def button(custom_id: str, label: str = "ok") -> dict[str, Any]:
    return {"type": 2, "style": 1, "custom_id": custom_id, "label": label}


def row(*items: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(items)}


def text_input(**fields: Any) -> dict[str, Any]:
    return {"type": 4, "custom_id": "t", "style": 1, "label": "Text", **fields}


def modal(title: str = "Title", *rows: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": "m", "title": title, "components": list(rows) or [row(text_input())]}


class RawBot(discord.Client):
    """Answers every interaction with the raw callback body a test put in ``next_bodies``
    (one per interaction), records Discord's error, then answers validly so the person's
    client is not left waiting."""

    def __init__(self) -> None:
        super().__init__(intents=bot_intents())
        tree = app_commands.CommandTree(self)

        @tree.command(name="respond", description="Answers with the test's body")
        async def respond(interaction: discord.Interaction) -> None: ...

        @tree.command(name="pick", description="Autocompletes with the test's choices")
        async def pick(interaction: discord.Interaction, name: str) -> None: ...

        self.tree = tree
        self.next_bodies: list[dict[str, Any]] = []
        self.errors: list[discord.HTTPException | None] = []

    async def setup_hook(self) -> None:
        await self.tree.sync()
        self._connection._command_tree = None  # interactions reach on_interaction only

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        route = Route(
            "POST", CALLBACK, interaction_id=interaction.id, interaction_token=interaction.token
        )
        try:
            await self.http.request(route, json=self.next_bodies.pop(0))
        except discord.HTTPException as error:
            self.errors.append(error)
            fallback = {"type": 8, "data": {"choices": []}}
            if interaction.type != discord.InteractionType.autocomplete:
                fallback = {"type": 4, "data": {"content": "refused", "flags": 64}}
            await self.http.request(route, json=fallback)
        else:
            self.errors.append(None)


@pytest.fixture
async def client(scene: Scene) -> AsyncIterator[discord.Client]:
    client = discord.Client(intents=bot_intents())
    async with scene.emu.connected(client):
        yield client


@pytest.fixture
async def raw_bot(scene: Scene) -> AsyncIterator[RawBot]:
    bot = RawBot()
    async with scene.emu.connected(bot):
        yield bot


async def refused(call: Any) -> discord.HTTPException:
    with pytest.raises(discord.HTTPException) as caught:
        await call
    assert caught.value.status == 400, caught.value
    assert caught.value.code == 50035, caught.value
    return caught.value


async def test_thread_names_over_100_are_refused_not_cut(
    scene: Scene, client: discord.Client
) -> None:
    """A forum post or thread named with 101 characters is a 400, nothing is created."""
    forum = client.get_channel(scene.forum.id)
    text = client.get_channel(scene.text.id)
    assert isinstance(forum, discord.ForumChannel)
    assert isinstance(text, discord.TextChannel)
    before = set(scene.emu.state.channels)
    await refused(forum.create_thread(name="x" * 101, content="case"))
    await refused(text.create_thread(name="y" * 101, type=discord.ChannelType.public_thread))
    assert set(scene.emu.state.channels) == before
    post = await forum.create_thread(name="z" * 100, content="case")
    assert scene.emu.channel(post.thread.id).name == "z" * 100
    await refused(post.thread.edit(name="w" * 101))
    assert scene.emu.channel(post.thread.id).name == "z" * 100


@pytest.mark.parametrize(
    ("components", "flags"),
    [
        ([row(button(f"b{n}")) for n in range(6)], 0),  # six action rows
        ([row(*(button(f"b{n}") for n in range(6)))], 0),  # six buttons in a row
        ([row(button("b", label="l" * 81))], 0),  # button label over 80
        ([row(button("c" * 101))], 0),  # custom_id over 100
        ([row()], 0),  # an empty row
        (
            [
                row(
                    {
                        "type": 3,
                        "custom_id": "s",
                        "options": [{"label": str(n), "value": str(n)} for n in range(26)],
                    }
                )
            ],
            0,
        ),  # 26 select options
        (
            [row({"type": 3, "custom_id": "s", "options": [{"label": "o" * 101, "value": "v"}]})],
            0,
        ),  # option label over 100
        ([row(button("a"), {"type": 5, "custom_id": "u"})], 0),  # a select sharing a row
    ],
)
async def test_component_limits(
    scene: Scene, client: discord.Client, components: list[dict[str, Any]], flags: int
) -> None:
    """Discord's component limits: each breach is refused and nothing is posted."""
    route = Route("POST", MESSAGES, channel_id=scene.text.id)
    body = {"content": "hi", "components": components, "flags": flags}
    await refused(client.http.request(route, json=body))
    assert scene.emu.messages(scene.text.id) == []


async def test_components_at_their_limits_are_accepted(
    scene: Scene, client: discord.Client
) -> None:
    """Five rows of five buttons with 80-character labels and 100-character ids pass."""
    components = [
        row(*(button(f"{r}{n}".ljust(100, "x"), label="l" * 80) for n in range(5)))
        for r in range(5)
    ]
    route = Route("POST", MESSAGES, channel_id=scene.text.id)
    await client.http.request(route, json={"content": "hi", "components": components})
    (posted,) = scene.emu.messages(scene.text.id)
    assert len(posted.custom_ids()) == 25


@pytest.mark.parametrize(
    "body",
    [
        modal("t" * 46),  # title over 45
        modal("Title", row(text_input(label="l" * 46))),  # text input label over 45
        modal("Title", row(text_input(placeholder="p" * 101))),  # placeholder over 100
        modal("Title", row(text_input(min_length=4001))),  # min_length over 4000
        modal("Title", row(text_input(max_length=4001))),  # max_length over 4000
        modal("Title", row(text_input(max_length=0))),  # max_length under 1
        modal("Title", row(text_input(value="v" * 4001))),  # value over 4000
        modal("Title", *(row(text_input(custom_id=f"t{n}")) for n in range(6))),  # 6 rows
    ],
)
async def test_modal_limits(scene: Scene, raw_bot: RawBot, body: dict[str, Any]) -> None:
    """A modal over a limit is refused: the person never sees it."""
    raw_bot.next_bodies.append({"type": 9, "data": body})
    result = await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "respond")
    (error,) = raw_bot.errors
    assert error is not None
    assert error.code == 50035
    assert result.modal is None
    assert result.content == "refused"


async def test_modal_at_its_limits_opens(scene: Scene, raw_bot: RawBot) -> None:
    """Title 45, label 45, placeholder 100, lengths 0..4000: the modal opens."""
    field = text_input(label="l" * 45, placeholder="p" * 100, min_length=0, max_length=4000)
    raw_bot.next_bodies.append({"type": 9, "data": modal("t" * 45, row(field))})
    result = await scene.emu.run_command(scene.alice.id, scene.guild.id, scene.text.id, "respond")
    assert raw_bot.errors == [None]
    assert result.modal is not None
    assert result.modal["title"] == "t" * 45


@pytest.mark.parametrize(
    "choices",
    [
        [{"name": str(n), "value": str(n)} for n in range(26)],  # 26 choices
        [{"name": "n" * 101, "value": "v"}],  # name over 100
        [{"name": "", "value": "v"}],  # empty name
        [{"name": "n", "value": "v" * 101}],  # value over 100
    ],
)
async def test_autocomplete_limits(
    scene: Scene, raw_bot: RawBot, choices: list[dict[str, Any]]
) -> None:
    """Choices over Discord's limits are refused, so the person sees none of them."""
    raw_bot.next_bodies.append({"type": 8, "data": {"choices": choices}})
    shown = await scene.emu.autocomplete(
        scene.alice.id, scene.guild.id, scene.text.id, "pick", focused="name"
    )
    (error,) = raw_bot.errors
    assert error is not None
    assert error.code == 50035
    assert shown == []


async def test_autocomplete_at_its_limits(scene: Scene, raw_bot: RawBot) -> None:
    """25 choices with 100-character names and values are shown."""
    choices = [{"name": f"{n}".ljust(100, "n"), "value": f"{n}".ljust(100, "v")} for n in range(25)]
    raw_bot.next_bodies.append({"type": 8, "data": {"choices": choices}})
    shown = await scene.emu.autocomplete(
        scene.alice.id, scene.guild.id, scene.text.id, "pick", focused="name"
    )
    assert raw_bot.errors == [None]
    assert shown == choices


async def test_scheduled_event_name_and_description_lengths(
    scene: Scene, client: discord.Client
) -> None:
    """Name 1-100 and description 1-1000, on creation and on edit."""
    guild = client.get_guild(scene.guild.id)
    voice = client.get_channel(scene.voice.id)
    assert guild is not None
    assert isinstance(voice, discord.VoiceChannel)
    start = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)

    def create(name: str, description: str = discord.utils.MISSING) -> Any:
        return guild.create_scheduled_event(
            name=name,
            description=description,
            start_time=start,
            channel=voice,
            privacy_level=discord.PrivacyLevel.guild_only,
        )

    await refused(create("n" * 101))
    await refused(create("name", "d" * 1001))
    assert scene.emu.scheduled_events(guild.id) == []
    event = await create("n" * 100, "d" * 1000)
    await refused(event.edit(name="m" * 101))
    await refused(event.edit(description="e" * 1001))
    (stored,) = scene.emu.scheduled_events(guild.id)
    assert (stored.name, stored.description) == ("n" * 100, "d" * 1000)


async def test_overwrite_type_must_be_role_or_member(
    scene: Scene, client: discord.Client
) -> None:
    """An overwrite of type 2 is a 400, in a PUT and in a channel edit."""
    route = Route(
        "PUT",
        "/channels/{channel_id}/permissions/{target}",
        channel_id=scene.text.id,
        target=scene.alice.id,
    )
    await refused(client.http.request(route, json={"allow": "1024", "deny": "0", "type": 2}))
    edit = Route("PATCH", "/channels/{channel_id}", channel_id=scene.text.id)
    overwrite = {"id": str(scene.alice.id), "allow": "1024", "deny": "0", "type": 2}
    await refused(client.http.request(edit, json={"permission_overwrites": [overwrite]}))
    assert scene.alice.id not in scene.emu.overwrites(scene.text.id)
