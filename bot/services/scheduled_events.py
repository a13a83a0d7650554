"""Discord scheduled events that mirror the meetings in the database.

One function compares a server's events on Discord with its meetings and
fixes the difference (create, edit, start, end, cancel). It serves every change
made through the bot, the start-up check after downtime (events edited,
cancelled or deleted by hand), and the daily top-up. Discord allows 100
unfinished events per server: the earliest meetings get them, after the events
other people made. A new event's id is stored with a compare-and-set, so two
bot processes cannot leave two events for one meeting.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import discord
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import Group, Meeting, MeetingStatus
from bot.permissions import describe_missing
from bot.scheduler import JobScheduler
from bot.services.sessions import SCHEDULED_WINDOW

log = logging.getLogger(__name__)

EVENT_SYNC_JOB = "event_sync"
EVENT_RETRY = timedelta(minutes=5)
MAX_UNFINISHED_EVENTS = 100
TOO_MANY_EVENTS = 30038
SCHEDULED = discord.EventStatus.scheduled.value
ACTIVE = discord.EventStatus.active.value
COMPLETED = discord.EventStatus.completed.value
CANCELLED = discord.EventStatus.cancelled.value

RawEvent = Mapping[str, Any]


def event_fields(group: Group, meeting: Meeting) -> dict[str, Any]:
    """What the meeting's event should say; on the group's private room, so only members see it."""
    return {
        "name": f"{group.name}: Balint group"[:100],
        "description": "The group's meeting. Reminders and RSVPs come in the group's channel.",
        "scheduled_start_time": meeting.scheduled_start.isoformat(),
        "scheduled_end_time": meeting.planned_end.isoformat(),
        "privacy_level": discord.PrivacyLevel.guild_only.value,
        "entity_type": discord.EntityType.voice.value,
        "channel_id": str(group.voice_channel_id),
    }


def _differs(event: RawEvent, wanted: Mapping[str, Any]) -> bool:
    def moment(value: object) -> datetime | None:
        return datetime.fromisoformat(str(value)) if value else None

    return (
        event.get("name") != wanted["name"]
        or str(event.get("channel_id")) != wanted["channel_id"]
        or moment(event.get("scheduled_start_time")) != moment(wanted["scheduled_start_time"])
        or moment(event.get("scheduled_end_time")) != moment(wanted["scheduled_end_time"])
    )


class EventSync:
    """Keeps each server's Discord events in step with its meetings."""

    def __init__(
        self,
        client: discord.Client,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        jobs: JobScheduler,
    ) -> None:
        self._client = client
        self._http = client.http
        self._session_factory = session_factory
        self._clock = clock
        self._jobs = jobs
        self._locks: dict[int, asyncio.Lock] = {}
        jobs.register(EVENT_SYNC_JOB, self._on_job)

    async def _on_job(self, key: str) -> None:
        if key == "all":
            await self.sync_all()
        else:
            await self.sync_server(int(key))

    async def sync_all(self) -> None:
        async with self._session_factory() as session:
            servers = (await session.execute(select(Group.server_id).distinct())).scalars().all()
        for server_id in servers:
            problems = await self.sync_server(server_id)
            if problems:
                log.warning("events of server %s: %s", server_id, "; ".join(problems))

    async def sync_server(self, server_id: int) -> list[str]:
        """Make the server's events match its meetings; problems are described for leaders."""
        async with self._locks.setdefault(server_id, asyncio.Lock()):
            try:
                await self._sync(server_id)
            except discord.Forbidden:
                # Not retried on a timer: that would only pile up refused requests.
                return [
                    "I couldn't publish the meetings as Discord events. "
                    + describe_missing(["create_events"])
                ]
            except discord.HTTPException as error:
                self._jobs.schedule(EVENT_SYNC_JOB, str(server_id), self._clock.now() + EVENT_RETRY)
                return [
                    f"Discord's events could not be updated just now (HTTP {error.status}); "
                    "I'll try again in a few minutes."
                ]
        return []

    async def _sync(self, server_id: int) -> None:
        now = self._clock.now()
        listed = await self._http.get_scheduled_events(server_id, False)
        unfinished: dict[int, RawEvent] = {
            int(e["id"]): e for e in listed if e["status"] in (SCHEDULED, ACTIVE)
        }
        async with self._session_factory() as session:
            rows = (
                await session.execute(
                    select(Meeting, Group)
                    .join(Group, Group.id == Meeting.group_id)
                    .where(
                        Group.server_id == server_id,
                        or_(
                            Meeting.discord_event_id.in_(list(unfinished)),
                            Meeting.status == MeetingStatus.LIVE,
                            and_(
                                Meeting.status == MeetingStatus.SCHEDULED,
                                Meeting.scheduled_start > now - SCHEDULED_WINDOW,
                            ),
                        ),
                    )
                    .order_by(Meeting.scheduled_start)
                )
            ).all()
        referenced = {m.discord_event_id for m, _ in rows if m.discord_event_id}
        me = self._client.user.id if self._client.user else None
        others = [e for i, e in unfinished.items() if i not in referenced]
        orphans = [e for e in others if _int(e.get("creator_id")) == me]
        budget = MAX_UNFINISHED_EVENTS - (len(others) - len(orphans))
        for orphan in orphans:  # made by a process that died before storing its id
            await self._finish(server_id, orphan)
        kept: list[tuple[Meeting, RawEvent]] = []
        wanted: list[tuple[Meeting, Group, RawEvent | None]] = []
        ending: list[RawEvent] = []
        for meeting, group in rows:
            event = unfinished.get(meeting.discord_event_id or 0)
            if meeting.status == MeetingStatus.LIVE:
                if event is not None:
                    kept.append((meeting, event))
            elif (
                meeting.status == MeetingStatus.SCHEDULED
                and group.archived_at is None
                and group.voice_channel_id is not None
            ):
                if meeting.scheduled_start > now:
                    wanted.append((meeting, group, event))
                elif meeting.scheduled_start > now - SCHEDULED_WINDOW:
                    if event is not None:  # starting about now: the leaders may still open it
                        kept.append((meeting, event))
                elif event is not None:  # nobody started it: Discord would cancel it anyway
                    ending.append(event)
            elif event is not None:
                ending.append(event)
        budget = max(budget - len(kept), 0)
        for surplus in ending + [e for _, _, e in wanted[budget:] if e is not None]:
            await self._finish(server_id, surplus)
        for meeting, live in kept:
            if meeting.status == MeetingStatus.LIVE and live["status"] == SCHEDULED:
                await self._set_status(server_id, int(live["id"]), ACTIVE)
        for meeting, group, existing in wanted[:budget]:
            fields = event_fields(group, meeting)
            if existing is None:
                if not await self._create(server_id, meeting, fields):
                    break
            elif existing["status"] == SCHEDULED and _differs(existing, fields):
                await self._http.edit_scheduled_event(
                    server_id, int(existing["id"]), reason="Balint meeting changed", **fields
                )

    async def _create(self, server_id: int, meeting: Meeting, fields: dict[str, Any]) -> bool:
        """Create the meeting's event; False when Discord's limit is reached."""
        try:
            created = await self._http.create_guild_scheduled_event(
                server_id, reason="Balint meeting scheduled", **fields
            )
        except discord.HTTPException as error:
            if error.code == TOO_MANY_EVENTS:
                log.info("server %s has reached Discord's event limit", server_id)
                return False
            raise
        event_id = int(created["id"])
        async with self._session_factory() as session:
            previous = meeting.discord_event_id
            stored = await session.execute(
                update(Meeting)
                .where(
                    Meeting.id == meeting.id,
                    Meeting.discord_event_id.is_(None)
                    if previous is None
                    else Meeting.discord_event_id == previous,
                )
                .values(discord_event_id=event_id)
            )
            await session.commit()
        if stored.rowcount != 1:  # type: ignore[attr-defined]
            await self._http.delete_scheduled_event(server_id, event_id)
        else:
            meeting.discord_event_id = event_id
        return True

    async def _finish(self, server_id: int, event: RawEvent) -> None:
        """Cancel an event that has not started; complete one that has."""
        status = COMPLETED if event["status"] == ACTIVE else CANCELLED
        await self._set_status(server_id, int(event["id"]), status)

    async def _set_status(self, server_id: int, event_id: int, status: int) -> None:
        await self._http.edit_scheduled_event(server_id, event_id, status=status)

    # The live meeting -------------------------------------------------------------------------

    async def meeting_started(self, meeting_id: int) -> None:
        """Start the meeting's event, so Discord shows it live (and does not auto-cancel it)."""
        await self._meeting_status(meeting_id, ACTIVE)

    async def meeting_ended(self, meeting_id: int) -> None:
        """End the event; its slot under Discord's limit goes to a later meeting."""
        server_id = await self._meeting_status(meeting_id, COMPLETED)
        if server_id is not None:
            await self.sync_server(server_id)

    async def _meeting_status(self, meeting_id: int, status: int) -> int | None:
        async with self._session_factory() as session:
            row = (
                await session.execute(
                    select(Meeting.discord_event_id, Group.server_id)
                    .join(Group, Group.id == Meeting.group_id)
                    .where(Meeting.id == meeting_id)
                )
            ).first()
        if row is None or row[0] is None:
            return None
        event_id, server_id = row
        assert event_id is not None
        try:
            await self._set_status(server_id, event_id, status)
        except discord.HTTPException as error:
            # E.g. the event was cancelled by hand; the next sync puts things right.
            log.info("event of meeting %s not updated: HTTP %s", meeting_id, error.status)
        return server_id


def _int(value: object) -> int | None:
    return int(str(value)) if value is not None else None
