"""The live meeting's speed against a bare discord.py bot making the same REST calls.

balint-bot and the baseline (benchmarks/_baseline.py) each run as their own process,
each against its own emulator in this process (benchmarks/_side_by_side.py), sampled
in turn. Figures printed, each with the baseline's and the ratio:
- `/phase set discussion` → the move that silences the presenter, and → the third
  silencing request (the text overwrite), p50 and p99;
- `/phase set questions` → the move that gives SPEAK back (a voice overwrite lifted
  takes effect only then), p50 and p99;
- a read-only command (`/group info`, `/schedule show`) → its answer, against `/ping`;
- the statements and transactions balint-bot runs per phase change;
- 200 groups entering the discussion in the same second under Discord's global limit
  of 50 requests/s, until every presenter is silenced in voice and text and every
  panel (or answer) is edited: total time, 429s, missed 3 s deadlines.

`python -m benchmarks.phases` (BENCH_SAMPLES changes per direction, default 200;
BENCH_GROUPS, default 200; BENCH_DATABASE=postgresql for PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks._side_by_side import (
    DATABASE,
    Side,
    compare,
    latency_only,
    launch,
    launch_baseline,
    quiet,
    requests_after,
    second_emulator,
)
from bot.clock import ManualClock
from bot.db.models import Group
from tests.conftest import fresh_database
from tests.e2e.conftest import Harness, button_id, leader_says
from tests.e2e.processes import database_env
from tests.emulator.control import Emulator
from tests.emulator.interactions import InteractionResult
from tests.emulator.state import Message

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "200"))
CONCURRENT_GROUPS = int(os.environ.get("BENCH_GROUPS", "200"))
# Spaced out so neither client's own pacing delays a sample: this measures latency;
# the burst below measures load.
SAMPLE_SPACING = 0.05
COUNTED_CHANGES = 10
# How long a burst may take before what is left undone is counted instead.
BURST_WITHIN = 120.0


@dataclass(frozen=True)
class World:
    """Where a side's leader acts: the server, the group's text channel, its presenter."""

    guild_id: int
    leader: int
    text_ids: list[int]
    presenters: list[int]


def _panel(emu: Emulator, text_id: int) -> Message:
    return [m for m in emu.messages(text_id) if m.components][-1]


async def group_at_questions(harness: Harness, name: str, presenter: int) -> Group:
    """A group whose meeting is at the clarifying questions, presenter in the room."""
    group = await harness.create_group(name=name)
    await harness.add_and_accept(group, presenter)
    await harness.emu.join_voice(presenter, group.voice_channel_id or 0)
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    await leader_says(harness, group, "phase set", phase="questions")
    return group


async def bot_side(
    stack: AsyncExitStack,
    emu: Emulator,
    folder: Path,
    groups: int,
    before_start: Callable[[AsyncEngine, list[Group]], Awaitable[None]] | None = None,
) -> tuple[Side, World]:
    """balint-bot's groups set up by an in-process bot, then the bot as its own process
    (started after `before_start`, given the database and the groups, if any)."""
    engine = await stack.enter_async_context(fresh_database(DATABASE, folder))
    clock = ManualClock(datetime.now(UTC))
    emu.state.now = clock.now
    harness = Harness(emu, engine, clock)
    await harness.setup_server(member_count=groups)
    await harness.start_bot()
    made = [
        await group_at_questions(harness, f"Group {index:03d}", harness.people.members[index])
        for index in range(groups)
    ]
    await harness.stop_bot()
    if before_start is not None:
        await before_start(engine, made)
    emu.state.now = lambda: datetime.now(UTC)
    side = await launch("balint-bot", "benchmarks._bot", emu, folder, **await database_env(engine))
    stack.push_async_callback(side.stop)
    return side, World(
        harness.guild_id,
        harness.people.leader,
        [g.text_channel_id or 0 for g in made],
        harness.people.members[:groups],
    )


async def _baseline_side(
    stack: AsyncExitStack, emu: Emulator, folder: Path, groups: int
) -> tuple[Side, World]:
    """The same shape of server for the bare bot: one server, a text channel and a room
    per group."""
    side, places, presenters = await launch_baseline(stack, emu, folder, groups, groups)
    guild_id, leader, _ = places[0]
    return side, World(guild_id, leader, [text for *_, text in places], presenters)


async def timed_change(side: Side, world: World, phase: str) -> tuple[float, float]:
    """`/phase set <phase>`: seconds to the move, and to the last of the three requests."""
    emu = side.emu
    start = len(emu.request_log)
    result = await emu.run_command(
        world.leader, world.guild_id, world.text_ids[0], "phase set", phase=phase
    )
    moves = await requests_after(emu, start, 1, "/members/")
    overwrites = await requests_after(emu, start, 2, "/permissions/")
    await quiet(emu)
    assert emu.can_speak(world.presenters[0]) == (phase != "discussion")
    return moves[0].time - result.created, max(moves[0].time, overwrites[1].time) - result.created


async def _answer(side: Side, world: World, command: str) -> float:
    """A command → its answer arriving (the interaction callback)."""
    emu = side.emu
    start = len(emu.request_log)
    result = await emu.run_command(world.leader, world.guild_id, world.text_ids[0], command)
    callback = await requests_after(emu, start, 1, "/callback")
    await quiet(emu, 0.01)
    return callback[0].time - result.created


async def latency(folder: Path) -> None:
    async with Emulator() as bot_emu, AsyncExitStack() as stack:
        bare_emu = await second_emulator(stack)
        bot, bot_world = await bot_side(stack, bot_emu, folder, 1)
        bare, bare_world = await _baseline_side(stack, bare_emu, folder, 1)
        for emu in (bot_emu, bare_emu):
            latency_only(emu)
        sides = [(bot, bot_world), (bare, bare_world)]
        # Warm both up (first-call imports and caches) before anything is counted.
        for side, world in sides:
            await timed_change(side, world, "discussion")
            await timed_change(side, world, "questions")
        counts = {"discussion": [0, 0], "questions": [0, 0]}
        for _ in range(COUNTED_CHANGES):
            for phase, tally in counts.items():
                before = await bot.report()
                await timed_change(bot, bot_world, phase)
                after = await bot.report()
                tally[0] += after.statements - before.statements
                tally[1] += after.transactions - before.transactions
        for phase, (statements, transactions) in counts.items():
            print(
                f"balint-bot per /phase set {phase}: {statements / COUNTED_CHANGES:.1f} SQL "
                f"statements in {transactions / COUNTED_CHANGES:.1f} transactions, "
                "everything the process ran from the command to its panel edited (goal: "
                "≤ 6 statements, ≤ 2 transactions); bare: none"
            )
        silenced: dict[str, list[float]] = {"balint-bot": [], "bare": []}
        complete: dict[str, list[float]] = {"balint-bot": [], "bare": []}
        lifted: dict[str, list[float]] = {"balint-bot": [], "bare": []}
        for index in range(SAMPLES):
            for side, world in sides if index % 2 else sides[::-1]:
                await asyncio.sleep(SAMPLE_SPACING)
                moved, done = await timed_change(side, world, "discussion")
                silenced[side.name].append(moved)
                complete[side.name].append(done)
                await asyncio.sleep(SAMPLE_SPACING)
                lifted[side.name].append((await timed_change(side, world, "questions"))[0])
        compare(
            "/phase set discussion → presenter silenced (the move)",
            silenced["balint-bot"],
            silenced["bare"],
        )
        compare(
            "/phase set discussion → third silencing request",
            complete["balint-bot"],
            complete["bare"],
        )
        compare(
            "/phase set questions → SPEAK given back (the move)",
            lifted["balint-bot"],
            lifted["bare"],
        )
        for command in ("group info", "schedule show"):
            ours: list[float] = []
            theirs: list[float] = []
            for index in range(SAMPLES):
                for side, world, samples, name in (
                    [(bot, bot_world, ours, command), (bare, bare_world, theirs, "ping")]
                    if index % 2
                    else [(bare, bare_world, theirs, "ping"), (bot, bot_world, ours, command)]
                ):
                    samples.append(await _answer(side, world, name))
            compare(f"/{command} vs /ping → answer", ours, theirs)


async def _burst(
    side: Side,
    world: World,
    press: Callable[[int], Awaitable[InteractionResult]],
    exempt_edits: int,
) -> str:
    """All groups at once under 50 requests/s, until Discord shows every change done, or
    until a client gave up (discord.py raises after five 429s on one request): then the
    presenters never silenced are counted, not waited for."""
    emu = side.emu
    emu.faults.enforce_global_limit(50, 1.0)
    hits_before, missed_before = emu.faults.global_hits, len(emu.missed_deadlines)
    start = len(emu.request_log)
    started = time.monotonic()
    groups = len(world.text_ids)
    await asyncio.gather(*(press(i) for i in range(groups)))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(BURST_WITHIN):
            await requests_after(emu, start, groups, "/members/")
            await requests_after(emu, start, 2 * groups, "/permissions/")
            await requests_after(emu, start, exempt_edits, "/webhooks/")
    await quiet(emu, 0.5)
    last = max(r.time for r in emu.request_log[start:])
    never = sum(emu.can_speak(p) for p in world.presenters)
    return (
        f"{last - started:.1f} s, never silenced {never}; "
        f"429s {emu.faults.global_hits - hits_before}; "
        f"missed 3 s deadlines {len(emu.missed_deadlines) - missed_before}"
    )


async def concurrent_groups(folder: Path) -> None:
    async with Emulator() as bot_emu, AsyncExitStack() as stack:
        bare_emu = await second_emulator(stack)
        setup_started = time.perf_counter()
        bot, bot_world = await bot_side(stack, bot_emu, folder, CONCURRENT_GROUPS)
        bare, bare_world = await _baseline_side(stack, bare_emu, folder, CONCURRENT_GROUPS)
        print(
            f"set up {CONCURRENT_GROUPS} live meetings on each side in "
            f"{time.perf_counter() - setup_started:.1f} s"
        )
        for emu in (bot_emu, bare_emu):
            latency_only(emu)
            emu.faults.jitter = 0.01

        def click(index: int) -> Awaitable[InteractionResult]:
            panel = _panel(bot_emu, bot_world.text_ids[index])
            return bot_emu.click(
                bot_world.leader, panel, button_id(panel, "Next ▶"), within=300, check=False
            )

        def command(index: int) -> Awaitable[InteractionResult]:
            return bare_emu.run_command(
                bare_world.leader,
                bare_world.guild_id,
                bare_world.text_ids[index],
                "phase set",
                phase="discussion",
                within=300,
                check=False,
            )

        # The panel's Next ▶ (deferred update, the panel edited through the
        # interaction's webhook) against /phase set (its answer edited alike): both
        # make three counted requests and one exempt edit per group.
        ours = await _burst(bot, bot_world, click, CONCURRENT_GROUPS)
        theirs = await _burst(bare, bare_world, command, CONCURRENT_GROUPS)
        print(
            f"{CONCURRENT_GROUPS} groups into the discussion at once under 50 requests/s "
            f"(per-route buckets off), until every presenter is silenced in voice and text "
            f"and every panel edited: balint-bot {ours} | bare discord.py {theirs}"
        )


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(latency(Path(folder)))
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(concurrent_groups(Path(folder)))


if __name__ == "__main__":
    main()
