"""Start-up at the scale of a national society: 10,000 groups in 1,000 servers.

The database and the emulator are seeded in the steady state a restart finds
(weekly series, nine weeks of meetings with their reminders, every meeting's
Discord event already published; one group in ten with a presented case whose
follow-up prompts are planned). Then, in turn, the bot (tests/e2e/bot_process.py:
the real clock and APScheduler) and the bare discord.py baseline
(benchmarks/_baseline.py, the same intents) each start as their own OS process
against the emulator, which runs here, in the driver's process. Measured on the
machine's monotonic clock, per start and as medians:

- balint-bot: launch → READY and launch → IDLE (every start-up job and handler
  finished), its CPU time and peak RSS, failed jobs (logged "job … failed" or
  retried after a pool timeout), and the REST requests it made (the event check
  makes none when Discord already matches the database);
- the baseline: launch → READY (connected, every GUILD_CREATE read), CPU, peak RSS;
- the ratio of the bot's launch → IDLE to the baseline's launch → READY.

Both wait GUILD_READY_TIMEOUT for more GUILD_CREATEs, not discord.py's 2 s: long
enough that a busy machine does not end the stream early, short enough not to
hide the start-up's own time.

`python -m benchmarks.startup [--groups N …] [--runs R]` (default: 1,000 and 10,000
groups, 3 starts each); BENCH_DATABASE=postgresql for PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks._side_by_side import launch
from benchmarks.schedule import GROUPS_PER_SERVER, seed
from bot.db.models import Case, CaseStatus, FollowUpPrompt, Meeting, MeetingStatus
from tests.conftest import fresh_database
from tests.e2e.processes import BotProcess, launch_bot_process
from tests.emulator.control import Emulator

DATABASE = os.environ.get("BENCH_DATABASE", "sqlite")
PRESENTED_SHARE = 10  # one group in ten has a presented case awaiting follow-ups
GUILD_READY_TIMEOUT = 0.5
CLIENT_ENV = {"BALINT_TEST_GUILD_READY_TIMEOUT": str(GUILD_READY_TIMEOUT)}


async def _add_presented_cases(engine: AsyncEngine) -> int:
    """A presented case in every tenth group, its forum post made and its prompt for the
    next meeting already sent: start-up re-plans it and finds nothing to do."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        firsts = (
            await conn.execute(
                select(Meeting.group_id, func.min(Meeting.id)).group_by(Meeting.group_id)
            )
        ).all()
        chosen = [(g, m) for g, m in firsts if g % PRESENTED_SHARE == 0]
        for number, (group_id, meeting_id) in enumerate(chosen, start=1):
            case_id = (
                await conn.execute(
                    insert(Case).returning(Case.id),
                    {
                        "group_id": group_id,
                        "case_number": 1,
                        "presenter_id": 1000 + group_id,
                        "label": "a case",
                        "status": CaseStatus.PRESENTED,
                        "offered_at": now - timedelta(days=8),
                        "presented_at": now - timedelta(days=7),
                        "forum_thread_id": 10**17 + number,
                        "prompts_sent": 1,
                    },
                )
            ).scalar_one()
            await conn.execute(
                insert(FollowUpPrompt),
                {"case_id": case_id, "before_meeting_id": meeting_id,
                 "due_at": now - timedelta(hours=1), "sent_at": now - timedelta(hours=1)},
            )
    return len(chosen)


def _cpu_and_peak(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) and peak RSS in MiB of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    peak = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024
    return cpu, peak


@dataclass(frozen=True)
class Start:
    """One start of a client process, in seconds from launch (time.monotonic)."""

    ready: float
    idle: float
    cpu: float
    peak_mib: float
    failed: int = 0
    requests: Counter[str] = field(default_factory=Counter)


async def _start_once(
    emu: Emulator, log_path: Path, start: Callable[[], Awaitable[BotProcess]]
) -> tuple[Start, str]:
    """Launch a client with `start`, wait until it says IDLE, measure it, stop it; its log."""
    first_request = len(emu.request_log)
    launched = time.monotonic()
    started = await start()
    try:
        cpu, peak = _cpu_and_peak(started.process.pid)
    finally:
        await started.stop()
    assert started.idle_at is not None
    log = await asyncio.to_thread(log_path.read_text, errors="replace")
    return Start(
        ready=started.ready_at - launched,
        idle=started.idle_at - launched,
        cpu=cpu,
        peak_mib=peak,
        failed=log.count(" failed") + log.count("could not reach the database"),
        requests=Counter(f"{r.method} {r.route}" for r in emu.request_log[first_request:]),
    ), log


async def _bare(emu: Emulator, workdir: Path, name: str) -> BotProcess:
    return (await launch(name, "benchmarks._baseline", emu, workdir, **CLIENT_ENV)).process


def _median(starts: list[Start], measure: str) -> float:
    return float(statistics.median(getattr(start, measure) for start in starts))


async def run(groups: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        async with fresh_database(DATABASE, workdir) as engine, Emulator() as emu:
            began = time.perf_counter()
            # The first meetings a day ahead: start-up is measured, not a reminder burst.
            await seed(emu, engine, groups, datetime.now(UTC) + timedelta(days=1))
            cases = await _add_presented_cases(engine)
            async with engine.connect() as conn:
                meetings = (
                    await conn.execute(
                        select(func.count())
                        .select_from(Meeting)
                        .where(Meeting.status == MeetingStatus.SCHEDULED)
                    )
                ).scalar_one()
            print(
                f"seeded {groups:,} groups in {groups // GROUPS_PER_SERVER:,} servers, "
                f"{meetings:,} meetings with their events, {cases:,} presented cases "
                f"({time.perf_counter() - began:.0f} s), {DATABASE}; load average "
                + " ".join(f"{load:.2f}" for load in os.getloadavg())
            )
            bots: list[Start] = []
            bares: list[Start] = []
            for number in range(runs):
                # In turn, so whatever else the machine does weighs on both alike.
                bot_log, bare_name = workdir / f"balint-bot-{number}.log", f"bare-{number}"
                bot, log = await _start_once(
                    emu, bot_log, partial(launch_bot_process, emu, engine, bot_log, CLIENT_ENV)
                )
                bare, _ = await _start_once(
                    emu, workdir / f"{bare_name}.log", partial(_bare, emu, workdir, bare_name)
                )
                bots.append(bot)
                bares.append(bare)
                print(
                    f"  run {number + 1}: balint-bot launch → READY {bot.ready:.1f} s, → IDLE "
                    f"{bot.idle:.1f} s, CPU {bot.cpu:.1f} s, peak RSS {bot.peak_mib:.0f} MiB, "
                    f"failed jobs {bot.failed} | bare discord.py launch → READY "
                    f"{bare.ready:.1f} s, CPU {bare.cpu:.1f} s, peak RSS {bare.peak_mib:.0f} MiB"
                )
                for line in sorted({line for line in log.splitlines() if " failed" in line})[:5]:
                    print(f"    failed: {line[:160]}")
            bot_idle, bare_ready = _median(bots, "idle"), _median(bares, "ready")
            print(
                f"start-up with {groups:,} groups in {groups // GROUPS_PER_SERVER:,} servers, "
                f"medians of {runs}: balint-bot launch → all start-up work done "
                f"{bot_idle:.1f} s (READY {_median(bots, 'ready'):.1f} s), CPU "
                f"{_median(bots, 'cpu'):.1f} s, peak RSS {_median(bots, 'peak_mib'):.0f} MiB, "
                f"failed jobs {sum(b.failed for b in bots)} | bare discord.py launch → READY "
                f"{bare_ready:.1f} s, CPU {_median(bares, 'cpu'):.1f} s, peak RSS "
                f"{_median(bares, 'peak_mib'):.0f} MiB | ratio {bot_idle / bare_ready:.2f}×"
            )
            requests = bots[-1].requests
            print(f"  REST requests balint-bot's last start made: {sum(requests.values())}")
            for route, count in requests.most_common(8):
                print(f"    {count} × {route}")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--groups", type=int, nargs="+", default=[1_000, 10_000],
        help="how many groups (ten per server); each size is a run of its own",
    )
    parser.add_argument("--runs", type=int, default=3, help="starts of each client per size")
    args, _ = parser.parse_known_args()
    for groups in args.groups:
        asyncio.run(run(groups, args.runs))


if __name__ == "__main__":
    main()
