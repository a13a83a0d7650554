"""People first: a phase change while the bot is busy with start-up or with reminders.

One live meeting (at the clarifying questions) and, beside it, BENCH_GROUPS groups in
servers of ten, seeded in the steady state a restart finds, except that every
server had one of its Discord events edited by hand while the bot was down: the
start-up check must put each right (a fetch and an edit per server, background work).
Their next reminders all fall due in the same minute a little later (timed work).
The bot runs as its own process (benchmarks/_bot.py) against the emulator in this
process, with Discord's 50 requests/s enforced; the leader runs
`/phase set discussion` / `questions` in turn, and each sample is the emulator's
time from INTERACTION_CREATE to the move that silences or frees the presenter:

- during start-up (READY until the start-up work is done);
- idle;
- during the reminder burst.

Printed: p50 and p99 of each, the ratio to idle, the counted requests the bot made
meanwhile (start-up and burst) and 429s.
`python -m benchmarks.priority` (BENCH_GROUPS, default 2000; BENCH_SAMPLES, default 40).
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks._side_by_side import DATABASE, launch, percentile
from benchmarks.phases import group_at_questions
from benchmarks.schedule import QUARTER_BEFORE, seed
from tests.conftest import fresh_database
from tests.e2e.processes import (
    START_WITHIN,
    database_env,
    process_harness,
)
from tests.emulator.control import Emulator

GROUPS = int(os.environ.get("BENCH_GROUPS", "2000"))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", "40"))
# A leader changes phase every few minutes, not ten times a second: spaced so that the
# server's member-move bucket (10 per 10 s) is never what a sample waits for.
SPACING = 1.0
# Seconds from launch until the reminders fall due: start-up and idle samples first.
LEAD = float(os.environ.get("BENCH_LEAD", "90"))
EXEMPT = ("/interactions/", "/webhooks/")
GIVE_UP = 60.0


async def _move(emu: Emulator, guild_id: int, leader: int, text_id: int, presenter: int,
                phase: str) -> float | None:
    """`/phase set <phase>` → the move of the presenter (seconds, the emulator's clock);
    None when the bot missed the interaction's 3 s deadline (nothing moves then)."""
    start = len(emu.request_log)
    result = await emu.run_command(leader, guild_id, text_id, "phase set", phase=phase,
                                   within=60, check=False)
    if result.missed_deadline:
        return None
    deadline = time.monotonic() + GIVE_UP
    while time.monotonic() < deadline:
        moves = [r for r in emu.request_log[start:]
                 if r.method == "PATCH" and r.path.endswith(f"/members/{presenter}")]
        if moves:
            return moves[0].time - result.created
        await asyncio.sleep(0.002)
    print(f"note: /phase set {phase} moved nobody within {GIVE_UP:.0f} s")
    return GIVE_UP  # counted as a minute: the leader has long given up


async def _samples(args: tuple[Emulator, int, int, int, int], phase: str, count: int,
                   until: asyncio.Task[None] | None = None) -> tuple[list[float], int, str]:
    """Up to `count` phase changes, alternating; (latencies, deadlines missed, next phase)."""
    taken: list[float] = []
    missed = 0
    while len(taken) + missed < count and (until is None or not until.done()):
        await asyncio.sleep(SPACING)
        took = await _move(*args, phase)
        if took is None:
            missed += 1
        else:
            taken.append(took)
        phase = "questions" if phase == "discussion" else "discussion"
    return taken, missed, phase


def _summary(label: str, samples: list[float], idle: list[float] | None) -> str:
    if not samples:
        return f"{label}: no change completed"
    p50, p99 = statistics.median(samples) * 1000, percentile(samples, 0.99) * 1000
    line = f"{label}: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(samples)} changes)"
    if idle:
        line += (f"; × idle {p50 / (statistics.median(idle) * 1000):.2f} (p50), "
                 f"{p99 / (percentile(idle, 0.99) * 1000):.2f} (p99)")
    return line


async def run(folder: Path) -> None:
    async with fresh_database(DATABASE, folder) as engine, Emulator() as emu:
        harness = await process_harness(emu, engine, folder)
        presenter = harness.people.members[0]
        group = await group_at_questions(harness, "Measured group", presenter)
        await harness.stop_bot()
        emu.state.now = lambda: datetime.now(UTC)
        began = time.perf_counter()
        # Seeding takes a while (about 20 groups a second on a busy machine).
        due = (datetime.now(UTC) + timedelta(seconds=LEAD + 60 + GROUPS / 15)).replace(
            second=0, microsecond=0) + timedelta(minutes=1)
        await seed(emu, engine, GROUPS, due + timedelta(minutes=QUARTER_BEFORE), first_id=100)
        edited = 0
        for guild in list(emu.state.guilds.values()):
            for event in guild.events.values():
                if event.creator_id == emu.bot_id and event.name.startswith("Group "):
                    event.name = "Edited by hand"  # the start-up check must put it right
                    edited += 1
                    break
        print(f"seeded {GROUPS} groups in {GROUPS // 10} servers with {edited} events edited "
              f"by hand while the bot was down ({time.perf_counter() - began:.0f} s); "
              f"their reminders fall due at {due:%H:%M:%S}")
        env = await database_env(engine)
        emu.faults.enforce_global_limit(50, 1.0)
        hits = emu.faults.global_hits
        bot = (await launch("bot", "benchmarks._bot", emu, folder, until="READY", **env)).process
        args = (emu, harness.guild_id, harness.people.leader, group.text_channel_id or 0,
                presenter)
        try:
            start_log = len(emu.request_log)
            idle_task = asyncio.create_task(bot.wait_for("IDLE"))
            during_start, missed_start, phase = await _samples(
                args, "discussion", SAMPLES, idle_task)
            await asyncio.wait_for(idle_task, START_WITHIN * 4)
            assert bot.idle_at is not None
            counted = [r for r in emu.request_log[start_log:] if not r.route.startswith(EXEMPT)]
            started = bot.idle_at - bot.ready_at
            idle, missed_idle, phase = await _samples(args, phase, SAMPLES)
            wait = (due - datetime.now(UTC)).total_seconds()
            if wait < 0:
                print(f"note: the reminders fell due {-wait:.0f} s before the idle samples "
                      "ended; raise BENCH_LEAD")
            await asyncio.sleep(max(wait, 0) + 1)
            burst_log = len(emu.request_log)
            during_burst, missed_burst, phase = await _samples(args, phase, SAMPLES)
            burst_posts = sum(
                1 for r in emu.request_log[burst_log:]
                if r.method == "POST" and r.route == "/channels/{channel_id}/messages"
            )
        finally:
            bot.process.kill()
            await bot.process.wait()
        print(f"start-up: READY → start-up work done {started:.1f} s, {len(counted)} requests "
              f"(event checks and edits among them)")
        print(_summary(f"phase change during start-up (missed 3 s deadlines {missed_start})",
                       during_start, idle))
        print(_summary(f"phase change idle (missed {missed_idle})", idle, None))
        print(_summary(f"phase change during the reminder burst ({burst_posts} reminders "
                       f"posted meanwhile; missed {missed_burst})", during_burst, idle))
        print(f"global-limit 429s: {emu.faults.global_hits - hits}; "
              f"missed 3 s deadlines: {len(emu.missed_deadlines)}")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(os.environ.get("BENCH_FOLDER", folder))))


if __name__ == "__main__":
    main()
