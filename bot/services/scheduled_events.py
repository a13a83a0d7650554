"""Discord scheduled events that mirror the meetings in the database.

One function compares a server's events on Discord with its meetings and
fixes the difference (create, edit, start, end, cancel). It serves every change
made through the bot, the start-up check after downtime (events edited,
cancelled or deleted by hand), and the daily top-up. Discord allows 100
unfinished events per server: the earliest meetings get them, after the events
other people made. A new event's id is stored with a compare-and-set, so two
bot processes cannot leave two events for one meeting.

Discord changes events on its own too: it completes a started event a few minutes
after its voice channel empties, and cancels one not started a few hours after its
start time. A finished event cannot be edited, so a meeting's event is moved into the
room the meeting actually uses when it starts, and an event Discord has already ended
is taken as ended, never as a failure (nor recreated for a meeting that has begun).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import discord
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from bot.clock import Clock
from bot.db.models import Group, Meeting, MeetingStatus
from bot.db.queries import on_shards
from bot.permissions import describe_missing
from bot.scheduler import JobScheduler
from bot.services.sessions import SCHEDULED_WINDOW

log = logging.getLogger(__name__)

EVENT_SYNC_JOB = "event_sync"
CHECK_ONE = "check:"  # a job key: check one server against what Discord sent, as `all` does
EVENT_RETRY = timedelta(minutes=5)
MAX_UNFINISHED_EVENTS = 100
TOO_MANY_EVENTS = 30038
EVENT_FINISHED = 180000  # Discord completed or cancelled it already
UNKNOWN_EVENT = 10070
MAX_EVENT_NAME = 100
EVENT_SUFFIX = ": Balint group"
SCHEDULED = discord.EventStatus.scheduled.value
ACTIVE = discord.EventStatus.active.value
COMPLETED = discord.EventStatus.completed.value
CANCELLED = discord.EventStatus.cancelled.value

RawEvent = Mapping[str, Any]


def event_fields(group: Group, meeting: Meeting) -> dict[str, Any]:
    """What the meeting's event should say; on the group's private room, so only members see it."""
    return _fields(group.name, group.voice_channel_id, meeting.scheduled_start, meeting.planned_end)


def _fields(name: str, room_id: int | None, start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "name": _event_name(name),
        "description": "The group's meeting. Reminders and RSVPs come in the group's channel.",
        "scheduled_start_time": start.isoformat(),
        "scheduled_end_time": end.isoformat(),
        "privacy_level": discord.PrivacyLevel.guild_only.value,
        "entity_type": discord.EntityType.voice.value,
        "channel_id": str(room_id),
    }


def _event_name(group_name: str) -> str:
    return group_name[: MAX_EVENT_NAME - len(EVENT_SUFFIX)] + EVENT_SUFFIX


@dataclass(frozen=True)
class Slot:
    """What the check needs of one meeting and its group: plain columns, so checking a
    thousand servers does not build a hundred thousand ORM objects."""

    meeting_id: int
    status: MeetingStatus
    start: datetime
    end: datetime
    event_id: int | None
    meeting_room_id: int | None  # the room a live meeting uses (maybe a pooled one)
    group_name: str
    room_id: int | None
    archived: bool

    def event_name(self) -> str:
        return _event_name(self.group_name)

    def fields(self) -> dict[str, Any]:
        return _fields(self.group_name, self.room_id, self.start, self.end)


_SLOT = (
    Meeting.id,
    Meeting.status,
    Meeting.scheduled_start,
    Meeting.planned_end,
    Meeting.discord_event_id,
    Meeting.voice_channel_id,
    Group.name,
    Group.voice_channel_id,
    Group.archived_at.is_not(None),
)


def _in_window(now: datetime) -> ColumnElement[bool]:
    """Meetings that have, or should have, an unfinished event."""
    return or_(
        Meeting.status == MeetingStatus.LIVE,
        and_(
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.scheduled_start > now - SCHEDULED_WINDOW,
        ),
    )


@dataclass
class Plan:
    """The requests that bring a server's events in step with its meetings."""

    finish: list[RawEvent] = field(default_factory=list)
    activate: list[tuple[int, int | None]] = field(default_factory=list)  # event, room
    create: list[Slot] = field(default_factory=list)
    edit: list[tuple[Slot, int]] = field(default_factory=list)  # meeting, its event

    def __bool__(self) -> bool:
        return bool(self.finish or self.activate or self.create or self.edit)


def plan_sync(
    slots: list[Slot], unfinished: Mapping[int, RawEvent], me: int | None, now: datetime
) -> Plan:
    """Compare a server's meetings (earliest first) with its unfinished events."""
    plan = Plan()
    referenced = {slot.event_id for slot in slots if slot.event_id}
    others = [e for i, e in unfinished.items() if i not in referenced]
    orphans = [e for e in others if _int(e.get("creator_id")) == me]
    budget = MAX_UNFINISHED_EVENTS - (len(others) - len(orphans))
    plan.finish += orphans  # made by a process that died before storing its id
    kept: list[tuple[Slot, RawEvent]] = []
    wanted: list[tuple[Slot, RawEvent | None]] = []
    ending: list[RawEvent] = []
    for slot in slots:
        event = unfinished.get(slot.event_id or 0)
        if slot.status == MeetingStatus.LIVE:
            if event is not None:
                kept.append((slot, event))
        elif slot.status == MeetingStatus.SCHEDULED and not slot.archived and slot.room_id:
            if slot.start > now:
                wanted.append((slot, event))
            elif slot.start > now - SCHEDULED_WINDOW:
                if event is not None:  # starting about now: the leaders may still open it
                    kept.append((slot, event))
            elif event is not None:  # nobody started it: Discord would cancel it anyway
                ending.append(event)
        elif event is not None:
            ending.append(event)
    budget = max(budget - len(kept), 0)
    plan.finish += ending + [e for _, e in wanted[budget:] if e is not None]
    plan.activate += [
        (int(event["id"]), slot.meeting_room_id)
        for slot, event in kept
        if slot.status == MeetingStatus.LIVE and event["status"] == SCHEDULED
    ]
    for slot, existing in wanted[:budget]:
        if existing is None:
            plan.create.append(slot)
        elif existing["status"] == SCHEDULED and _differs(existing, slot):
            plan.edit.append((slot, int(existing["id"])))
    return plan


def _differs(event: RawEvent, slot: Slot) -> bool:
    """Whether the event says something other than the meeting (name, room, times)."""
    return (
        event.get("name") != slot.event_name()
        or str(event.get("channel_id")) != str(slot.room_id)
        or _moment(event.get("scheduled_start_time")) != slot.start
        or _moment(event.get("scheduled_end_time")) != slot.end
    )


def _moment(value: object) -> datetime | None:
    """A time as Discord sends it (ISO text), or as discord.py's cache keeps it."""
    if isinstance(value, datetime) or value is None:
        return value
    return datetime.fromisoformat(str(value)) if value else None


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
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        jobs.register(EVENT_SYNC_JOB, self._on_job)

    async def _on_job(self, key: str) -> None:
        if key == "all":
            await self.sync_all()
        elif key.startswith(CHECK_ONE):
            await self.sync_all(int(key.removeprefix(CHECK_ONE)))
        else:
            await self.sync_server(int(key))

    def check_all(self, server_id: int | None = None) -> None:
        """Check every server's events (or one server's, back from an outage) soon, as
        background work, once Discord has sent them."""
        key = "all" if server_id is None else f"{CHECK_ONE}{server_id}"
        self._jobs.schedule(EVENT_SYNC_JOB, key, self._clock.now())

    async def sync_all(self, only: int | None = None) -> None:
        """Check the servers this process is connected to (or the server `only`) against
        the events Discord sent with each server (GUILD_CREATE, kept current by the
        gateway). One query for every server; only a server where something differs is
        synced, so a society's thousand servers in step cost no request."""
        now = self._clock.now()
        shards = self._jobs.shards
        async with self._session_factory() as session:
            rows = (
                await session.execute(
                    on_shards(
                        select(Group.server_id, *_SLOT)
                        .join(Group, Group.id == Meeting.group_id)
                        .where(_in_window(now))
                        .order_by(Meeting.scheduled_start),
                        Group.server_id,
                        shards,
                        only,
                    )
                )
            ).all()
            servers = (
                await session.execute(
                    on_shards(
                        select(Group.server_id).distinct(), Group.server_id, shards, only
                    )
                )
            ).scalars().all()
        slots: dict[int, list[Slot]] = {server_id: [] for server_id in servers}
        for server_id, *columns in rows:
            slots[server_id].append(Slot(*columns))
        me = self._client.user.id if self._client.user else None
        for server_id, server_slots in slots.items():
            guild = self._client.get_guild(server_id)
            if guild is None or guild.unavailable:  # another process's shard, a server
                continue  # that left us, or one in an outage (checked when it is back)
            known = [_raw(e) for e in guild.scheduled_events]
            # The plan also finishes our events no meeting references (strays).
            if not plan_sync(server_slots, _unfinished(known), me, now):
                continue
            problems = await self.sync_server(server_id, known)
            if problems:
                log.warning("events of server %s: %s", server_id, "; ".join(problems))

    async def sync_server(
        self, server_id: int, known: list[RawEvent] | None = None
    ) -> list[str]:
        """Make the server's events match its meetings; problems are described for leaders.

        `known` are the server's events as last heard from Discord; without them (or
        when they lack an event the database expects) the events are fetched.
        """
        async with self._locks[server_id]:
            try:
                await self._sync(server_id, known)
            except discord.Forbidden:
                # Not retried on a timer: that would only pile up refused requests. Events
                # live in the group's voice room, so the bot must also see and join it.
                return [
                    "I couldn't publish the meetings as Discord events. "
                    + describe_missing(["create_events", "view_channel", "connect"])
                    + " (in the groups' voice rooms too)"
                ]
            except discord.HTTPException as error:
                self._jobs.schedule(EVENT_SYNC_JOB, str(server_id), self._clock.now() + EVENT_RETRY)
                return [
                    f"Discord's events could not be updated just now (HTTP {error.status}); "
                    "I'll try again in a few minutes."
                ]
        return []

    async def _sync(self, server_id: int, known: list[RawEvent] | None) -> None:
        now = self._clock.now()
        listed: Sequence[RawEvent] = (
            known if known is not None
            else await self._http.get_scheduled_events(server_id, False)
        )
        unfinished = _unfinished(listed)
        async with self._session_factory() as session:
            slots = [
                Slot(*row)
                for row in await session.execute(
                    select(*_SLOT)
                    .join(Group, Group.id == Meeting.group_id)
                    .where(
                        Group.server_id == server_id,
                        or_(Meeting.discord_event_id.in_(list(unfinished)), _in_window(now)),
                    )
                    .order_by(Meeting.scheduled_start)
                )
            ]
        if known is not None and any(
            slot.event_id is not None and slot.event_id not in unfinished for slot in slots
        ):
            # Edited, ended or deleted by hand, or our copy is behind: ask Discord.
            await self._sync(server_id, None)
            return
        plan = plan_sync(slots, unfinished, self._client.user.id if self._client.user else None,
                         now)
        for event in plan.finish:
            await self._finish(server_id, event)
        for event_id, room_id in plan.activate:
            await self._start(server_id, event_id, room_id)
        for slot in plan.create:
            if not await self._create(server_id, slot):
                break
        for slot, event_id in plan.edit:
            edited = await self._edit(
                server_id, event_id, reason="Balint meeting changed", **slot.fields()
            )
            # Ended meanwhile (by hand): the meeting is still ahead, so it gets a new one.
            if not edited and not await self._create(server_id, slot):
                break

    async def _create(self, server_id: int, slot: Slot) -> bool:
        """Create the meeting's event; False when Discord's limit is reached."""
        try:
            created = await self._http.create_guild_scheduled_event(
                server_id, reason="Balint meeting scheduled", **slot.fields()
            )
        except discord.HTTPException as error:
            if error.code == TOO_MANY_EVENTS:
                log.info("server %s has reached Discord's event limit", server_id)
                return False
            raise
        event_id = int(created["id"])
        async with self._session_factory() as session:
            previous = slot.event_id
            stored = await session.execute(
                update(Meeting)
                .where(
                    Meeting.id == slot.meeting_id,
                    Meeting.discord_event_id.is_(None)
                    if previous is None
                    else Meeting.discord_event_id == previous,
                )
                .values(discord_event_id=event_id)
            )
            await session.commit()
        if stored.rowcount != 1:  # type: ignore[attr-defined]
            await self._http.delete_scheduled_event(server_id, event_id)
        return True

    async def _finish(self, server_id: int, event: RawEvent) -> None:
        """Cancel an event that has not started; complete one that has."""
        status = COMPLETED if event["status"] == ACTIVE else CANCELLED
        await self._set_status(server_id, int(event["id"]), status)

    async def _set_status(self, server_id: int, event_id: int, status: int) -> None:
        await self._edit(server_id, event_id, status=status)

    async def _start(self, server_id: int, event_id: int, room_id: int | None) -> None:
        """Start the event in the room the meeting uses (a pooled room may not be the
        group's own): Discord ends a started event whose channel stays empty."""
        fields: dict[str, Any] = {"status": ACTIVE}
        if room_id is not None:
            fields["channel_id"] = str(room_id)
        await self._edit(server_id, event_id, **fields)

    async def _edit(self, server_id: int, event_id: int, **fields: Any) -> bool:
        """Edit an event; False if Discord ended or removed it meanwhile (nothing to do: the
        next sync sees it gone, and a finished event cannot be changed)."""
        try:
            await self._http.edit_scheduled_event(server_id, event_id, **fields)
        except discord.HTTPException as error:
            if error.code not in (EVENT_FINISHED, UNKNOWN_EVENT):
                raise
            log.info("event %s of server %s had already ended", event_id, server_id)
            return False
        return True

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
                    select(Meeting.discord_event_id, Group.server_id, Meeting.voice_channel_id)
                    .join(Group, Group.id == Meeting.group_id)
                    .where(Meeting.id == meeting_id)
                )
            ).first()
        if row is None or row[0] is None:
            return None
        event_id, server_id, room_id = row
        assert event_id is not None
        try:
            if status == ACTIVE:
                await self._start(server_id, event_id, room_id)
            else:
                await self._set_status(server_id, event_id, status)
        except discord.HTTPException as error:
            # E.g. the event was cancelled by hand; the next sync puts things right.
            log.info("event of meeting %s not updated: HTTP %s", meeting_id, error.status)
        return server_id


def _unfinished(events: Sequence[RawEvent]) -> dict[int, RawEvent]:
    return {int(e["id"]): e for e in events if e["status"] in (SCHEDULED, ACTIVE)}


def _raw(event: discord.ScheduledEvent) -> RawEvent:
    """A cached event in the shape Discord's API returns it (times left as datetimes)."""
    return {
        "id": event.id,
        "status": event.status.value,
        "creator_id": event.creator_id,
        "name": event.name,
        "channel_id": event.channel_id,
        "scheduled_start_time": event.start_time,
        "scheduled_end_time": event.end_time,
    }


def _int(value: object) -> int | None:
    return int(str(value)) if value is not None else None
