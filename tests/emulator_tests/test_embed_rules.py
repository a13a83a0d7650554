"""Embeds as Discord limits them: per-field lengths, 25 fields, 10 embeds, 6000 characters in
all of a message's embeds (400 50035 with the path), and EMBED_LINKS in the channel."""

from __future__ import annotations

import discord
import pytest

from tests.emulator.permissions import P

from .conftest import Scene


def _error_path(error: discord.HTTPException) -> str:
    """discord.py flattens Discord's nested errors into 'In embeds.0.title: ...'."""
    assert (error.status, error.code) == (400, 50035), error
    (line,) = error.text.splitlines()[1:]
    return line.split(":")[0].removeprefix("In ")


@pytest.mark.parametrize(
    ("embeds", "path"),
    [
        ([discord.Embed(title="t" * 257)], "embeds.0.title"),
        ([discord.Embed(description="d" * 4097)], "embeds.0.description"),
        ([discord.Embed().add_field(name="n" * 257, value="v")], "embeds.0.fields.0.name"),
        (
            [discord.Embed(), discord.Embed().add_field(name="n", value="v" * 1025)],
            "embeds.1.fields.0.value",
        ),
        ([discord.Embed().set_footer(text="f" * 2049)], "embeds.0.footer.text"),
        ([discord.Embed().set_author(name="a" * 257)], "embeds.0.author.name"),
        ([discord.Embed.from_dict({"fields": [{"name": "n", "value": "v"}] * 26})],
         "embeds.0.fields"),
        ([discord.Embed(description="d" * 3001)] * 2, "embeds"),
    ],
)
async def test_each_limit_is_400_50035_with_its_path(
    scene: Scene, channel: discord.TextChannel, embeds: list[discord.Embed], path: str
) -> None:
    with pytest.raises(discord.HTTPException) as error:
        await channel.send(embeds=embeds)
    assert _error_path(error.value) == path
    assert scene.emu.messages(channel.id) == []


async def test_limits_are_inclusive_and_ignore_outer_whitespace(
    scene: Scene, channel: discord.TextChannel
) -> None:
    """Exactly at every limit, and 6000 in total, is accepted; padding is not counted."""
    full = discord.Embed(title="t" * 256, description="d" * 4096).add_field(
        name="n" * 256, value=" " + "v" * 1024 + "\n"
    )
    full.set_footer(text="f" * 1000).set_author(name="a" * 256)
    assert 256 + 4096 + 256 + 1024 + 1000 + 256 > 6000  # too much together...
    with pytest.raises(discord.HTTPException) as error:
        await channel.send(embed=full)
    assert _error_path(error.value) == "embeds"
    full.set_footer(text="f" * (6000 - 256 - 4096 - 256 - 1024 - 256))  # ...exactly 6000
    await channel.send(embed=full)
    route = discord.http.Route("POST", "/channels/{channel_id}/messages", channel_id=channel.id)
    with pytest.raises(discord.HTTPException) as error:  # discord.py itself refuses 11
        await channel._state.http.request(route, json={"embeds": [{"title": "x"}] * 11})
    assert _error_path(error.value) == "embeds"


async def test_without_embed_links_embeds_are_refused_or_dropped(
    scene: Scene, channel: discord.TextChannel
) -> None:
    """Without EMBED_LINKS in the channel an embed-only message is 403 50013; one with content
    or components is posted without its embeds; an edit that would leave it empty is 50006."""
    await scene.emu.set_overwrite(
        channel.id, scene.emu.bot_role(scene.guild.id).id, deny=P.EMBED_LINKS
    )
    embed = discord.Embed(title="panel")
    with pytest.raises(discord.Forbidden) as refused:
        await channel.send(embed=embed)
    assert refused.value.code == 50013
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="Go", custom_id="go"))
    with_button = await channel.send(embed=embed, view=view)
    with_text = await channel.send("hello", embed=embed)
    assert [m.embeds for m in scene.emu.messages(channel.id)] == [[], []]
    assert with_text.embeds == []
    with pytest.raises(discord.HTTPException) as error:
        await with_text.edit(content=None, embed=embed)
    assert (error.value.status, error.value.code) == (400, 50006)
    assert scene.emu.messages(channel.id)[1].content == "hello"
    await scene.emu.set_overwrite(channel.id, scene.emu.bot_role(scene.guild.id).id)
    await with_button.edit(embed=embed)
    assert scene.emu.messages(channel.id)[0].embeds[0]["title"] == "panel"
