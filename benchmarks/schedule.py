"""Reminders at scale: rebuilding their jobs at start-up, and a burst of them falling due.

Groups with weekly schedules (nine weeks of meetings, two reminders each: a day and
15 minutes before) are seeded in the steady state a restart finds; every group's first
meeting starts in the same minute, so their 15-minute reminders fall due together, each
posted in the group's channel and sent by DM to a member who asked for it. balint-bot
(benchmarks/_bot.py: the real clock and APScheduler) runs as its own process; so does
the bare discord.py baseline (benchmarks/_baseline.py), which at its due moment makes
the same calls (the channel post with its two buttons, opening the DM, the DM) with no
database. Each talks to its own emulator, here in the driver's process
(benchmarks/_side_by_side.py), with Discord's 50 requests/s global limit on; the two
bursts run one after the other, not at once. Printed:

- the reminder rows in the database (per group, unsent, due within the bot's job
  window) against the jobs balint-bot holds after start-up, and those in APScheduler;
- start-up: balint-bot launch → READY and → IDLE (jobs rebuilt, events checked), the
  bare bot's launch → READY;
- due time → each channel post and each DM arriving at the emulator, p50 and p99,
  against the bare bot's, with the ratio; lost, posted twice, unsent rows, 429s;
- the load average.

`python -m benchmarks.schedule [--groups N] [--lead S]` (default 40 groups; the old
figure was 1,000); BENCH_DATABASE=postgresql for PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks._side_by_side import (
    DATABASE,
    compare,
    latency_only,
    launch,
    second_emulator,
)
from bot.db.models import (
    Base,
    Group,
    Meeting,
    MeetingStatus,
    MemberRole,
    Membership,
    MembershipStatus,
    Reminder,
    ScheduleSeries,
    Server,
)
from bot.domain.recurrence import Frequency, RecurrenceRule, occurrences
from bot.scheduler import NEAR
from bot.services.reminders import JOB_WINDOW
from bot.services.schedule import HORIZON
from bot.services.scheduled_events import event_fields
from tests.conftest import fresh_database
from tests.e2e.processes import database_env
from tests.emulator.control import Emulator
from tests.emulator.faults import RequestRecord
from tests.emulator.state import ChannelType, ScheduledEvent

ZONE = "Australia/Sydney"
GROUPS_PER_SERVER = 10
DAY_BEFORE, QUARTER_BEFORE = 24 * 60, 15
GLOBAL_LIMIT = 50
BARE_LEAD = 5.0  # seconds from launching the bare bot to its reminders' due time
# discord.py waits this long for more GUILD_CREATEs before READY (as benchmarks/startup.py).
CLIENT_ENV = {"BALINT_TEST_GUILD_READY_TIMEOUT": "0.5"}


async def seed(
    emu: Emulator,
    engine: AsyncEngine,
    groups: int,
    first_start: datetime,
    first_id: int = 1,
    *,
    dm_members: bool = False,
) -> None:
    """Servers, groups with channels and a role, weekly series, meetings, reminders, events.

    Rows get explicit ids from `first_id` on (past whatever a benchmark made before);
    `dm_members`: each group also has a member who asked for reminders by DM."""
    now = datetime.now(UTC)
    local = first_start.astimezone(ZoneInfo(ZONE))
    rule = RecurrenceRule(
        kind=Frequency.WEEKLY,
        start_time=local.time().replace(second=0, microsecond=0),
        zone=ZONE,
        first_date=local.date(),
        duration=timedelta(minutes=90),
    )
    due = occurrences(rule, start_after=now, until=now + HORIZON)
    admin = await emu.create_user("admin")
    rows: dict[type[Base], list[dict[str, Any]]] = {
        Server: [],
        Group: [],
        Membership: [],
        ScheduleSeries: [],
        Meeting: [],
        Reminder: [],
    }
    meeting_id = first_id * 100
    for number in range(groups):
        if number % GROUPS_PER_SERVER == 0:
            guild = await emu.create_guild(f"Society {number // GROUPS_PER_SERVER}", owner=admin.id)
            rows[Server].append({"id": guild.id, "created_at": now})
        role = await emu.create_role(guild.id, f"group-{number}")
        text = await emu.create_channel(guild.id, f"group-{number}")
        voice = await emu.create_channel(guild.id, f"room-{number}", ChannelType.VOICE)
        group_id = first_id + number
        group = Group(
            id=group_id,
            server_id=guild.id,
            name=f"Group {number}",
            timezone=ZONE,
            voice_channel_id=voice.id,
        )
        rows[Group].append(
            {
                "id": group_id,
                "server_id": guild.id,
                "name": group.name,
                "timezone": ZONE,
                "role_id": role.id,
                "text_channel_id": text.id,
                "voice_channel_id": voice.id,
                "created_discord_ids": [],
                "agreement_text": "Confidential.",
                "settings": {},
                "created_at": now,
            }
        )
        rows[Membership].append(
            {
                "group_id": group_id,
                "user_id": admin.id,
                "role": MemberRole.LEADER,
                "status": MembershipStatus.ACTIVE,
                "invited_at": now,
                "reminder_dms": False,
            }
        )
        if dm_members:
            member = await emu.create_user(f"member-{number}")
            await emu.add_member(guild.id, member.id)
            rows[Membership].append(
                {
                    "group_id": group_id,
                    "user_id": member.id,
                    "role": MemberRole.MEMBER,
                    "status": MembershipStatus.ACTIVE,
                    "invited_at": now,
                    "reminder_dms": True,
                }
            )
        rows[ScheduleSeries].append(
            {"id": group_id, "group_id": group_id, "rule": rule.to_dict(), "created_at": now}
        )
        for occurrence in due:
            meeting_id += 1
            meeting = Meeting(scheduled_start=occurrence.start, planned_end=occurrence.end)
            event = ScheduledEvent(
                id=emu.state.new_id(),
                guild_id=guild.id,
                creator_id=emu.bot_id,
                name="",
                scheduled_start_time="",
                entity_type=2,
            )
            fields = event_fields(group, meeting)
            event.name = fields["name"]
            event.description = fields["description"]
            event.scheduled_start_time = fields["scheduled_start_time"]
            event.scheduled_end_time = fields["scheduled_end_time"]
            event.channel_id = voice.id
            emu.guild(guild.id).events[event.id] = event
            rows[Meeting].append(
                {
                    "id": meeting_id,
                    "group_id": group_id,
                    "series_id": group_id,
                    "occurrence_index": occurrence.index,
                    "scheduled_start": occurrence.start,
                    "planned_end": occurrence.end,
                    "status": MeetingStatus.SCHEDULED,
                    "revision": 0,
                    "discord_event_id": event.id,
                    "created_at": now,
                }
            )
            for offset in (DAY_BEFORE, QUARTER_BEFORE):
                due_at = occurrence.start - timedelta(minutes=offset)
                rows[Reminder].append(
                    {
                        "meeting_id": meeting_id,
                        "offset_minutes": offset,
                        "due_at": due_at,
                        # The day-before reminder of the first meeting went out before the restart.
                        "sent_at": now if due_at <= now else None,
                    }
                )
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        for model, values in rows.items():
            for start in range(0, len(values), 2000):
                await conn.execute(insert(model), values[start : start + 2000])


async def _count(engine: AsyncEngine, *where: ColumnElement[bool]) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(Reminder).where(*where)
        return int((await conn.execute(query)).scalar_one())


async def _bare_world(emu: Emulator, groups: int, dms: bool) -> list[list[int]]:
    """The baseline's servers: per group a role, a text channel, a room and a member
    (taking DMs if `dms`)."""
    owner = await emu.create_user("admin")
    world = []
    for number in range(groups):
        if number % GROUPS_PER_SERVER == 0:
            guild = await emu.create_guild(f"Society {number // GROUPS_PER_SERVER}",
                                           owner=owner.id)
        role = await emu.create_role(guild.id, f"group-{number}")
        text = await emu.create_channel(guild.id, f"group-{number}")
        room = await emu.create_channel(guild.id, f"room-{number}", ChannelType.VOICE)
        member = await emu.create_user(f"member-{number}")
        await emu.add_member(guild.id, member.id)
        world.append([text.id, role.id, room.id, member.id if dms else 0])
    return world


@dataclass(frozen=True)
class Burst:
    """One side's reminders as the emulator received them, in seconds after the due time."""

    posts: list[float]
    dms: list[float]
    twice: int
    global_429s: int

    def line(self, groups: int, dms: bool) -> str:
        last = max(self.posts + self.dms, default=0.0)
        lost = groups * (1 + dms) - len(self.posts) - len(self.dms)
        return (f"{len(self.posts)}/{groups} posts and {len(self.dms)}/{groups * dms} DMs, "
                f"the last {last:.2f} s after the due time; lost {lost}, posted twice "
                f"{self.twice}, global-limit 429s {self.global_429s}")


async def _burst(emu: Emulator, start: int, expected: int, due: float) -> Burst:
    """Wait for every post and DM (those never sent are counted lost, not waited for
    forever), then for any second copy; `due` on the monotonic clock the emulator stamps
    its requests with."""
    await asyncio.sleep(max(due - time.monotonic(), 0))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(expected / GLOBAL_LIMIT * 4 + 60):
            while True:
                if len(_sent(emu, start)) >= expected:
                    break
                await asyncio.sleep(0.05)
    await asyncio.sleep(2)  # anything sent twice would arrive now
    sent = _sent(emu, start)
    posts = [r.time - due for r in sent if not r.json["content"].startswith("Reminder:")]
    dms = [r.time - due for r in sent if r.json["content"].startswith("Reminder:")]
    copies = Counter(r.path for r in sent)
    hits = sum(1 for r in emu.request_log[start:]
               if r.status == 429 and r.headers.get("X-RateLimit-Scope") == "global")
    return Burst(posts, dms, sum(1 for n in copies.values() if n > 1), hits)


def _sent(emu: Emulator, start: int) -> list[RequestRecord]:
    return [r for r in emu.request_log[start:]
            if r.method == "POST" and r.route == "/channels/{channel_id}/messages"
            and r.status == 200 and isinstance(r.json, dict)
            and "Will you be there" in r.json.get("content", "")]


def _monotonic(moment: datetime) -> float:
    """A wall-clock moment on the monotonic clock every process of the machine shares."""
    return time.monotonic() + (moment - datetime.now(UTC)).total_seconds()


async def run(folder: Path, groups: int, lead: float, dms: bool) -> None:
    async with (fresh_database(DATABASE, folder) as engine, Emulator() as bot_emu,
                AsyncExitStack() as stack):
        bare_emu = await second_emulator(stack)
        # Meetings start on the minute: the first minute at least `lead` s away.
        due = (datetime.now(UTC) + timedelta(seconds=lead + 60)).replace(second=0,
                                                                           microsecond=0)
        began = time.perf_counter()
        await seed(bot_emu, engine, groups, due + timedelta(minutes=QUARTER_BEFORE),
                   dm_members=dms)
        now = datetime.now(UTC)
        rows = await _count(engine)
        unsent = await _count(engine, Reminder.sent_at.is_(None))
        near = await _count(engine, Reminder.sent_at.is_(None),
                            Reminder.due_at <= now + JOB_WINDOW)
        label = f"{groups} reminders due at once" + (", each with a DM" if dms else "")
        print(f"{label}: seeded {groups} groups in {-(-groups // GROUPS_PER_SERVER)} servers "
              f"({time.perf_counter() - began:.1f} s), {DATABASE}; "
              f"the reminders fall due at {due:%H:%M:%S}; load average "
              + " ".join(f"{load:.2f}" for load in os.getloadavg()))
        for emu in (bot_emu, bare_emu):
            latency_only(emu)
            emu.faults.enforce_global_limit(GLOBAL_LIMIT, 1.0)
        launched = time.monotonic()
        bot = await launch("balint-bot", "benchmarks._bot", bot_emu, folder,
                           **await database_env(engine), **CLIENT_ENV)
        stack.push_async_callback(bot.stop)
        reminder_jobs, all_jobs, in_apscheduler = await bot.ask(signal.SIGUSR2, "JOBS")
        assert bot.process.idle_at is not None
        print(f"reminder rows: {rows} ({rows // groups} per group), {unsent} unsent, "
              f"{near} of them due within the job window ({JOB_WINDOW.days} days) | "
              f"balint-bot holds {reminder_jobs} reminder jobs ({all_jobs} jobs in all), "
              f"{in_apscheduler} of them in APScheduler (due within {NEAR}); the rest wait "
              "in the database for the daily top-up")
        bot_ready = bot.process.ready_at - launched
        bot_idle = bot.process.idle_at - launched
        if time.monotonic() > _monotonic(due):
            print("note: balint-bot's start-up ran past the due time; raise --lead")
        start = len(bot_emu.request_log)
        ours = await _burst(bot_emu, start, groups * (1 + dms), _monotonic(due))
        not_sent = await _count(engine, Reminder.due_at <= due, Reminder.sent_at.is_(None))
        await bot.stop()
        bare_world = await _bare_world(bare_emu, groups, dms)
        # The bare bot starts in a second or two; its reminders fall due a little after.
        bare_due = datetime.now(UTC) + timedelta(seconds=BARE_LEAD)
        launched = time.monotonic()
        bare = await launch("bare", "benchmarks._baseline", bare_emu, folder, **CLIENT_ENV,
                            BASELINE_REMINDERS=json.dumps(
                                {"at": bare_due.timestamp(), "groups": bare_world}))
        stack.push_async_callback(bare.stop)
        bare_ready = bare.process.ready_at - launched
        if time.monotonic() > _monotonic(bare_due):
            print("note: the bare bot's start-up ran past its due time")
        theirs = await _burst(bare_emu, 0, groups * (1 + dms), _monotonic(bare_due))
        print(f"start-up: balint-bot launch → READY {bot_ready:.2f} s, → IDLE (jobs rebuilt, "
              f"events checked) {bot_idle:.2f} s | bare discord.py launch → READY "
              f"{bare_ready:.2f} s | ratio {bot_idle / bare_ready:.2f}×")
        print(f"balint-bot: {ours.line(groups, dms)}; unsent in the database {not_sent}")
        print(f"bare discord.py: {theirs.line(groups, dms)}")
        compare(f"{label}: due → channel post", ours.posts, theirs.posts)
        if dms:
            compare(f"{label}: due → DM", ours.dms, theirs.dms)
        print("load average " + " ".join(f"{load:.2f}" for load in os.getloadavg()))


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--groups", type=int, default=40)
    parser.add_argument("--lead", type=float, default=10,
                        help="at least this many seconds from seeding to the due time")
    args, _ = parser.parse_known_args()
    # Posts alone (under the global limit: what is left is each client's own time), then
    # with a DM each (three requests per reminder: the limit decides the pace).
    for dms in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            asyncio.run(run(Path(folder), args.groups, args.lead, dms))


if __name__ == "__main__":
    main()
