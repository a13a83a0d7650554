"""Scheduling at scale: 1,000 groups with weekly schedules, against the Discord emulator.

Measures (1) the bot's start-up, including rebuilding every job from the
database and checking every server's Discord events, and (2) delivery of 1,000
reminders due in the same minute under the emulator's 50 requests/s global
limit: none lost, none twice. Run: `python -m benchmarks.schedule [--groups N]`.

The bot runs on the real clock and APScheduler, as in production; the
database and the emulator are seeded directly in the steady state (meetings,
reminders and events already exist), as a restart finds them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time as wall
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import build_bot
from bot.clock import SystemClock
from bot.config import Settings
from bot.db.engine import create_engine
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
from bot.services.reminders import JOB_WINDOW
from bot.services.schedule import HORIZON
from bot.services.scheduled_events import event_fields
from tests.emulator.control import Emulator
from tests.emulator.state import ChannelType, ScheduledEvent

ZONE = "Australia/Sydney"
GROUPS_PER_SERVER = 10
DAY_BEFORE, QUARTER_BEFORE = 24 * 60, 15


async def seed(emu: Emulator, engine: AsyncEngine, groups: int, first_start: datetime) -> None:
    """Servers, groups with channels and a role, weekly series, meetings, reminders, events."""
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
    meeting_id = 0
    for number in range(groups):
        if number % GROUPS_PER_SERVER == 0:
            guild = await emu.create_guild(f"Society {number // GROUPS_PER_SERVER}", owner=admin.id)
            rows[Server].append({"id": guild.id, "created_at": now})
        role = await emu.create_role(guild.id, f"group-{number}")
        text = await emu.create_channel(guild.id, f"group-{number}")
        voice = await emu.create_channel(guild.id, f"room-{number}", ChannelType.VOICE)
        group_id = number + 1
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


async def run(groups: int, lead: timedelta, database_url: str | None) -> None:
    logging.basicConfig(level=logging.ERROR)
    folder = Path(tempfile.mkdtemp(prefix="balint-bench-"))
    url = database_url or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    engine = create_engine(url)
    # Every first meeting starts in the same minute, 15 minutes after the reminders are due.
    due_at = (datetime.now(UTC) + lead).replace(second=0, microsecond=0) + timedelta(minutes=1)
    first_start = due_at + timedelta(minutes=QUARTER_BEFORE)
    async with Emulator() as emu:
        began = wall.perf_counter()
        await seed(emu, engine, groups, first_start)
        seeded = wall.perf_counter() - began
        async with engine.connect() as conn:
            meetings = (await conn.execute(select(func.count()).select_from(Meeting))).scalar_one()
            reminders = (
                await conn.execute(select(func.count()).select_from(Reminder))
            ).scalar_one()
            unsent = (
                await conn.execute(
                    select(func.count()).select_from(Reminder).where(Reminder.sent_at.is_(None))
                )
            ).scalar_one()
        print(
            f"seeded {groups} groups in {groups // GROUPS_PER_SERVER} servers: "
            f"{meetings} meetings, {reminders} reminders, {meetings} Discord events "
            f"({seeded:.1f} s)"
        )
        emu.faults.enforce_global_limit(50, 1.0)
        settings = Settings(_env_file=None, discord_token=SecretStr(emu.token), database_url=url)
        bot = build_bot(settings, engine, SystemClock())
        began = wall.perf_counter()
        await emu.start_client(bot, within=300)
        ready = wall.perf_counter() - began
        await bot.jobs.wait_idle()
        synced = wall.perf_counter() - began
        pending = len(bot.jobs.pending("reminder"))
        event_requests = len(emu.requests(route="/guilds/{guild_id}/scheduled-events"))
        print(
            # The bot keeps jobs only for reminders due within JOB_WINDOW; say so, so the
            # job count is not read as every reminder in the horizon.
            f"start-up: ready with {pending} reminder jobs rebuilt in {ready:.2f} s "
            f"(of {unsent} unsent reminder rows, only those due within "
            f"{JOB_WINDOW.days} days get a job); "
            f"events of every server checked after {synced:.2f} s ({event_requests} requests)"
        )
        hits_before = emu.faults.global_hits
        wait = (due_at - datetime.now(UTC)).total_seconds()
        if wait < 0:
            print(f"note: start-up ran {-wait:.0f} s past the due time; raise --lead")
        await asyncio.sleep(max(wait, 0))
        posted: list[int] = []
        deadline = wall.perf_counter() + 300
        while wall.perf_counter() < deadline:
            posted = [
                message.channel_id
                for channel in emu.state.messages.values()
                for message in channel.values()
                if "Will you be there" in message.content
            ]
            if len(posted) >= groups:
                break
            await asyncio.sleep(0.05)
        delivered = (datetime.now(UTC) - due_at).total_seconds()
        await asyncio.sleep(2)  # anything sent twice would arrive now
        posted = [
            message.channel_id
            for channel in emu.state.messages.values()
            for message in channel.values()
            if "Will you be there" in message.content
        ]
        twice = sum(1 for count in Counter(posted).values() if count > 1)
        async with engine.connect() as conn:
            unsent = (
                await conn.execute(
                    select(func.count())
                    .select_from(Reminder)
                    .where(Reminder.due_at <= due_at, Reminder.sent_at.is_(None))
                )
            ).scalar_one()
        reached = len(set(posted))
        print(
            f"delivery: {reached} of {groups} reminders posted {delivered:.1f} s after "
            f"they fell due ({groups / max(delivered, 0.001):.0f}/s); lost {groups - reached}, "
            f"posted twice {twice}, unsent in the database {unsent}; "
            f"global-limit 429s {emu.faults.global_hits - hits_before}"
        )
        await emu.stop_client(bot)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument(
        "--lead", type=float, default=60, help="seconds until the reminders fall due"
    )
    parser.add_argument("--database-url", default=None, help="an empty database (default: SQLite)")
    args = parser.parse_args()
    asyncio.run(run(args.groups, timedelta(seconds=args.lead), args.database_url))


if __name__ == "__main__":
    main()
