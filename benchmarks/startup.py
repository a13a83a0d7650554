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

`--history-weeks W` adds W weeks of past meetings to every group before the starts, as
a society has after W weeks of use: each meeting ended with a case presented (its post
opened, its prompts sent and a follow-up posted, closed after a month), its reminders
sent, its attendance taken, its phases logged and its presenter's silences lifted.
Start-up reads what is still to do; with the history it must take no longer.

`python -m benchmarks.startup [--groups N …] [--runs R] [--history-weeks W]` (default:
1,000 and 10,000 groups, 3 starts each, no history); BENCH_DATABASE=postgresql for
PostgreSQL.
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
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks._side_by_side import launch
from benchmarks.schedule import GROUPS_PER_SERVER, seed
from bot.db.models import (
    Attendance,
    Base,
    Case,
    CaseStatus,
    FollowUp,
    FollowUpPrompt,
    Group,
    Meeting,
    MeetingStatus,
    OverwriteChange,
    PhaseLogEntry,
    Reminder,
)
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
                {
                    "case_id": case_id,
                    "before_meeting_id": meeting_id,
                    "due_at": now - timedelta(hours=1),
                    "sent_at": now - timedelta(hours=1),
                },
            )
    return len(chosen)


HISTORY_BATCH = 5_000
MEMBERS_PRESENT = 6
# Prompts go before the three meetings after a presentation (the default cycles).
PROMPTED_WEEKS = 4
PHASES_LOGGED = ("presentation", "questions", "discussion", "return", "closing")


def _history_of(
    group_id: int, channels: tuple[int, int], next_meeting: int, weeks: int, now: datetime
) -> dict[type[Base], list[dict[str, Any]]]:
    """One group's past: a meeting a week, each with what a meeting leaves behind. A case
    still in its follow-up cycles was prompted before the group's next meeting too, as
    the planner did before the restart."""
    leader = 999
    rows: dict[type[Base], list[dict[str, Any]]] = {}
    # Ids laid out per group and week, far above the seeded ones.
    base = 10**9 + group_id * 1_000
    for week in range(1, weeks + 1):
        start = now - timedelta(weeks=week)
        meeting_id = case_id = base + week
        presenter = 1000 + (group_id + week) % 12
        rows.setdefault(Meeting, []).append(
            {
                "id": meeting_id,
                "group_id": group_id,
                "scheduled_start": start,
                "planned_end": start + timedelta(minutes=90),
                "status": MeetingStatus.ENDED,
                "revision": 0,
                "started_at": start,
                "started_by": leader,
                "ended_at": start + timedelta(minutes=90),
                "created_at": start - timedelta(weeks=9),
            }
        )
        rows.setdefault(Reminder, []).extend(
            {
                "meeting_id": meeting_id,
                "offset_minutes": offset,
                "due_at": start - timedelta(minutes=offset),
                "sent_at": start - timedelta(minutes=offset),
            }
            for offset in (24 * 60, 15)
        )
        rows.setdefault(Case, []).append(
            {
                "id": case_id,
                "group_id": group_id,
                "meeting_id": meeting_id,
                "case_number": 1,
                "presenter_id": presenter,
                "label": "a past case",
                # Prompts end a month after the presentation; the case is then closed.
                "status": CaseStatus.PRESENTED if week < PROMPTED_WEEKS else CaseStatus.CLOSED,
                "offered_at": start - timedelta(days=1),
                "presented_at": start,
                "closed_at": None if week < PROMPTED_WEEKS else start + timedelta(weeks=4),
                "forum_thread_id": 2 * 10**17 + case_id,
                "prompts_sent": 2,
            }
        )
        rows.setdefault(FollowUpPrompt, []).extend(
            {
                "case_id": case_id,
                "before_meeting_id": meeting_id - later,  # the meeting `later` weeks on
                "due_at": start + timedelta(weeks=later),
                "sent_at": start + timedelta(weeks=later),
            }
            for later in (1, 2)
            if week > later
        )
        if week < PROMPTED_WEEKS:
            rows[FollowUpPrompt].append(
                {
                    "case_id": case_id,
                    "before_meeting_id": next_meeting,
                    "due_at": now - timedelta(hours=1),
                    "sent_at": now - timedelta(hours=1),
                }
            )
        rows.setdefault(FollowUp, []).append(
            {
                "case_id": case_id,
                "author_id": presenter,
                "text": "The patient came back.",
                "submission_key": f"history-{case_id}",
                "created_at": start + timedelta(weeks=1),
                "posted_message_id": 3 * 10**17 + case_id,
                "posted_at": start + timedelta(weeks=1),
                "post_attempts": 1,
            }
        )
        rows.setdefault(Attendance, []).extend(
            {
                "meeting_id": meeting_id,
                "user_id": 1000 + member,
                "joined_at": start,
                "left_at": start + timedelta(minutes=90),
            }
            for member in range(MEMBERS_PRESENT)
        )
        rows.setdefault(PhaseLogEntry, []).extend(
            {
                "meeting_id": meeting_id,
                "case_id": case_id,
                "case_number": 1,
                "phase": phase,
                "started_at": start + timedelta(minutes=15 * index),
                "started_by": leader,
                "planned_seconds": 900,
                "ended_at": start + timedelta(minutes=15 * (index + 1)),
            }
            for index, phase in enumerate(PHASES_LOGGED)
        )
        rows.setdefault(OverwriteChange, []).extend(
            {
                "meeting_id": meeting_id,
                "channel_id": channel,
                "target_id": presenter,
                "target_is_role": False,
                "applied_allow": 0,
                "applied_deny": 0,
                "reason": "presenter-silence",
                "applied_at": start + timedelta(minutes=30),
                "restored_at": start + timedelta(minutes=60),
            }
            for channel in channels
        )
    return rows


async def _add_history(engine: AsyncEngine, weeks: int) -> int:
    """Every group's past `weeks` of meetings; returns how many rows were added."""
    now = datetime.now(UTC)
    async with engine.connect() as conn:
        groups = (
            await conn.execute(
                select(
                    Group.id, Group.text_channel_id, Group.voice_channel_id, func.min(Meeting.id)
                )
                .join(Meeting, Meeting.group_id == Group.id)
                .where(Meeting.status == MeetingStatus.SCHEDULED)
                .group_by(Group.id)
            )
        ).all()
    added = 0
    for at in range(0, len(groups), 100):
        rows: dict[type[Base], list[dict[str, Any]]] = {}
        for group_id, text_id, voice_id, next_meeting in groups[at : at + 100]:
            channels = (text_id or 0, voice_id or 0)
            for model, values in _history_of(group_id, channels, next_meeting, weeks, now).items():
                rows.setdefault(model, []).extend(values)
        async with engine.begin() as conn:
            # Parents before children: meetings, then cases, then what hangs off them.
            for model in (
                Meeting,
                Case,
                Reminder,
                FollowUpPrompt,
                FollowUp,
                Attendance,
                PhaseLogEntry,
                OverwriteChange,
            ):
                values = rows.get(model, [])
                for start in range(0, len(values), HISTORY_BATCH):
                    await conn.execute(insert(model), values[start : start + HISTORY_BATCH])
                added += len(values)
    return added


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


async def run(groups: int, runs: int, history_weeks: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        async with fresh_database(DATABASE, workdir) as engine, Emulator() as emu:
            began = time.perf_counter()
            # The first meetings a day ahead: start-up is measured, not a reminder burst.
            await seed(emu, engine, groups, datetime.now(UTC) + timedelta(days=1))
            cases = await _add_presented_cases(engine)
            history = await _add_history(engine, history_weeks) if history_weeks else 0
            if engine.dialect.name == "postgresql":
                # The statistics autovacuum keeps on a database in use; just after a bulk
                # load PostgreSQL would plan with none and read whole tables.
                async with engine.begin() as conn:
                    await conn.execute(text("ANALYZE"))
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
                f"and {history:,} rows of {history_weeks} weeks of history "
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
        "--groups",
        type=int,
        nargs="+",
        default=[1_000, 10_000],
        help="how many groups (ten per server); each size is a run of its own",
    )
    parser.add_argument("--runs", type=int, default=3, help="starts of each client per size")
    parser.add_argument(
        "--history-weeks",
        type=int,
        default=0,
        help="weeks of past meetings every group has (default: none)",
    )
    args, _ = parser.parse_known_args()
    for groups in args.groups:
        asyncio.run(run(groups, args.runs, args.history_weeks))


if __name__ == "__main__":
    main()
