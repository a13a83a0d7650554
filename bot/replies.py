"""Small helpers every cog uses to answer people."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.domain.zones import matching_zones
from bot.ratelimit import DiscordPace, Watch

log = logging.getLogger(__name__)
T = TypeVar("T")

# A change still unfinished after this long is queued behind Discord's limits: say so,
# then again every SLOW_NOTE_EVERY seconds with a fresh estimate, so nothing looks stuck.
SLOW_NOTE_AFTER = 1.5
SLOW_NOTE_EVERY = 10.0

# Discord refuses a message over 2,000 characters, and the person would get no answer.
MAX_MESSAGE = 2000
# Discord's answer to a second acknowledgement of one interaction.
ALREADY_ACKNOWLEDGED = 40060
HANDLED_ELSEWHERE = "interaction %s is being handled by another process"


async def defer_first(interaction: discord.Interaction, **options: Any) -> bool:
    """Acknowledge before anything else; False if another process already did.

    Discord accepts one acknowledgement per interaction, so for the interactions that
    are deferred before any other work (bot/app.py: `acknowledged_first`) this is the
    claim: the process refused stays silent and changes nothing.
    """
    try:
        await interaction.response.defer(**options)
    except discord.HTTPException as error:
        if error.code != ALREADY_ACKNOWLEDGED:
            raise
        log.info(HANDLED_ELSEWHERE, interaction.id)
        return False
    return True


async def reply_ephemeral(interaction: discord.Interaction, content: str) -> None:
    """Answer privately, whether or not the interaction was already answered or deferred."""
    if len(content) > MAX_MESSAGE:
        content = content[: MAX_MESSAGE - 1] + "…"
    if interaction.response.is_done():
        await interaction.followup.send(content, ephemeral=True)
    else:
        await interaction.response.send_message(content, ephemeral=True)


def timestamp(moment: datetime, style: discord.utils.TimestampStyle = "F") -> str:
    """A Discord timestamp (`<t:…:F>`): each reader sees it in their own time zone."""
    return discord.utils.format_dt(moment, style=style)


def zone_choices(typed: str) -> list[app_commands.Choice[str]]:
    """Autocomplete choices of IANA zones, e.g. 'syd' → Australia/Sydney."""
    return [app_commands.Choice(name=zone, value=zone) for zone in matching_zones(typed)]


def slow_note(watch: Watch, what: str) -> str:
    """What a leader reads while a change is held back: Discord's rate limits, with how
    long, when its requests wait on Discord; only that the bot is busy otherwise."""
    if not watch.waiting_on_discord():
        return f"⏳ Busy moment: {what} is under way; this message changes when it is done."
    seconds = watch.expected_wait()
    about = f"about {math.ceil(seconds)} s" if seconds >= 1 else "a moment"
    return (f"⏳ Discord is slowing us down: {what} is queued, {about}. "
            "It will still be done; this message changes when it is.")


NOT_DONE_NOTE = "⚠️ The change did not go through: see the message below."


async def tell_if_slow(pace: DiscordPace, change: Coroutine[Any, Any, T],
                       tell: Callable[[str], Awaitable[object]], what: str,
                       *, in_place: bool = True) -> T:
    """Run `change`; while it waits on Discord, `tell` the person how long (estimated from
    the requests it makes, which `pace` follows). `in_place`: `tell` edits one message, so
    the note is renewed every SLOW_NOTE_EVERY s and corrected if the work fails; otherwise
    (each `tell` a new message) it is said once. The work goes on whatever telling does."""
    with pace.watch() as watch:
        work = asyncio.ensure_future(change)  # the task inherits the watch
    told = False

    async def say(text: str) -> None:
        nonlocal told
        try:
            await tell(text)
            told = True
        except discord.HTTPException as error:
            log.info("could not say the change is queued: HTTP %s", error.status)

    done, _ = await asyncio.wait({work}, timeout=SLOW_NOTE_AFTER)
    while not done:
        await say(slow_note(watch, what))
        if not in_place:
            break
        done, _ = await asyncio.wait({work}, timeout=SLOW_NOTE_EVERY)
    try:
        return await work
    except Exception:
        if told and in_place:
            await say(NOT_DONE_NOTE)
        raise
