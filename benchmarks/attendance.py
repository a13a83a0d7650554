"""Attendance files: the statement PDF and the leaders' chart, and the event loop meanwhile.

Figures printed:
- a statement PDF for two years of weekly meetings (104 rows): median and p90 (target
  under 300 ms), and reading it back as `/attendance verify` does;
- the group chart for 12 members × 52 meetings: median and p90 (target under 500 ms);
- the event loop's worst delay while each is made, in a worker thread as the bot does
  and, side by side, inline: the ratio shows what the worker thread spares the bot.
Wall-clock and CPU medians are both printed: on a shared machine the CPU time is the
steadier figure of the work itself.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from bot.domain.attendance import Statement, StatementLine, Status, parse_scheme
from bot.services.attendance_files import grid_png, read_statement_pdf, statement_pdf

RUNS = 15
WEEKS = 104
MEMBERS = 12
MEETINGS = 52
TICK = 0.005


def two_years() -> Statement:
    lines = tuple(
        StatementLine(
            date(2024, 1, 2) + timedelta(weeks=i),
            90 - (i % 4) * 15,
            Status.PRESENT if i % 4 < 2 else Status.LATE,
            i % 9 == 0,
        )
        for i in range(WEEKS)
    )
    return Statement(
        "Dr Aroha Ngāta-Wilson",
        "Tuesday evening group",
        date(2024, 1, 1),
        date(2025, 12, 31),
        lines,
        parse_scheme("Educational activity 0.5 h + Reviewing performance 1 h"),
    )


def grid() -> tuple[list[str], list[date], list[list[Status]]]:
    statuses = list(Status)
    return (
        [f"Dr Member {i:02d}" for i in range(MEMBERS)],
        [date(2025, 1, 7) + timedelta(weeks=j) for j in range(MEETINGS)],
        [[statuses[(i * 7 + j * 3) % 11 % 5] for j in range(MEETINGS)] for i in range(MEMBERS)],
    )


def timed(make: Callable[[], Any]) -> tuple[list[float], list[float]]:
    make()  # the first call imports the library and loads the font
    wall, cpu = [], []
    for _ in range(RUNS):
        started, started_cpu = time.perf_counter(), time.process_time()
        make()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return wall, cpu


def describe(name: str, wall: list[float], cpu: list[float], target_ms: float) -> None:
    ordered = sorted(wall)
    p90 = ordered[int(len(ordered) * 0.9)]
    median = statistics.median(wall) * 1000
    print(
        f"{name}: median {median:.0f} ms wall (p90 {p90 * 1000:.0f} ms), "
        f"{statistics.median(cpu) * 1000:.0f} ms CPU; target {target_ms:.0f} ms "
        f"({'met' if median < target_ms else 'NOT met'} on wall-clock)"
    )


async def worst_loop_delay(make: Callable[[], Any], *, in_thread: bool) -> float:
    """The longest a 5 ms ticker waited beyond its time while `make` ran."""
    worst = 0.0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal worst
        while not done.is_set():
            due = time.perf_counter() + TICK
            await asyncio.sleep(TICK)
            worst = max(worst, time.perf_counter() - due)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(TICK * 2)
    if in_thread:
        await asyncio.to_thread(make)
    else:
        make()
    done.set()
    await ticker
    return worst


async def loop_delays(name: str, make: Callable[[], Any]) -> None:
    threaded = [await worst_loop_delay(make, in_thread=True) for _ in range(5)]
    inline = [await worst_loop_delay(make, in_thread=False) for _ in range(5)]
    bot, bare = statistics.median(threaded), statistics.median(inline)
    print(
        f"{name}, event loop's worst delay: {bot * 1000:.0f} ms in a worker thread (as the "
        f"bot does) vs {bare * 1000:.0f} ms inline; inline/threaded {bare / max(bot, 1e-6):.1f}×"
    )


def main() -> None:
    statement = two_years()
    members, days, statuses = grid()

    def pdf() -> bytes:
        return statement_pdf(statement, ["Dr Leader One", "Dr Leader Two"],
                             "ABCD-EFGH-JKLM-NPQR", date(2026, 1, 1))

    def chart() -> bytes:
        return grid_png(members, days, statuses)

    document = pdf()
    image = chart()
    print(f"statement: {WEEKS} meetings, {len(document) / 1024:.0f} KiB; chart "
          f"{MEMBERS}×{MEETINGS}: {len(image) / 1024:.0f} KiB")
    describe("statement PDF (2 years weekly)", *timed(pdf), 300)
    describe("reading the PDF back (/attendance verify)", *timed(
        lambda: read_statement_pdf(document)), 300)
    describe(f"chart PNG ({MEMBERS}×{MEETINGS})", *timed(chart), 500)
    asyncio.run(loop_delays("statement PDF", pdf))
    asyncio.run(loop_delays("chart PNG", chart))


if __name__ == "__main__":
    main()
