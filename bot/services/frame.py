"""Keeping the frame online (issue 16): the leaders' debrief space, drop-outs, the deputy.

The database holds what broke the frame (`FrameEvent` rows: a member dropped, the
leader running the meeting is away, someone stands in, the meeting waits); the timed
handover is a scheduler job guarded by `handled_at`, rebuilt when a meeting is
recovered. Who holds the meeting is decided by bot/domain/frame.py from who is in the
room. Every note is posted quietly, with mentions disabled (the bot's default).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections import defaultdict
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime, timedelta

import discord
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import queries
from bot.db.models import (
    Attendance,
    Case,
    Debrief,
    Deputy,
    FrameEvent,
    FrameEventKind,
    Group,
    LeaderSpace,
    Meeting,
    MeetingStatus,
    MemberRole,
    MembershipStatus,
    PhaseLogEntry,
)
from bot.domain.frame import (
    ControlKind,
    DeputyRefusal,
    FrameStatus,
    Presence,
    check_deputy,
    who_controls,
)
from bot.domain.group_settings import GroupSettings
from bot.domain.phases import Phase, Position, describe_position
from bot.embeds import DESCRIPTION, pack_lines
from bot.errors import MissingBotPermission, UserFacingError
from bot.permissions import describe_missing
from bot.replies import timestamp
from bot.scheduler import JobScheduler
from bot.services.groups import BOT_TEXT
from bot.services.sessions import SessionService, position_of, template_of

log = logging.getLogger(__name__)

HANDOVER_JOB = "frame_handover"
# Phases in which a presenter's drop matters to the leaders (they may pause the timer).
PRESENTER_PHASES = (Phase.PRESENTATION, Phase.DISCUSSION)
LEADER_SPACE_ALLOW = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    read_message_history=True,
)
DEBRIEF_PROMPT = (
    "How did the meeting go? Debrief in the thread below: it is for the leaders only "
    "(and the supervisor role, if set), never shown to members, and deleted with the "
    "group's other records after its retention period."
)


class FrameService:
    """Use cases of the frame around a live meeting."""

    def __init__(
        self,
        client: discord.Client,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        jobs: JobScheduler,
        sessions: SessionService,
    ) -> None:
        self._client = client
        self._session_factory = session_factory
        self._clock = clock
        self._jobs = jobs
        self._sessions = sessions
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        jobs.register(HANDOVER_JOB, self._on_handover_due)

    # The leaders' space ---------------------------------------------------------------------

    async def leader_space(self, guild: discord.Guild, group: Group) -> discord.TextChannel:
        """The group's private leaders' channel, created on first use; its overwrites are
        made to match the leaders (and supervisor role) of today each time it is used."""
        async with self._session_factory() as session:
            space = await session.get(LeaderSpace, group.id)
            leaders = await queries.leader_ids(session, group.id)
        settings = GroupSettings.from_dict(group.settings)
        wanted: dict[discord.Role | discord.Member | discord.Object, discord.PermissionOverwrite]
        wanted = {
            guild.default_role: discord.PermissionOverwrite(view_channel=False),
            guild.me: discord.PermissionOverwrite.from_pair(
                BOT_TEXT, discord.Permissions.none()
            ),
        }
        for leader in leaders:
            wanted[discord.Object(leader, type=discord.Member)] = (
                discord.PermissionOverwrite.from_pair(
                    LEADER_SPACE_ALLOW, discord.Permissions.none()
                )
            )
        role = guild.get_role(settings.supervisor_role_id or 0)
        if role is not None:
            wanted[role] = discord.PermissionOverwrite.from_pair(
                LEADER_SPACE_ALLOW, discord.Permissions.none()
            )
        channel = guild.get_channel(space.channel_id) if space else None
        try:
            if isinstance(channel, discord.TextChannel):
                held = {t.id: o.pair() for t, o in channel.overwrites.items()}
                if held != {t.id: o.pair() for t, o in wanted.items()}:
                    channel = await channel.edit(overwrites=wanted, reason="Balint leaders' space")
                assert isinstance(channel, discord.TextChannel)
                return channel
            category = guild.get_channel(group.category_id or 0)
            channel = await guild.create_text_channel(
                f"{group.name}-leaders"[:100],
                category=category if isinstance(category, discord.CategoryChannel) else None,
                overwrites=wanted,
                topic="The leaders' debrief space: members cannot see it.",
                reason="Balint leaders' space",
            )
        except discord.Forbidden as error:
            raise MissingBotPermission(
                describe_missing(["manage_channels", "manage_roles"])
                + " (for the leaders' debrief space)"
            ) from error
        async with self._session_factory() as session:
            stored = await session.get(LeaderSpace, group.id)
            if stored is None:
                session.add(
                    LeaderSpace(
                        group_id=group.id, channel_id=channel.id, created_at=self._clock.now()
                    )
                )
            else:
                stored.channel_id = channel.id
            await session.commit()
        return channel

    async def post_debrief(
        self, guild: discord.Guild, group: Group, meeting_id: int, summary: Sequence[discord.Embed]
    ) -> str | None:
        """Post the meeting's summary in the leaders' space once, with a thread for the
        leaders' notes; returns where it went, or None if it was posted before."""
        now = self._clock.now()
        channel = await self.leader_space(guild, group)
        async with self._session_factory() as session:
            session.add(Debrief(meeting_id=meeting_id, channel_id=channel.id, claimed_at=now))
            try:
                await session.commit()
            except IntegrityError:
                return None
        embeds = [*summary, await self._frame_embed(meeting_id)]
        message = await channel.send(DEBRIEF_PROMPT, embeds=embeds, silent=True)
        thread = await message.create_thread(
            name=f"Debrief {group.name} {now:%Y-%m-%d}"[:100], auto_archive_duration=10080
        )
        async with self._session_factory() as session:
            await session.execute(
                update(Debrief)
                .where(Debrief.meeting_id == meeting_id)
                .values(message_id=message.id, thread_id=thread.id)
            )
            await session.commit()
        return channel.mention

    async def _frame_embed(self, meeting_id: int) -> discord.Embed:
        """Anything that broke the frame: drop-outs, stand-ins, waits."""
        async with self._session_factory() as session:
            events = (
                (
                    await session.execute(
                        select(FrameEvent)
                        .where(
                            FrameEvent.meeting_id == meeting_id,
                            FrameEvent.kind != FrameEventKind.AWAY,
                        )
                        .order_by(FrameEvent.id)
                    )
                )
                .scalars()
                .all()
            )
        lines = [_describe_event(event) for event in events]
        return discord.Embed(
            title="The frame",
            description=pack_lines(lines, DESCRIPTION)[0] or "Nothing broke the frame.",
        )

    async def forget_debriefs_before(self, cutoffs: Mapping[int, datetime]) -> int:
        """Retention: delete the summaries and leaders' notes of each group's meetings before
        its cutoff (the thread goes with its notes); returns how many went."""
        if not cutoffs:
            return 0
        # One query for every group: ask for the latest cutoff, sort out the rest here
        # (a condition per group would make a statement thousands of terms deep).
        latest = max(cutoffs.values())
        async with self._session_factory() as session:
            rows = (
                await session.execute(
                    select(Debrief, Meeting.group_id, Meeting.scheduled_start)
                    .join(Meeting, Meeting.id == Debrief.meeting_id)
                    .where(Meeting.scheduled_start < latest, Debrief.deleted_at.is_(None))
                )
            ).all()
        old = [
            debrief
            for debrief, group_id, start in rows
            if group_id in cutoffs and start < cutoffs[group_id]
        ]
        removed = 0
        for debrief in old:
            try:
                if debrief.thread_id is not None:
                    await _delete_or_gone(self._client.http.delete_channel(debrief.thread_id))
                if debrief.message_id is not None:
                    await _delete_or_gone(
                        self._client.http.delete_message(debrief.channel_id, debrief.message_id)
                    )
            except discord.HTTPException as error:
                log.warning("could not delete a debrief: HTTP %s", error.status)
                continue
            async with self._session_factory() as session:
                await session.execute(
                    update(Debrief)
                    .where(Debrief.meeting_id == debrief.meeting_id)
                    .values(deleted_at=self._clock.now(), message_id=None, thread_id=None)
                )
                await session.commit()
            removed += 1
        return removed

    # The deputy -----------------------------------------------------------------------------

    async def name_deputy(
        self, group: Group, leader_id: int, user_id: int, this_meeting: bool
    ) -> Deputy:
        """Record a deputy; a co-leader is accepted at once, a member must accept by DM."""
        now = self._clock.now()
        async with self._session_factory() as session:
            membership = await queries.membership(session, group.id, user_id)
            try:
                check_deputy(
                    naming_leader=leader_id,
                    candidate=user_id,
                    is_active_member=membership is not None
                    and membership.status == MembershipStatus.ACTIVE,
                    accepted_agreement=membership is not None
                    and membership.agreement_accepted_at is not None,
                )
            except DeputyRefusal as refusal:
                raise UserFacingError(str(refusal)) from None
            assert membership is not None
            meeting_id: int | None = None
            if this_meeting:
                meeting = await queries.live_meeting(
                    session, group.id
                ) or await queries.next_meeting(session, group.id, now)
                if meeting is None:
                    raise UserFacingError(
                        f"**{group.name}** has no meeting running or scheduled to name a "
                        "deputy for; leave `this_meeting` off to name one for the group."
                    )
                meeting_id = meeting.id
            await session.execute(
                update(Deputy)
                .where(
                    Deputy.group_id == group.id,
                    Deputy.meeting_id.is_(None)
                    if meeting_id is None
                    else Deputy.meeting_id == meeting_id,
                    Deputy.ended_at.is_(None),
                )
                .values(ended_at=now)
            )
            deputy = Deputy(
                group_id=group.id,
                meeting_id=meeting_id,
                user_id=user_id,
                named_at=now,
                accepted_at=now if membership.role is not MemberRole.MEMBER else None,
            )
            session.add(deputy)
            await session.commit()
        return deputy

    async def answer_deputy(self, deputy_id: int, user_id: int, accept: bool) -> Group:
        """The named member's answer to the DM; only they can give it, once."""
        now = self._clock.now()
        async with self._session_factory() as session:
            deputy = await session.get(Deputy, deputy_id)
            if deputy is None or deputy.user_id != user_id:
                raise UserFacingError("This request isn't yours to answer.")
            group = await session.get(Group, deputy.group_id)
            assert group is not None
            if deputy.ended_at is not None or deputy.accepted_at is not None:
                raise UserFacingError("You've already answered, or a leader named someone else.")
            if accept:
                deputy.accepted_at = now
            else:
                deputy.ended_at = now
            await session.commit()
            meeting = await queries.live_meeting(session, group.id)
        if meeting is not None:
            await self._decide(meeting.id)
        return group

    async def _deputy_of(self, session: AsyncSession, meeting: Meeting) -> int | None:
        """The accepted deputy for this meeting, else the group's."""
        rows = (
            (
                await session.execute(
                    select(Deputy)
                    .where(
                        Deputy.group_id == meeting.group_id,
                        Deputy.ended_at.is_(None),
                        Deputy.accepted_at.is_not(None),
                        (Deputy.meeting_id == meeting.id) | Deputy.meeting_id.is_(None),
                    )
                    .order_by(Deputy.meeting_id.is_(None), Deputy.id.desc())
                )
            )
            .scalars()
            .all()
        )
        return rows[0].user_id if rows else None

    # Who holds the meeting ---------------------------------------------------------------

    async def status(self, group_id: int) -> FrameStatus:
        async with self._session_factory() as session:
            meeting = await queries.live_meeting(session, group_id)
            if meeting is None:
                return FrameStatus(None, None)
            events = await _open_events(session, meeting.id)
        stand_in = next((e.user_id for e in events if e.kind is FrameEventKind.STAND_IN), None)
        paused = [e.started_at for e in events if e.kind is FrameEventKind.PAUSE]
        return FrameStatus(stand_in, min(paused) if paused else None)

    async def pause(self, group: Group, user_id: int, actor_id: int) -> bool:
        """A leader pauses the timer for someone who dropped; False if it already waits."""
        meeting = await self._sessions.live_meeting(group)
        async with self._locks[meeting.id], self._session_factory() as session:
            if any(e.kind is FrameEventKind.PAUSE for e in await _open_events(session, meeting.id)):
                return False
            session.add(
                FrameEvent(
                    meeting_id=meeting.id,
                    kind=FrameEventKind.PAUSE,
                    user_id=user_id,
                    started_at=self._clock.now(),
                )
            )
            await session.commit()
        await self._notify_panel(group.id)
        return True

    async def resume(self, group: Group) -> bool:
        """End every wait and give the phase the time it lost; False if nothing waited."""
        meeting = await self._sessions.live_meeting(group)
        async with self._locks[meeting.id]:
            resumed = await self._end_pauses(meeting.id)
        if resumed is None:
            return False
        await self._give_back(group, resumed)
        return True

    async def _end_pauses(self, meeting_id: int) -> timedelta | None:
        now = self._clock.now()
        async with self._session_factory() as session:
            pauses = [
                e for e in await _open_events(session, meeting_id) if e.kind is FrameEventKind.PAUSE
            ]
            for pause in pauses:
                pause.ended_at = now
            await session.commit()
        return now - min(p.started_at for p in pauses) if pauses else None

    async def _give_back(self, group: Group, lost: timedelta) -> None:
        """The phase timer shows the pause: the phase gets the minutes it waited."""
        minutes = min(30, max(1, math.ceil(lost.total_seconds() / 60)))
        try:
            await self._sessions.extend(group, minutes)
        except UserFacingError:
            return
        await self._notify_panel(group.id)

    # Voice: drop-outs and the leader's absence ------------------------------------------

    async def on_voice_change(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        """Someone left or joined a live meeting's room: note drops, hand over, give back."""
        if member.bot or before.channel == after.channel:
            return
        async with self._session_factory() as session:
            rooms = {
                m.voice_channel_id: m
                for m in (
                    await session.execute(
                        select(Meeting)
                        .join(Group)
                        .where(
                            Group.server_id == member.guild.id,
                            Meeting.status == MeetingStatus.LIVE,
                        )
                    )
                )
                .scalars()
                .all()
            }
        left = rooms.get(before.channel.id) if before.channel else None
        joined = rooms.get(after.channel.id) if after.channel else None
        if left is not None:
            await self._left(member, left)
        if joined is not None:
            await self._joined(member, joined)

    async def _left(self, member: discord.Member, meeting: Meeting) -> None:
        now = self._clock.now()
        async with self._session_factory() as session:
            group = await session.get(Group, meeting.group_id)
            membership = await queries.membership(session, meeting.group_id, member.id)
            events = await _open_events(session, meeting.id)
            presenter = await _presenter(session, meeting)
        if group is None or membership is None or membership.status != MembershipStatus.ACTIVE:
            return
        settings = GroupSettings.from_dict(group.settings)
        if member.id == meeting.started_by:
            if not any(e.kind is FrameEventKind.AWAY for e in events):
                due = now + timedelta(seconds=settings.handover_seconds)
                async with self._session_factory() as session:
                    away = FrameEvent(
                        meeting_id=meeting.id,
                        kind=FrameEventKind.AWAY,
                        user_id=member.id,
                        started_at=now,
                        due_at=due,
                    )
                    session.add(away)
                    await session.commit()
                self._jobs.schedule(HANDOVER_JOB, str(away.id), due)
            return
        wait = settings.dropout_wait_minutes
        line = await self._post(
            group,
            f"🔌 <@{member.id}> dropped at {timestamp(now, 't')}; waiting {wait} "
            f"minute{'s' if wait != 1 else ''}.",
        )
        async with self._session_factory() as session:
            session.add(
                FrameEvent(
                    meeting_id=meeting.id,
                    kind=FrameEventKind.DROP,
                    user_id=member.id,
                    started_at=now,
                    message_id=line.id if line else None,
                )
            )
            await session.commit()
        await self._dm(
            member.id,
            f"You dropped out of the **{group.name}** meeting at {timestamp(now, 't')}. "
            f"To come back, join <#{meeting.voice_channel_id}> (or the lobby, and I'll bring "
            f"you in). The group waits {wait} minute{'s' if wait != 1 else ''}, then carries on.",
        )
        position = position_of(meeting)
        if member.id == presenter and position.phase in PRESENTER_PHASES:
            await self._presenter_cue(member, group, meeting)
        if any(e.kind is FrameEventKind.STAND_IN and e.user_id == member.id for e in events):
            await self._decide(meeting.id)

    async def _presenter_cue(self, member: discord.Member, group: Group, meeting: Meeting) -> None:
        """The leaders get a cue in their space, with the choice to pause the timer (the
        cog posts it with its buttons)."""
        title = describe_position(template_of(group), position_of(meeting))
        text = (
            f"🔌 The presenter, <@{member.id}>, dropped during **{title}** at "
            f"{timestamp(self._clock.now(), 't')}. Pause the timer until they're back?"
        )
        self._client.dispatch("presenter_cue", member, group, text)

    async def _joined(self, member: discord.Member, meeting: Meeting) -> None:
        now = self._clock.now()
        runner = meeting.started_by
        async with self._session_factory() as session:
            events = await _open_events(session, meeting.id)
            group = await session.get(Group, meeting.group_id)
            # Their drop line, the leader's absence, and a pause held for them end now.
            theirs = [
                e
                for e in events
                if e.user_id == member.id
                and (e.kind is not FrameEventKind.PAUSE or member.id != runner)
                and e.kind is not FrameEventKind.STAND_IN
            ]
            for event in theirs:
                await _end(session, event.id, now)
                if event.kind is FrameEventKind.AWAY:
                    self._jobs.cancel(HANDOVER_JOB, str(event.id))
            await session.commit()
        if group is None:
            return
        for event in theirs:
            if event.kind is FrameEventKind.DROP and event.message_id:
                await self._edit(
                    group,
                    event.message_id,
                    f"🔌 <@{member.id}> dropped at {timestamp(event.started_at, 't')} and "
                    f"rejoined at {timestamp(now, 't')}.",
                )
        paused = [e for e in theirs if e.kind is FrameEventKind.PAUSE]
        if paused:
            await self._give_back(group, now - min(e.started_at for e in paused))
        handed = any(e.kind in (FrameEventKind.STAND_IN, FrameEventKind.PAUSE) for e in events)
        if member.id == runner or handed:
            await self._decide(meeting.id)

    async def _on_handover_due(self, key: str) -> None:
        """The leader has been away for the group's handover time: decide, once."""
        async with self._session_factory() as session:
            claimed = await session.execute(
                update(FrameEvent)
                .where(
                    FrameEvent.id == int(key),
                    FrameEvent.handled_at.is_(None),
                    FrameEvent.ended_at.is_(None),
                )
                .values(handled_at=self._clock.now())
            )
            await session.commit()
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return
            event = await session.get(FrameEvent, int(key))
        assert event is not None
        await self._decide(event.meeting_id)

    async def _decide(self, meeting_id: int) -> None:
        """Make the stored control what the room calls for, and say so once."""
        async with self._locks[meeting_id]:
            async with self._session_factory() as session:
                meeting = await session.get(Meeting, meeting_id)
                if meeting is None or meeting.status != MeetingStatus.LIVE:
                    return
                group = await session.get(Group, meeting.group_id)
                assert group is not None
                events = await _open_events(session, meeting_id)
                deputy = await self._deputy_of(session, meeting)
                leaders = await queries.leader_ids(session, group.id)
                presenter = await _presenter(session, meeting)
            guild = self._client.get_guild(group.server_id)
            room = guild.get_channel(meeting.voice_channel_id or 0) if guild else None
            present = (
                frozenset(room.voice_states)
                if isinstance(room, discord.VoiceChannel)
                else frozenset()
            )
            runner = meeting.started_by or 0
            away = next((e for e in events if e.kind is FrameEventKind.AWAY), None)
            grace = timedelta(seconds=GroupSettings.from_dict(group.settings).handover_seconds)
            control = who_controls(
                Presence(
                    runner_id=runner,
                    present=present,
                    away_for=None
                    if away is None
                    else max(
                        self._clock.now() - away.started_at,
                        grace if away.handled_at else timedelta(),
                    ),
                    deputy_id=deputy,
                    co_leader_ids=[leader for leader in leaders if leader != runner],
                    presenter_id=presenter,
                ),
                grace,
            )
            notes = await self._apply(meeting, group, events, control.kind, control.user_id)
        for note in notes:
            await self._post(group, note)
        await self._notify_panel(group.id)

    async def _apply(
        self,
        meeting: Meeting,
        group: Group,
        events: Sequence[FrameEvent],
        kind: ControlKind,
        user_id: int | None,
    ) -> list[str]:
        """Store the decided control; returns the chat notes it calls for."""
        now = self._clock.now()
        runner = meeting.started_by or 0
        stand_in = next((e for e in events if e.kind is FrameEventKind.STAND_IN), None)
        waiting = next(
            (e for e in events if e.kind is FrameEventKind.PAUSE and e.user_id == runner), None
        )
        notes: list[str] = []
        lost: timedelta | None = None
        async with self._session_factory() as session:
            if (
                kind is ControlKind.STAND_IN
                and stand_in is not None
                and stand_in.user_id == user_id
            ):
                return []
            if kind is ControlKind.WAITING and waiting is not None and stand_in is None:
                return []
            if stand_in is not None:
                await _end(session, stand_in.id, now)
            if waiting is not None and kind is not ControlKind.WAITING:
                await _end(session, waiting.id, now)
                lost = now - waiting.started_at
            if kind is ControlKind.STAND_IN:
                assert user_id is not None
                session.add(
                    FrameEvent(
                        meeting_id=meeting.id,
                        kind=FrameEventKind.STAND_IN,
                        user_id=user_id,
                        started_at=now,
                    )
                )
                notes.append(
                    f"📡 <@{runner}> is out of the room, so <@{user_id}> holds the meeting "
                    "until they're back."
                )
            elif kind is ControlKind.WAITING and waiting is None:
                session.add(
                    FrameEvent(
                        meeting_id=meeting.id,
                        kind=FrameEventKind.PAUSE,
                        user_id=runner,
                        started_at=now,
                    )
                )
                notes.append(
                    f"⏸ <@{runner}> is out of the room"
                    + (f" and so is <@{stand_in.user_id}>" if stand_in is not None else "")
                    + ": the meeting waits for them. Nothing moves on by itself."
                )
            elif kind is ControlKind.RUNNER and (stand_in is not None or waiting is not None):
                since = (stand_in or waiting).started_at  # type: ignore[union-attr]
                notes.append(
                    f"✅ <@{runner}> is back and holds the meeting again. Meanwhile: "
                    + await _phases_since(session, meeting, group, since)
                )
            await session.commit()
        if kind is ControlKind.STAND_IN and user_id is not None:
            await self._dm(
                user_id,
                f"<@{runner}> has dropped out of the **{group.name}** meeting: you hold it "
                f"until they're back. Use the panel in <#{group.text_channel_id}>, or "
                "`/phase next`, `/phase back`, `/phase set` and `/phase extend`. Control goes "
                "back to them by itself when they return.",
            )
        if lost is not None:
            await self._give_back(group, lost)
        return notes

    async def recover(self, meeting_id: int) -> None:
        """After a start-up: rebuild the handover timer, then match control to the room
        (the leader may have left or come back while the bot was down)."""
        async with self._session_factory() as session:
            meeting = await session.get(Meeting, meeting_id)
            if meeting is None:
                return
            events = await _open_events(session, meeting_id)
            group = await session.get(Group, meeting.group_id)
        guild = self._client.get_guild(group.server_id) if group else None
        room = guild.get_channel(meeting.voice_channel_id or 0) if guild else None
        if not isinstance(room, discord.VoiceChannel) or group is None:
            return
        runner = meeting.started_by or 0
        away = next((e for e in events if e.kind is FrameEventKind.AWAY), None)
        now = self._clock.now()
        if runner in room.voice_states and away is not None:
            async with self._session_factory() as session:
                await _end(session, away.id, now)
                await session.commit()
        elif (
            runner not in room.voice_states
            and away is None
            and await self._was_in(meeting_id, runner)
        ):
            grace = timedelta(seconds=GroupSettings.from_dict(group.settings).handover_seconds)
            async with self._session_factory() as session:
                away = FrameEvent(
                    meeting_id=meeting_id,
                    kind=FrameEventKind.AWAY,
                    user_id=runner,
                    started_at=now,
                    due_at=now + grace,
                )
                session.add(away)
                await session.commit()
        if away is not None and away.handled_at is None and away.due_at is not None:
            self._jobs.schedule(HANDOVER_JOB, str(away.id), away.due_at)
        await self._decide(meeting_id)

    async def _was_in(self, meeting_id: int, user_id: int) -> bool:
        """Whether the bot last saw them in the room (they left while it was down); a
        leader who started the meeting from elsewhere is not away."""
        async with self._session_factory() as session:
            result = await session.execute(
                select(Attendance.id).where(
                    Attendance.meeting_id == meeting_id,
                    Attendance.user_id == user_id,
                    Attendance.left_at.is_(None),
                )
            )
            return result.first() is not None

    # Quiet messages -------------------------------------------------------------------------

    async def _post(self, group: Group, text: str) -> discord.Message | None:
        channel = self._client.get_channel(group.text_channel_id or 0)
        if not isinstance(channel, discord.TextChannel):
            return None
        try:
            return await channel.send(
                text, silent=True, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException as error:
            log.info("could not post a frame note: HTTP %s", error.status)
            return None

    async def _edit(self, group: Group, message_id: int, text: str) -> None:
        channel = self._client.get_channel(group.text_channel_id or 0)
        if not isinstance(channel, discord.TextChannel):
            return
        try:
            await channel.get_partial_message(message_id).edit(
                content=text, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.HTTPException as error:
            log.info("could not update a drop-out line: HTTP %s", error.status)

    async def _dm(self, user_id: int, text: str) -> None:
        try:
            # Opening the DM channel needs only the id: no lookup of the user first.
            channel = await self._client.create_dm(discord.Object(id=user_id))
            await channel.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as error:
            log.info("could not DM about the frame: HTTP %s", error.status)

    async def _notify_panel(self, group_id: int) -> None:
        self._client.dispatch("frame_changed", group_id)


def _describe_event(event: FrameEvent) -> str:
    until = f" to {timestamp(event.ended_at, 't')}" if event.ended_at else ""
    at = timestamp(event.started_at, "t")
    if event.kind is FrameEventKind.DROP:
        return f"• <@{event.user_id}> dropped at {at}" + (
            f", back at {timestamp(event.ended_at, 't')}" if event.ended_at else ", not back"
        )
    if event.kind is FrameEventKind.STAND_IN:
        return f"• <@{event.user_id}> held the meeting from {at}{until}"
    return f"• the meeting waited for <@{event.user_id}> from {at}{until}"


async def _open_events(session: AsyncSession, meeting_id: int) -> list[FrameEvent]:
    result = await session.execute(
        select(FrameEvent)
        .where(FrameEvent.meeting_id == meeting_id, FrameEvent.ended_at.is_(None))
        .order_by(FrameEvent.id)
    )
    return list(result.scalars().all())


async def _end(session: AsyncSession, event_id: int, now: datetime) -> None:
    await session.execute(update(FrameEvent).where(FrameEvent.id == event_id).values(ended_at=now))


async def _presenter(session: AsyncSession, meeting: Meeting) -> int | None:
    if meeting.current_case_number is None:
        return None
    result = await session.execute(
        select(Case.presenter_id).where(
            Case.meeting_id == meeting.id, Case.case_number == meeting.current_case_number
        )
    )
    return result.scalar_one_or_none()


async def _phases_since(
    session: AsyncSession, meeting: Meeting, group: Group, since: datetime
) -> str:
    """What the stand-in did while the leader was away, for the leader to see."""
    template = template_of(group)
    entries = (
        (
            await session.execute(
                select(PhaseLogEntry)
                .where(PhaseLogEntry.meeting_id == meeting.id, PhaseLogEntry.started_at >= since)
                .order_by(PhaseLogEntry.id)
            )
        )
        .scalars()
        .all()
    )
    moves = [
        f"{describe_position(template, Position(e.case_number, Phase(e.phase)))}"
        + (f" (by <@{e.started_by}>)" if e.started_by else "")
        for e in entries
    ]
    return ", ".join(moves) + "." if moves else "no phase changed."


async def _delete_or_gone(request: Awaitable[object]) -> None:
    """A delete that found nothing has nothing left to do."""
    with contextlib.suppress(discord.NotFound):
        await request
