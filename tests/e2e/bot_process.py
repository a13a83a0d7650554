"""Run the real bot as its own OS process against the emulator: `python -m tests.e2e.bot_process`.

The crash tests start it, kill it with SIGKILL and start it again on the same
database and emulator. Everything comes from the environment:

- BALINT_TEST_API: the emulator's http://127.0.0.1:PORT (REST under /api/v10,
  the gateway at ws://…/);
- DISCORD_TOKEN, DATABASE_URL as for the real bot; BALINT_TEST_SEARCH_PATH, the
  PostgreSQL schema the test's tables are in;
- BALINT_TEST_GUILD_READY_TIMEOUT: how long discord.py waits for more
  GUILD_CREATEs before READY (0.05 s; the start-up benchmark's thousand servers
  want more on a busy machine);
- BALINT_TEST_CLOCK_OFFSET: seconds added to the real clock. The process cannot
  share the test's ManualClock, so it runs on the real clock; a test that needs
  time to pass while the bot is down (a phase running out, a meeting's end) starts
  the next process with a larger offset and the emulator's clock moved alike, and
  the bot finds the overdue jobs at start-up, as after a real outage;
- BALINT_TEST_CLOCK_AT instead: the process runs on a manual clock set to that ISO
  time, and the test moves it with a line `AT <iso time>` on stdin; the process runs
  the jobs due by then, waits for what they set off, and answers `AT <t>`. Several
  processes (shards) then share the test's time;
- BALINT_TEST_NAME: added to the User-Agent, so the emulator's log tells which
  process made each request.

It prints `READY <t>` when discord.py is ready and `IDLE <t>` once the bot has
reconciled Discord with the database and every event handler and job that start-up
set off has finished (`t` is time.monotonic(), the same clock in every process of
the machine), so tests measure from the real moment and aim their kills at requests
of the operation under test, not of the start-up.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import discord
import yarl

from bot.app import BalintBot, build_bot
from bot.clock import Clock, ManualClock, SystemClock
from bot.config import Settings
from bot.db.engine import create_engine

# discord.py waits this long for more GUILD_CREATEs before READY; the emulator sends
# them all at once (BALINT_TEST_GUILD_READY_TIMEOUT: longer for a thousand servers).
GUILD_READY_TIMEOUT = 0.05


class OffsetClock(SystemClock):
    """The real clock, moved on by a fixed offset chosen by the test."""

    def __init__(self, offset: timedelta) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return super().now() + self._offset


def point_discord_at(api: str) -> None:
    discord.http.Route.BASE = f"{api}/api/v10"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(
        api.replace("http://", "ws://", 1) + "/"
    )


def guild_ready_timeout() -> float:
    return float(os.environ.get("BALINT_TEST_GUILD_READY_TIMEOUT", GUILD_READY_TIMEOUT))


def announce(word: str) -> None:
    print(f"{word} {time.monotonic():.6f}", flush=True)


async def start_up_finished(bot: BalintBot) -> None:
    """Wait for the jobs and the event handlers (discord.py names them) still running."""
    while True:
        await bot.jobs.wait_idle()
        handlers = [
            task for task in asyncio.all_tasks()
            if task is not asyncio.current_task() and task.get_name().startswith("discord.py: ")
        ]
        if not handlers:
            return
        await asyncio.gather(*handlers, return_exceptions=True)


async def run() -> None:
    point_discord_at(os.environ["BALINT_TEST_API"])
    settings = Settings.load(env_file=None)
    assert settings.discord_token is not None
    search_path = os.environ.get("BALINT_TEST_SEARCH_PATH")
    options = (
        {"connect_args": {"server_settings": {"search_path": search_path}}} if search_path else {}
    )
    engine = create_engine(settings.database_url, **options)
    at = os.environ.get("BALINT_TEST_CLOCK_AT")
    clock: Clock = (
        ManualClock(datetime.fromisoformat(at)) if at
        else OffsetClock(timedelta(seconds=float(os.environ.get("BALINT_TEST_CLOCK_OFFSET", "0"))))
    )
    bot = build_bot(settings, engine, clock)
    bot._connection.guild_ready_timeout = guild_ready_timeout()
    name_requests(bot, os.environ.get("BALINT_TEST_NAME", ""))

    async def tell_progress() -> None:
        await bot.wait_until_ready()
        announce("READY")
        await bot.reconciled.wait()
        await start_up_finished(bot)
        announce("IDLE")

    progress = asyncio.create_task(tell_progress())
    if isinstance(clock, ManualClock):
        moves = asyncio.create_task(follow_the_test_clock(bot, clock))
    async with bot:
        await bot.start(settings.discord_token.get_secret_value())
    progress.cancel()
    if isinstance(clock, ManualClock):
        moves.cancel()


def name_requests(bot: BalintBot, name: str) -> None:
    """Add `name` to the User-Agent of every request: discord.py's own, and those of its
    interaction webhooks, which go out with the session's default headers."""
    if not name:
        return
    bot.http.user_agent += f" {name}"
    plain = aiohttp.ClientSession.__init__

    def named(session: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        kwargs["headers"] = {"User-Agent": f"aiohttp {name}", **(kwargs.get("headers") or {})}
        plain(session, *args, **kwargs)

    aiohttp.ClientSession.__init__ = named  # type: ignore[method-assign,assignment]


async def follow_the_test_clock(bot: BalintBot, clock: ManualClock) -> None:
    """Move the clock as stdin says (`AT <iso time>`), once the bot is idle after start-up."""
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await bot.reconciled.wait()
    while line := await reader.readline():
        said, _, value = line.decode().strip().partition(" ")
        if said == "AT":
            await clock.set(datetime.fromisoformat(value))
            await start_up_finished(bot)
            announce("AT")


if __name__ == "__main__":
    asyncio.run(run())
