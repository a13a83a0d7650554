"""Memory: balint-bot against a bare discord.py bot with the same intents, side by side.

Both run as their own processes (benchmarks/_side_by_side.py), each against its own
emulator holding the same servers: 20 members, a text channel and a voice room each.
Printed, each with the baseline's and the ratio: the resident memory once start-up is
done with no server, with BENCH_SERVERS (default 1,000) and with twice as many, and
the growth per 1,000 servers; then the modules the bot imported at start-up that
weigh most (`python -X importtime`, self time summed per top-level package).

`python -m benchmarks.memory`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

from benchmarks._side_by_side import DATABASE, Report, launch
from tests.conftest import fresh_database
from tests.e2e.processes import REPO
from tests.emulator.control import Emulator
from tests.emulator.state import ChannelType

SERVERS = int(os.environ.get("BENCH_SERVERS", "1000"))
MEMBERS = 20
MIB = 1024


async def _populate(emu: Emulator, servers: int) -> None:
    for index in range(servers):
        guild = await emu.create_guild(f"Society {index}")
        for member in range(MEMBERS - 1):
            user = await emu.create_user(f"dr-{index}-{member}")
            await emu.add_member(guild.id, user.id)
        await emu.create_channel(guild.id, "balint")
        await emu.create_channel(guild.id, "Room", ChannelType.VOICE)


async def _measure(servers: int, folder: Path) -> tuple[Report, Report, float]:
    """Both processes started on `servers` servers; their reports once idle."""
    async with AsyncExitStack() as stack:
        bot_emu, bare_emu = Emulator(), Emulator()
        for emu in (bot_emu, bare_emu):
            await emu.start()
            stack.push_async_callback(emu.stop)
            await _populate(emu, servers)
        engine = await stack.enter_async_context(fresh_database(DATABASE, folder))
        started = time.monotonic()
        bot = await launch(
            "balint-bot",
            "benchmarks._bot",
            bot_emu,
            folder,
            DATABASE_URL=engine.url.render_as_string(hide_password=False),
        )
        stack.push_async_callback(bot.stop)
        took = time.monotonic() - started
        bare = await launch("bare", "benchmarks._baseline", bare_emu, folder)
        stack.push_async_callback(bare.stop)
        return await bot.report(), await bare.report(), took


def _mib(report: Report) -> str:
    return f"{report.rss_kib / MIB:.1f} MiB"


def import_breakdown(top: int = 12) -> list[tuple[str, float]]:
    """Self import time per top-level package of the bot process, in ms, largest first."""
    code = (
        "import importlib, pkgutil, cogs, tests.e2e.bot_process\n"
        "for m in pkgutil.iter_modules(cogs.__path__): importlib.import_module('cogs.' + m.name)"
    )
    traced = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    totals: dict[str, float] = {}
    for line in traced.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(own) / 1000
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


async def memory(folder: Path) -> None:
    sizes = (0, SERVERS, 2 * SERVERS)
    reports = {}
    for size in sizes:
        workdir = folder / str(size)
        workdir.mkdir()
        bot, bare, took = await _measure(size, workdir)
        reports[size] = (bot, bare)
        print(
            f"RSS with {size:,} servers × {MEMBERS} members: balint-bot {_mib(bot)} | "
            f"bare discord.py {_mib(bare)} | ratio {bot.rss_kib / bare.rss_kib:.2f}× "
            f"(balint-bot ready and idle in {took:.1f} s)"
        )
    per = 1000 / SERVERS
    bot_growth = (reports[2 * SERVERS][0].rss_kib - reports[SERVERS][0].rss_kib) * per / MIB
    bare_growth = (reports[2 * SERVERS][1].rss_kib - reports[SERVERS][1].rss_kib) * per / MIB
    print(
        f"growth per 1,000 servers: balint-bot {bot_growth:.1f} MiB | bare discord.py "
        f"{bare_growth:.1f} MiB | difference {bot_growth - bare_growth:.1f} MiB"
    )
    print("import time of the bot process at start-up, self time per package:")
    for package, ms in import_breakdown():
        print(f"  {package:20s} {ms:7.1f} ms")


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(memory(Path(folder)))


if __name__ == "__main__":
    main()
