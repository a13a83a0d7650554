"""Discord's embed limits in one place, so every embed the bot builds is accepted.

Discord refuses the whole message (400 50035) when one part of an embed is too long, so a
list that grows with the group (members, cases, what failed at the end of a meeting) is cut
at whole lines and ends by saying how many were left out, instead of being lost.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord

# docs, Message: "Embed Limits" (the total counts every embed of a message).
TITLE = 256
DESCRIPTION = 4096
FIELDS = 25
FIELD_NAME = 256
FIELD_VALUE = 1024
FOOTER = 2048
AUTHOR = 256
TOTAL = 6000


def clip(text: str, limit: int) -> str:
    """The text, shortened with an ellipsis if it is longer than ``limit``."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def pack_lines(
    lines: Sequence[str], limit: int, *, separator: str = "\n", chunks: int = 1
) -> list[str]:
    """Whole lines in at most ``chunks`` pieces of at most ``limit`` characters each; when
    some do not fit, the last piece ends with "…and N more" (a cut line could break a
    mention in half)."""
    clipped = [clip(line, limit) for line in lines]
    pieces = _pack(clipped, limit, separator, chunks, reserve=0)
    shown = sum(len(piece) for piece in pieces)
    if shown < len(clipped):
        note = len(f"{separator}…and {len(clipped)} more")
        pieces = _pack(clipped, limit, separator, chunks, reserve=note)
        shown = sum(len(piece) for piece in pieces)
        pieces[-1].append(f"…and {len(clipped) - shown} more")
    return [separator.join(piece) for piece in pieces]


def _pack(
    lines: list[str], limit: int, separator: str, chunks: int, *, reserve: int
) -> list[list[str]]:
    """Greedy: fill each piece, the last one only up to ``limit - reserve``; stop at the
    first line that fits nowhere."""
    pieces: list[list[str]] = [[]]
    size = 0
    for line in lines:
        room = limit - (reserve if len(pieces) == chunks else 0)
        cost = len(line) + (len(separator) if pieces[-1] else 0)
        if size + cost <= room:
            pieces[-1].append(line)
            size += cost
        elif len(pieces) < chunks and len(line) <= limit - (
            reserve if len(pieces) + 1 == chunks else 0
        ):
            pieces.append([line])
            size = len(line)
        else:
            break
    return pieces


def add_lines(
    embed: discord.Embed,
    name: str,
    lines: Sequence[str],
    *,
    empty: str,
    chunks: int = 1,
    separator: str = "\n",
    prefix: str = "",
    suffix: str = "",
) -> None:
    """A full-width field listing ``lines`` (``empty`` if none), continued in up to
    ``chunks`` fields when long; ``prefix`` and ``suffix`` frame the whole list."""
    if not lines:
        embed.add_field(name=clip(name, FIELD_NAME), value=clip(empty, FIELD_VALUE), inline=False)
        return
    budget = FIELD_VALUE - len(prefix) - len(suffix)
    pieces = pack_lines(lines, budget, separator=separator, chunks=chunks)
    for index, piece in enumerate(pieces):
        start = prefix if index == 0 else ""
        end = suffix if index == len(pieces) - 1 else ""
        title = name if index == 0 else f"{name} (continued)"
        embed.add_field(name=clip(title, FIELD_NAME), value=start + piece + end, inline=False)
