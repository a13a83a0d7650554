"""Time from ready to consistent after a real crash (issue 10: within 5 s of ready).

Each sample sets up a meeting, runs the bot as its own process, SIGKILLs it between
two requests of a phase change or an end (the kill points of the crash tests, in
turn, each with the aftermaths in turn), starts a new process on the same database
and emulator, and measures, on the machine's monotonic clock shared by both
processes, from the new process's READY until Discord agrees with the database
(tests/e2e/invariant.py's silence invariant, checked every 5 ms).
Also printed: READY → IDLE (start-up reconciliation and its handlers finished).

`python -m benchmarks.recovery [samples]` (default 20) on SQLite;
BENCH_DATABASE=postgresql for PostgreSQL (TEST_DATABASE_URL, as for the tests).
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import sys
import tempfile
from pathlib import Path

from tests.conftest import fresh_database
from tests.e2e.crash_points import (
    KILL_POINTS,
    WhileDown,
    before,
    happen_while_down,
    kill_before_request,
)
from tests.e2e.invariant import assert_silence_invariant
from tests.e2e.processes import process_harness
from tests.emulator.control import Emulator

DEFAULT_SAMPLES = 20
DATABASE = os.environ.get("BENCH_DATABASE", "sqlite")


async def _sample(index: int, folder: Path) -> tuple[float, float]:
    """One crash and restart; returns (ready → consistent, ready → idle) in seconds."""
    operations = [(op, k) for op, k in KILL_POINTS if op != "start"]
    operation, k = operations[index % len(operations)]
    while_down = list(WhileDown)[index % len(WhileDown)]
    workdir = folder / f"sample-{index}"
    workdir.mkdir()
    async with fresh_database(DATABASE, workdir) as engine, Emulator() as emu:
        harness = await process_harness(emu, engine, workdir)
        try:
            group = await before(harness, operation)
            await harness.hand_over()
            await kill_before_request(harness, group, operation, k)
            await happen_while_down(harness, group, while_down)
            process = await harness.start_process(until="READY")
            took = await harness.consistent(
                lambda: assert_silence_invariant(harness), poll=0.005
            )
            assert process.idle_at is not None
            return took, process.idle_at - process.ready_at
        finally:
            await harness.stop_process()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _run(samples: int) -> None:
    consistent: list[float] = []
    idle: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        for index in range(samples):
            took, to_idle = await _sample(index, Path(folder))
            consistent.append(took)
            idle.append(to_idle)
    print(f"{samples} SIGKILLs between two requests, {DATABASE}:")
    for name, values in (("ready → consistent", consistent), ("ready → idle", idle)):
        print(
            f"  {name}: p50 {statistics.median(values) * 1000:.0f} ms, "
            f"p99 {_percentile(values, 0.99) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms"
        )


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    samples = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else DEFAULT_SAMPLES
    asyncio.run(_run(samples))


if __name__ == "__main__":
    main()
