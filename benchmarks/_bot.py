"""balint-bot as its own process for the benchmarks: `python -m benchmarks._bot`.

The real bot as the crash tests run it (tests/e2e/bot_process.py: READY, IDLE, the
environment it reads), plus SQLAlchemy event hooks that count the statements and the
transactions it runs; SIGUSR1 prints the counts and the process's memory (REPORT),
SIGUSR2 the timed jobs it holds (`JOBS <t> <reminder jobs> <all jobs> <in APScheduler>`).
BENCH_PROFILE=<file> profiles the process with cProfile, for finding where its time goes.
"""

from __future__ import annotations

import asyncio
import cProfile
import os
import signal
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks._report import announce, answer_reports
from bot.app import BalintBot, build_bot
from bot.clock import Clock
from bot.config import Settings
from bot.services.reminders import REMINDER_JOB
from tests.e2e import bot_process

_counts = {"statements": 0, "transactions": 0}
_bots: list[BalintBot] = []


def _statement(*_: Any) -> None:
    _counts["statements"] += 1


def _transaction(*_: Any) -> None:
    _counts["transactions"] += 1


async def main() -> None:
    event.listen(Engine, "before_cursor_execute", _statement)
    event.listen(Engine, "begin", _transaction)
    answer_reports(lambda: (_counts["statements"], _counts["transactions"]))
    _answer_jobs()
    profile_to = os.environ.get("BENCH_PROFILE")
    if profile_to:
        _profile_until_terminated(profile_to)
    await bot_process.run()


def _answer_jobs() -> None:
    """Keep the bot bot_process.run builds, so SIGUSR2 can tell what its scheduler holds:
    the jobs themselves, which the database's rows alone do not show."""

    def kept(settings: Settings, engine: AsyncEngine, clock: Clock | None = None) -> BalintBot:
        _bots.append(build_bot(settings, engine, clock))
        return _bots[-1]

    bot_process.build_bot = kept  # type: ignore[attr-defined]  # imported there, not exported

    def jobs() -> None:
        if not _bots:
            announce("JOBS", 0, 0, 0)
            return
        held = _bots[-1].jobs
        # _handed: the jobs near enough to be in APScheduler itself, not only in the cache.
        announce("JOBS", len(held.pending(REMINDER_JOB)), len(held.pending()), len(held._handed))

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, jobs)


def _profile_until_terminated(path: str) -> None:
    """BENCH_PROFILE=<file>: cProfile the whole process (`python -m pstats <file>` reads
    it), written out when the driver stops the process."""
    profiler = cProfile.Profile()
    profiler.enable()

    def stop() -> None:
        profiler.disable()
        profiler.dump_stats(path)
        os._exit(0)

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop)


if __name__ == "__main__":
    asyncio.run(main())
