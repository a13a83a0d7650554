"""balint-bot and the bare baseline, each in its own process, each against its own emulator.

The emulators run here, in the driver's process, so neither client shares an event
loop with the Discord it talks to; the two clients share nothing but the machine.
Samples are taken in turn (bot, baseline, bot, …) so that whatever else the machine
does weighs on both alike. Times are the emulator's: from the moment it dispatches
INTERACTION_CREATE to the moment a request arrives.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.processes import REPO, START_WITHIN, BotProcess, shell_without_settings
from tests.emulator.control import Emulator
from tests.emulator.faults import DISCORD_BUCKETS, RequestRecord
from tests.emulator.state import ChannelType

DATABASE = os.environ.get("BENCH_DATABASE", "sqlite")


@dataclass(frozen=True)
class Report:
    """What a process said when asked (benchmarks/_report.py)."""

    statements: int
    transactions: int
    rss_kib: int


@dataclass
class Side:
    """One client process and the emulator it talks to."""

    name: str
    emu: Emulator
    process: BotProcess

    async def report(self) -> Report:
        statements, transactions, rss = await self.ask(signal.SIGUSR1, "REPORT")
        return Report(statements, transactions, rss)

    async def ask(self, sent: signal.Signals, word: str) -> list[int]:
        """Send `sent`; the numbers of the process's next `word <t> <n>…` line."""
        self.process.process.send_signal(sent)
        assert self.process.process.stdout is not None
        while True:
            line = await asyncio.wait_for(self.process.process.stdout.readline(), 30)
            if not line:
                raise RuntimeError(f"the {self.name} process exited")
            said, *values = line.decode().split()
            if said == word:
                return [int(v) for v in values[1:]]

    async def stop(self) -> None:
        if self.process.process.returncode is None:
            self.process.process.terminate()
            try:
                await asyncio.wait_for(self.process.process.wait(), 10)
            except TimeoutError:
                self.process.process.kill()
                await self.process.process.wait()


async def launch(
    name: str, module: str, emu: Emulator, workdir: Path, until: str = "IDLE", **env: str
) -> Side:
    """Start `python -m module` against `emu`; returns once it has said `until` (IDLE:
    finished starting up; READY: connected, start-up work still running)."""
    log = (workdir / f"{name}.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        cwd=REPO,
        env={
            **shell_without_settings(),
            "BALINT_TEST_API": emu.base_url,
            "DISCORD_TOKEN": emu.token,
            "LOG_LEVEL": "WARNING",
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=log,
    )
    log.close()
    side = Side(name, emu, BotProcess(process))
    try:
        await asyncio.wait_for(side.process.wait_for(until), START_WITHIN * 4)
    except BaseException:
        await side.stop()
        raise
    return side


async def second_emulator(stack: AsyncExitStack) -> Emulator:
    """The baseline's emulator; discord.py in this process stays pointed at the first."""
    emu = Emulator()
    await emu.start()
    stack.push_async_callback(emu.stop)
    return emu


async def launch_baseline(
    stack: AsyncExitStack, emu: Emulator, workdir: Path, groups: int, per_server: int
) -> tuple[Side, list[tuple[int, int, int]], list[int]]:
    """The bare bot on servers shaped like balint-bot's: a text channel and a room per
    group, `per_server` groups a server, one leader, each presenter in their room.
    Returns the process, (guild, leader, text channel) per group, and the presenters."""
    leader = await emu.create_user("dr-leader")
    pairs: dict[int, tuple[int, int]] = {}
    places: list[tuple[int, int, int]] = []
    presenters: list[int] = []
    guild_id = 0
    for index in range(groups):
        if index % per_server == 0:
            guild_id = (await emu.create_guild(f"Society {index // per_server}")).id
            await emu.add_member(guild_id, leader.id)
        presenter = await emu.create_user(f"dr-{index}")
        await emu.add_member(guild_id, presenter.id)
        text = await emu.create_channel(guild_id, f"group-{index}")
        room = await emu.create_channel(guild_id, f"Room {index}", ChannelType.VOICE)
        await emu.join_voice(presenter.id, room.id)
        pairs[text.id] = (room.id, presenter.id)
        places.append((guild_id, leader.id, text.id))
        presenters.append(presenter.id)
    side = await launch(
        "bare", "benchmarks._baseline", emu, workdir, BASELINE_GROUPS=baseline_groups(pairs)
    )
    stack.push_async_callback(side.stop)
    return side, places, presenters


def baseline_groups(groups: dict[int, tuple[int, int]]) -> str:
    """BASELINE_GROUPS for benchmarks/_baseline.py: text channel → (room, presenter)."""
    return json.dumps({str(text): list(pair) for text, pair in groups.items()})


def latency_only(emu: Emulator) -> None:
    """No wire delay and no per-route buckets: what is left is the client's own time.

    The buckets (10 overwrites per 10 s per channel) would make a client wait between
    samples taken a tenth of a second apart; the burst benchmark keeps them on.
    """
    emu.faults.jitter = 0.0
    emu.faults.latency = 0.0
    for method, route in DISCORD_BUCKETS:
        emu.faults.set_bucket_limit(route, 1_000_000, 1.0, method=method)


async def requests_after(
    emu: Emulator, start: int, wanted: int, route_part: str, *, within: float = 30.0
) -> list[RequestRecord]:
    """Wait until `wanted` requests whose route contains `route_part` arrived after `start`."""
    async with asyncio.timeout(within):
        while True:
            found = [r for r in emu.request_log[start:] if route_part in r.route]
            if len(found) >= wanted:
                return found
            await asyncio.sleep(0.002)


async def quiet(emu: Emulator, for_seconds: float = 0.05) -> None:
    """Wait until the client has sent nothing for a while (its follow-up edits are done)."""
    seen = -1
    while seen != len(emu.request_log):
        seen = len(emu.request_log)
        await asyncio.sleep(for_seconds)


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def compare(label: str, bot: Sequence[float], bare: Sequence[float]) -> None:
    """Print p50 and p99 of both, in ms, and the ratios."""
    b50, b99 = percentile(bot, 0.5) * 1000, percentile(bot, 0.99) * 1000
    r50, r99 = percentile(bare, 0.5) * 1000, percentile(bare, 0.99) * 1000
    print(
        f"{label}: balint-bot p50 {b50:.1f} ms, p99 {b99:.1f} ms | bare discord.py "
        f"p50 {r50:.1f} ms, p99 {r99:.1f} ms | ratio {b50 / r50:.2f}× / {b99 / r99:.2f}× "
        f"({len(bot)} + {len(bare)} samples)"
    )
