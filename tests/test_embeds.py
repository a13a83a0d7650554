"""The shared embed helper keeps every list within Discord's limits, cut at whole lines."""

from __future__ import annotations

import discord

from bot.embeds import FIELD_VALUE, add_lines, clip, pack_lines

MENTIONS = [f"moving <@{10**18 + n}> back to the lobby" for n in range(40)]


def test_lines_that_fit_are_joined_unchanged() -> None:
    assert pack_lines(["a", "b"], 10) == ["a\nb"]
    assert pack_lines(["a" * 5, "b" * 4], 10) == ["aaaaa\nbbbb"]  # exactly 10


def test_the_rest_is_counted_never_cut_mid_line() -> None:
    [value] = pack_lines(MENTIONS, FIELD_VALUE, separator="; ")
    assert len(value) <= FIELD_VALUE
    *shown, note = value.split("; ")
    assert shown == MENTIONS[: len(shown)]
    assert note == f"…and {len(MENTIONS) - len(shown)} more"


def test_continued_fields_before_counting() -> None:
    pieces = pack_lines(MENTIONS, 300, chunks=3)
    assert len(pieces) == 3
    assert all(len(piece) <= 300 for piece in pieces)
    lines = "\n".join(pieces).split("\n")
    assert lines[:-1] == MENTIONS[: len(lines) - 1]
    assert lines[-1] == f"…and {len(MENTIONS) - len(lines) + 1} more"


def test_an_overlong_line_is_clipped() -> None:
    assert pack_lines(["x" * 50], 10) == ["x" * 9 + "…"]
    assert clip("  short  ", 10) == "short"


def test_add_lines_frames_the_list_within_the_field_limit() -> None:
    embed = discord.Embed()
    add_lines(embed, "Needs attention", MENTIONS, empty="", separator="; ",
              prefix="I could not finish: ", suffix=". I'll keep trying.")
    add_lines(embed, "Members", [], empty="nobody yet")
    add_lines(embed, "Cases", MENTIONS, empty="", chunks=2)
    names = [field.name for field in embed.fields]
    assert names == ["Needs attention", "Members", "Cases", "Cases (continued)"]
    first = embed.fields[0].value or ""
    assert first.startswith("I could not finish: moving <@")
    assert first.endswith(" more. I'll keep trying.")
    assert all(len(field.value or "") <= FIELD_VALUE for field in embed.fields)
    assert embed.fields[1].value == "nobody yet"
