"""Bursts: many groups entering the discussion in the same second, Discord's limits all on.

balint-bot and the bare baseline (benchmarks/_baseline.py: the same three requests per
change, no pacing of its own) each run as their own process against their own emulator
in this process (benchmarks/_side_by_side.py), one after the other. Discord's global
limit (50 requests/s) and its per-route buckets (10 overwrites per 10 s per channel,
10 member moves per 10 s per server) are enforced as the emulator models them. Every
leader runs `/phase set discussion` in the same second; measured until every presenter
is silenced and every answer filled in, or until a client has given up:

- the counted requests Discord accepted over the burst, as % of the global budget of
  the seconds it spanned (50 at once, then 50 a second: a burst of 2,000 needs 40 s);
- presenters never silenced, answers never filled in, missed 3 s deadlines, 429s;
- what balint-bot's leaders saw while Discord held their change back: how many were
  told "Discord is slowing us down … about N s", and how far off N was.

Twice: groups spread over servers of ten (the global limit decides), then all in one
server (the member-move bucket decides: 10 moves per 10 s, one a second).
`python -m benchmarks.burst [--groups N] [--one-server-groups M]`; `make bench` runs a
short default (100 and 30); the issue's figure is `--groups 500 --one-server-groups 500`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks._side_by_side import (
    DATABASE,
    Side,
    launch,
    launch_baseline,
    percentile,
    quiet,
    second_emulator,
)
from benchmarks.phases import group_at_questions
from bot.clock import ManualClock
from bot.ratelimit import EXEMPT_PREFIXES
from tests.conftest import fresh_database
from tests.e2e.conftest import Harness
from tests.e2e.processes import database_env
from tests.emulator.control import Emulator
from tests.emulator.interactions import InteractionResult

GLOBAL_LIMIT = 50
GROUPS_PER_SERVER = 10
SLOW = "Discord is slowing us down"
BUSY = "Busy moment"
# A client that sent nothing for this long has finished or given up (the member-move
# bucket, once emptied, is quiet for up to 10 s).
QUIET_FOR = 15.0
ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"


@dataclass
class World:
    """One side's groups: where each leader acts, and whom they silence."""

    groups: list[tuple[int, int, int]] = field(default_factory=list)  # guild, leader, text
    presenters: list[int] = field(default_factory=list)


async def _bot_side(stack: AsyncExitStack, emu: Emulator, folder: Path, groups: int,
                    per_server: int) -> tuple[Side, World]:
    """balint-bot's live meetings set up by an in-process bot (servers of `per_server`),
    then the bot as its own process."""
    engine = await stack.enter_async_context(fresh_database(DATABASE, folder))
    clock = ManualClock(datetime.now(UTC))
    emu.state.now = clock.now
    harnesses = []
    for first in range(0, groups, per_server):
        harness = Harness(emu, engine, clock)
        await harness.setup_server(member_count=min(per_server, groups - first))
        harnesses.append(harness)
    bot = await harnesses[0].start_bot()
    world = World()
    for harness in harnesses:
        harness.bot, harness.work = bot, harnesses[0].work
        for presenter in harness.people.members:
            name = f"Group {len(world.groups):03d}"
            group = await group_at_questions(harness, name, presenter)
            world.groups.append((harness.guild_id, harness.people.leader,
                                 group.text_channel_id or 0))
            world.presenters.append(presenter)
    await harnesses[0].stop_bot()
    emu.state.now = lambda: datetime.now(UTC)
    side = await launch("balint-bot", "benchmarks._bot", emu, folder, **await database_env(engine))
    stack.push_async_callback(side.stop)
    return side, world


@dataclass(frozen=True)
class Outcome:
    """One side's burst, as the emulator saw it."""

    groups: int
    seconds: float
    counted: int
    use: float  # counted requests Discord accepted / the budget of the burst's seconds
    never_silenced: int
    unanswered: int
    missed: int
    global_429s: int
    route_429s: int
    told: int  # leaders who read the slow-down note
    busy: int  # leaders told only that the bot was busy (nothing waited on Discord)
    # Per leader told, for the first and the last note: its time + its N, minus the
    # answer's time (s; negative: the change took longer than said).
    estimate_errors: list[tuple[float, float]]
    answer_times: list[float]  # command → final answer (s)

    def line(self) -> str:
        text = (f"{self.use * 100:.1f}% of 50/s ({self.counted} counted requests in "
                f"{self.seconds:.1f} s); never silenced {self.never_silenced}/{self.groups}; "
                f"answers never filled in {self.unanswered}; missed 3 s deadlines "
                f"{self.missed}; 429s {self.global_429s} global + {self.route_429s} per-route")
        if self.answer_times:
            text += (f"; command → answer p50 {statistics.median(self.answer_times):.1f} s, "
                     f"p99 {percentile(self.answer_times, 0.99):.1f} s")
        return text


async def _until_done(emu: Emulator, world: World, results: list[InteractionResult],
                      within: float) -> None:
    """Until every presenter is silenced and every answer filled in, or the client went
    quiet (it gave up on some), or `within` passed."""
    deadline = time.monotonic() + within
    seen, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        done = all(not emu.can_speak(p) for p in world.presenters) and all(
            r.responded and not r.deferred for r in results)
        if done:
            return
        if len(emu.request_log) != seen:
            seen, quiet_since = len(emu.request_log), time.monotonic()
        elif time.monotonic() - quiet_since > QUIET_FOR:
            return
        await asyncio.sleep(0.1)


async def burst(side: Side, world: World, within: float) -> Outcome:
    emu = side.emu
    emu.faults.enforce_global_limit(GLOBAL_LIMIT, 1.0)
    start = len(emu.request_log)
    missed_before = len(emu.missed_deadlines)
    results = await asyncio.gather(*(
        emu.run_command(leader, guild, text, "phase set", phase="discussion",
                        within=within, check=False)
        for guild, leader, text in world.groups))
    await _until_done(emu, world, list(results), within)
    await quiet(emu, 2.0)  # the panels' edits after the answers, counted too
    log = emu.request_log[start:]
    counted = [r for r in log if not r.route.startswith(EXEMPT_PREFIXES) and r.status != 429]
    began = min(r.created for r in results)
    span = max((r.time for r in counted), default=began) - began
    by_token = {r.token: r for r in results}
    errors: list[tuple[float, float]] = []
    answered: list[float] = []
    told = busy = 0
    for result in results:
        edits = [r for r in log if r.route == ORIGINAL and result.token in r.path
                 and r.status == 200 and isinstance(r.json, dict)]
        notes = [r for r in edits if SLOW in (r.json.get("content") or "")]
        busy += any(BUSY in (r.json.get("content") or "") for r in edits)
        finals = [r for r in edits if "⏳" not in (r.json.get("content") or "")]
        if finals:
            answered.append(finals[-1].time - result.created)
        told += bool(notes)
        if notes and finals:  # an answer never filled in is counted above, not estimated
            said = [(n.time, re.search(r"about (\d+) s", n.json["content"])) for n in notes]
            off = [at + int(found[1]) - finals[-1].time for at, found in said if found]
            if off:
                errors.append((off[0], off[-1]))
    assert len(by_token) == len(results)
    return Outcome(
        groups=len(results),
        seconds=span,
        counted=len(counted),
        # The budget of the seconds the burst spanned, its first second included: a
        # client using all of it sends 50 at once, then 50 more each second.
        use=len(counted) / (GLOBAL_LIMIT * (span + 1.0)),
        never_silenced=sum(emu.can_speak(p) for p in world.presenters),
        unanswered=sum(1 for r in results if not r.responded or r.deferred),
        missed=len(emu.missed_deadlines) - missed_before,
        global_429s=sum(1 for r in log if r.status == 429
                        and r.headers.get("X-RateLimit-Scope") == "global"),
        route_429s=sum(1 for r in log if r.status == 429
                       and r.headers.get("X-RateLimit-Scope") != "global"),
        told=told,
        busy=busy,
        estimate_errors=errors,
        answer_times=answered,
    )


async def scenario(folder: Path, groups: int, per_server: int, label: str) -> None:
    # One move a second when every group is in one server: allow for it.
    within = 120.0 + (groups if per_server >= groups else 0) * 1.5
    async with Emulator() as bot_emu, AsyncExitStack() as stack:
        bare_emu = await second_emulator(stack)
        began = time.perf_counter()
        bot, bot_world = await _bot_side(stack, bot_emu, folder, groups, per_server)
        bare, places, presenters = await launch_baseline(
            stack, bare_emu, folder, groups, per_server)
        bare_world = World(places, presenters)
        print(f"{label}: set up {groups} live meetings on each side in "
              f"{time.perf_counter() - began:.0f} s")
        ours = await burst(bot, bot_world, within)
        await bot.stop()
        theirs = await burst(bare, bare_world, within)
        print(f"{label}, balint-bot: {ours.line()}")
        print(f"{label}, bare discord.py: {theirs.line()}")
        if theirs.use:
            print(f"{label}: budget used, balint-bot / bare = {ours.use / theirs.use:.2f}×")
        if ours.told:
            print(f"{label}: {ours.told} of {groups} balint-bot leaders were told Discord was "
                  "slowing the change; bare discord.py's leaders see “thinking…” until the "
                  "answer, or for good")
        for which, index in (("first", 0), ("last", 1)):
            off = [pair[index] for pair in ours.estimate_errors]
            if off:
                print(f"{label}: the {which} note's “about N s” against the real wait: median "
                      f"{statistics.median(off):+.1f} s, p90 of |error| "
                      f"{percentile(sorted(abs(e) for e in off), 0.9):.1f} s "
                      f"({len(off)} leaders; negative = it took longer)")
        if ours.busy:
            print(f"{label}: {ours.busy} balint-bot leaders were told only that the bot was "
                  "busy (their change waited on the bot, not on Discord)")
        if not ours.told and not ours.busy:
            print(f"{label}: no balint-bot change waited long enough for a note")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=100,
                        help="groups in servers of ten (the issue: 500)")
    parser.add_argument("--one-server-groups", type=int, default=30,
                        help="groups all in one server (the issue: 500)")
    args = parser.parse_args(argv if argv is not None else [])
    logging.basicConfig(level=logging.ERROR)
    kept = os.environ.get("BENCH_FOLDER")  # keep the processes' logs there
    runs = [(args.groups, GROUPS_PER_SERVER, f"{args.groups} groups in servers of "
             f"{GROUPS_PER_SERVER}"),
            (args.one_server_groups, args.one_server_groups,
             f"{args.one_server_groups} groups in one server")]
    for groups, per_server, label in runs:
        if groups <= 0:
            continue
        with tempfile.TemporaryDirectory() as folder:
            where = Path(kept) / f"{groups}-per-{per_server}" if kept else Path(folder)
            where.mkdir(parents=True, exist_ok=True)
            asyncio.run(scenario(where, groups, per_server, label))


if __name__ == "__main__":
    main(sys.argv[1:])
