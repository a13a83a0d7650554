"""Real crashes: the bot as a separate OS process, killed with SIGKILL and started again.

The test process keeps the emulator and the database; the bot runs in
`tests.e2e.bot_process` over loopback. Set-up that no crash is aimed at (creating
the group, inviting members) is done by an in-process bot first, which is then
stopped cleanly. Time: the bot process runs on the real clock plus an offset
(`BALINT_TEST_CLOCK_OFFSET`); to let time pass while the bot is down, a test calls
`let_time_pass` between the kill and the next start, which moves both the offset
given to the next process and the emulator's clock. Nothing waits on wall-clock time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import ManualClock
from bot.config import Settings
from tests.e2e.conftest import Harness
from tests.emulator.control import Emulator

SEND = discord.Permissions(send_messages=True).value
# How long a fresh process may take to import, connect and reconcile on a busy machine.
START_WITHIN = 60.0
# Issue 10: Discord agrees with the database within 5 s of the bot being ready.
CONSISTENT_WITHIN = 5.0
REPO = Path(__file__).resolve().parents[2]


@dataclass
class BotProcess:
    """One running bot process and the moments (time.monotonic) it reported."""

    process: asyncio.subprocess.Process
    ready_at: float = 0.0
    idle_at: float | None = None

    async def wait_for(self, word: str) -> None:
        """Read the process's announcements until `word` (READY or IDLE)."""
        while not (self.idle_at if word == "IDLE" else self.ready_at):
            await self._next_word(word)

    async def _next_word(self, awaited: str) -> str:
        assert self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            code = await self.process.wait()
            raise RuntimeError(f"the bot process exited ({code}) before {awaited}")
        said, _, value = line.decode().partition(" ")
        if said == "READY":
            self.ready_at = float(value)
        elif said == "IDLE":
            self.idle_at = float(value)
        return said

    async def move_clock(self, when: datetime) -> None:
        """A process on the test's clock (BALINT_TEST_CLOCK_AT): set it to `when` and
        wait until the jobs due by then, and what they set off, are done."""
        assert self.process.stdin is not None
        self.process.stdin.write(f"AT {when.isoformat()}\n".encode())
        await self.process.stdin.drain()
        async with asyncio.timeout(START_WITHIN):
            while await self._next_word("AT") != "AT":
                pass

    async def kill(self) -> None:
        """SIGKILL: the process ends wherever it is, with no clean-up of any kind."""
        self.process.send_signal(signal.SIGKILL)
        assert await self.process.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


class ProcessHarness(Harness):
    """A `Harness` whose bot, once set up, runs as a child process that tests can kill."""

    def __init__(self, emu: Emulator, engine: AsyncEngine, clock: ManualClock,
                 workdir: Path) -> None:
        super().__init__(emu, engine, clock)
        self.workdir = workdir
        self.offset = timedelta(0)
        self.process: BotProcess | None = None
        self.starts = 0

    async def settle(self, within: float = 30.0) -> None:
        """Once the bot runs as a process, there is nothing in this one to wait for."""
        if self.process is None:
            await super().settle(within)

    def discord_now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    async def hand_over(self) -> BotProcess:
        """Stop the in-process bot used for set-up; the bot now runs as a process."""
        await self.stop_bot()
        self.emu.state.now = self.discord_now
        return await self.start_process()

    async def start_process(self, until: str = "IDLE") -> BotProcess:
        """A new bot process on the same database and emulator.

        Returns once it is READY, or IDLE: reconciled, with every handler and job
        that start-up set off finished (so the next request it makes is a test's).
        """
        self.starts += 1
        self.process = await launch_bot_process(
            self.emu, self.engine, self.workdir / f"bot-{self.starts}.log",
            {"BALINT_TEST_CLOCK_OFFSET": str(self.offset.total_seconds())}, until,
        )
        return self.process

    async def kill_process(self) -> None:
        """SIGKILL: the process ends wherever it is, with no clean-up of any kind."""
        assert self.process is not None
        await self.process.kill()
        self.process = None

    async def stop_process(self) -> None:
        if self.process is not None:
            await self.process.stop()
        self.process = None

    def let_time_pass(self, delta: timedelta) -> None:
        """While the bot is down: the next process and Discord both find it `delta` later."""
        assert self.process is None, "time moves only while the bot is down"
        self.offset += delta

    async def consistent(self, check: Callable[[], Awaitable[None]],
                         poll: float = 0.01) -> float:
        """Seconds from the bot's READY until `check` passes; fails if that is over 5 s.

        Once it passes, waits for the bot to be IDLE and checks again: a start-up
        that broke what held at first would not count as consistent.
        """
        assert self.process is not None
        deadline = self.process.ready_at + CONSISTENT_WITHIN
        while True:
            try:
                await check()
                took = time.monotonic() - self.process.ready_at
                break
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(poll)
        await asyncio.wait_for(self.process.wait_for("IDLE"), START_WITHIN)
        await check()
        return took


def shell_without_settings() -> dict[str, str]:
    """This process's environment minus the bot's settings: a bot process's settings come
    only from its test or benchmark, never from the developer's shell (bot_process.py
    also ignores any .env file)."""
    names = {f.name for f in fields(Settings)}
    return {k: v for k, v in os.environ.items() if k.lower() not in names}


async def database_env(engine: AsyncEngine) -> dict[str, str]:
    """What a bot process needs to find the database set up in this one."""
    env = {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    if engine.url.get_backend_name() == "postgresql":
        async with engine.connect() as conn:
            env["BALINT_TEST_SEARCH_PATH"] = str(
                (await conn.execute(text("SELECT current_schema()"))).scalar_one()
            )
    return env


async def launch_bot_process(
    emu: Emulator, engine: AsyncEngine, log_path: Path, settings: dict[str, str],
    until: str | None = "IDLE",
) -> BotProcess:
    """A bot process on this emulator and database with these extra environment
    variables; returns once it is READY, or IDLE (see `ProcessHarness.start_process`),
    or at once with `until=None`."""
    env = {
        **shell_without_settings(),
        "BALINT_TEST_API": emu.base_url,
        "DISCORD_TOKEN": emu.token,
        **await database_env(engine),
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.e2e.bot_process", cwd=REPO, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log,
        )
    started = BotProcess(process)
    if until is None:
        return started
    try:
        await asyncio.wait_for(started.wait_for(until), START_WITHIN)
    except BaseException:
        await started.stop()
        raise
    return started


async def process_harness(emulator: Emulator, engine: AsyncEngine,
                          workdir: Path) -> ProcessHarness:
    """A server with the in-process bot running for set-up (see `hand_over`)."""
    clock = ManualClock(datetime.now(UTC))
    emulator.state.now = clock.now
    harness = ProcessHarness(emulator, engine, clock, workdir)
    await harness.setup_server()
    await harness.start_bot()
    return harness
