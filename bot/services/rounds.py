"""The check-in round (issue 16, point 3): turns stored, cues timed, one voice kept.

The `RoundTurn` rows are the round's state. A one-voice round's silences are those
`SilenceKeeper.sync` derives from them (bot/domain/rounds.py), so a turn moving on,
someone joining and recovery after a crash all go through the same ledger as the
presenter's silence. The per-turn cue is a job guarded by `cue_sent_at`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import discord
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import queries
from bot.db.models import Attendance, Group, Meeting, MeetingStatus, MemberRole, RoundTurn
from bot.domain import rounds
from bot.domain.group_settings import GroupSettings
from bot.domain.phases import Phase
from bot.domain.rounds import Participant, RoundError, RoundOrder, Turn, TurnStatus
from bot.errors import UserFacingError
from bot.replies import timestamp
from bot.scheduler import JobScheduler
from bot.services.sessions import SessionService, position_of

log = logging.getLogger(__name__)

TURN_CUE_JOB = "round_turn_cue"


@dataclass(frozen=True)
class RoundView:
    """What the panel and the round message show."""

    turns: list[Turn]
    seconds: int
    one_voice: bool
    speaking_since: datetime | None

    @property
    def speaker(self) -> int | None:
        return rounds.speaker(self.turns)

    @property
    def up_next(self) -> int | None:
        return rounds.up_next(self.turns)

    @property
    def over(self) -> bool:
        return rounds.is_over(self.turns)


class RoundService:
    """Use cases of the check-in round."""

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
        self.rng = random.Random()
        jobs.register(TURN_CUE_JOB, self._on_cue)

    async def start(self, guild: discord.Guild, group: Group) -> RoundView:
        """Order those in the room (leaders run the round, members check in) and begin."""
        meeting = await self._sessions.live_meeting(group)
        if position_of(meeting).phase is not Phase.CHECK_IN:
            raise UserFacingError(
                "The round belongs to the check-in: go back to it with `/phase set` first."
            )
        settings = GroupSettings.from_dict(group.settings)
        room = guild.get_channel(meeting.voice_channel_id or 0)
        in_room = list(room.voice_states) if isinstance(room, discord.VoiceChannel) else []
        async with self._locks[meeting.id], self._session_factory() as session:
            turns, _ = await queries.round_turns(session, meeting.id)
            if turns and not rounds.is_over(turns):
                raise UserFacingError("The round is already running: move it on with its buttons.")
            members = {
                m.user_id
                for m in await queries.active_memberships(session, group.id)
                if m.role is MemberRole.MEMBER
            }
            arrivals = [
                user_id
                for user_id in (
                    await session.execute(
                        select(Attendance.user_id)
                        .where(Attendance.meeting_id == meeting.id)
                        .order_by(Attendance.joined_at, Attendance.id)
                    )
                )
                .scalars()
                .all()
            ]
            present = [u for u in in_room if u in members]
            participants = [
                Participant(
                    u, _name(guild, u), arrivals.index(u) if u in arrivals else len(arrivals)
                )
                for u in present
            ]
            try:
                order = rounds.order_round(participants, RoundOrder(settings.round_order), self.rng)
            except RoundError as error:
                raise UserFacingError(str(error)) from None
            now = self._clock.now()
            await session.execute(delete(RoundTurn).where(RoundTurn.meeting_id == meeting.id))
            for index, turn in enumerate(rounds.start(order)):
                session.add(
                    RoundTurn(
                        meeting_id=meeting.id,
                        turn_order=index,
                        user_id=turn.user_id,
                        status=turn.status.value,
                        one_voice=settings.one_voice,
                        seconds=settings.round_seconds,
                        started_at=now if turn.status is TurnStatus.SPEAKING else None,
                    )
                )
            await session.commit()
        await self._after_change(guild, group, meeting)
        return await self._view(meeting.id)

    async def act(
        self, guild: discord.Guild, group: Group, action: str, actor_id: int, runs: bool
    ) -> RoundView:
        """Next, skip (whoever runs the meeting) or pass (a member for themselves; whoever
        runs the meeting for the speaker)."""
        meeting = await self._sessions.live_meeting(group)
        async with self._locks[meeting.id], self._session_factory() as session:
            turns, _ = await queries.round_turns(session, meeting.id)
            if not turns:
                raise UserFacingError("No round is running: start one with `/round start`.")
            try:
                if action == "pass":
                    # A runner outside the round passes for the speaker.
                    speaker = rounds.speaker(turns)
                    stands_out = runs and actor_id not in {t.user_id for t in turns}
                    who = speaker if stands_out and speaker is not None else actor_id
                    changed = rounds.pass_turn(turns, who)
                elif not runs:
                    raise UserFacingError("Only whoever runs the meeting can move the round on.")
                elif action == "skip":
                    changed = rounds.skip(turns)
                else:
                    changed = rounds.next_turn(turns)
            except RoundError as error:
                raise UserFacingError(str(error)) from None
            await self._store(session, meeting.id, turns, changed)
            await session.commit()
        await self._after_change(guild, group, meeting)
        return await self._view(meeting.id)

    async def _store(
        self, session: AsyncSession, meeting_id: int, before: list[Turn], after: list[Turn]
    ) -> None:
        now = self._clock.now()
        for old, new in zip(before, after, strict=True):
            if old.status is new.status:
                continue
            values: dict[str, object] = {"status": new.status.value}
            if new.status is TurnStatus.SPEAKING:
                values["started_at"] = now
            elif old.status is TurnStatus.SPEAKING:
                values["ended_at"] = now
            await session.execute(
                update(RoundTurn)
                .where(RoundTurn.meeting_id == meeting_id, RoundTurn.user_id == new.user_id)
                .values(values)
            )

    async def _after_change(self, guild: discord.Guild, group: Group, meeting: Meeting) -> None:
        """Silences from the stored turns, the speaker's cue, the message and the panel."""
        problems = await self._sessions.resync_silence(guild, group)
        if problems:
            log.warning("one-voice silence left %d problems", len(problems))
        await self._schedule_cue(meeting.id)
        self._client.dispatch("round_changed", group.id)

    async def _schedule_cue(self, meeting_id: int) -> None:
        async with self._session_factory() as session:
            row = (
                await session.execute(
                    select(RoundTurn).where(
                        RoundTurn.meeting_id == meeting_id,
                        RoundTurn.status == TurnStatus.SPEAKING.value,
                    )
                )
            ).scalar_one_or_none()
        if row is not None and row.started_at is not None and row.cue_sent_at is None:
            self._jobs.schedule(
                TURN_CUE_JOB, str(row.id), row.started_at + timedelta(seconds=row.seconds)
            )

    async def _on_cue(self, key: str) -> None:
        """A quiet note that the speaker's time is up, once, if they still speak."""
        async with self._session_factory() as session:
            claimed = await session.execute(
                update(RoundTurn)
                .where(
                    RoundTurn.id == int(key),
                    RoundTurn.status == TurnStatus.SPEAKING.value,
                    RoundTurn.cue_sent_at.is_(None),
                )
                .values(cue_sent_at=self._clock.now())
            )
            await session.commit()
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return
            row = await session.get(RoundTurn, int(key))
            meeting = await session.get(Meeting, row.meeting_id) if row else None
            group = await session.get(Group, meeting.group_id) if meeting else None
        if row is None or group is None:
            return
        self._client.dispatch(
            "phase_cue", group.id, f"⏰ Time is up for <@{row.user_id}>'s check-in.", False
        )

    async def view(self, group: Group) -> RoundView | None:
        """The live meeting's round, if one was started."""
        async with self._session_factory() as session:
            meeting = await queries.live_meeting(session, group.id)
        if meeting is None:
            return None
        found = await self._view(meeting.id)
        return found if found.turns else None

    async def _view(self, meeting_id: int) -> RoundView:
        async with self._session_factory() as session:
            rows = (
                (
                    await session.execute(
                        select(RoundTurn)
                        .where(RoundTurn.meeting_id == meeting_id)
                        .order_by(RoundTurn.turn_order)
                    )
                )
                .scalars()
                .all()
            )
        speaking = next((r for r in rows if r.status == TurnStatus.SPEAKING.value), None)
        return RoundView(
            [Turn(r.user_id, TurnStatus(r.status)) for r in rows],
            rows[0].seconds if rows else 0,
            any(r.one_voice for r in rows),
            speaking.started_at if speaking else None,
        )

    async def set_message(self, group: Group, message_id: int) -> None:
        """Remember the round's message so each move can update it."""
        meeting = await self._sessions.live_meeting(group)
        async with self._session_factory() as session:
            await session.execute(
                update(RoundTurn)
                .where(RoundTurn.meeting_id == meeting.id)
                .values(message_id=message_id)
            )
            await session.commit()

    async def message_id(self, group: Group) -> int | None:
        async with self._session_factory() as session:
            meeting = await queries.live_meeting(session, group.id)
            if meeting is None:
                return None
            result = await session.execute(
                select(RoundTurn.message_id).where(RoundTurn.meeting_id == meeting.id)
            )
            return result.scalars().first()

    async def recover(self, meeting_id: int) -> None:
        """After a start-up the silences come from the stored turns (via the session's
        recovery); the speaker's cue is rebuilt here."""
        await self._schedule_cue(meeting_id)

    async def on_voice_change(self, member: discord.Member, after: discord.VoiceState) -> None:
        """Someone joining a one-voice round is silenced unless it is their turn."""
        if member.bot or after.channel is None:
            return
        async with self._session_factory() as session:
            meeting = (
                await session.execute(
                    select(Meeting).where(
                        Meeting.voice_channel_id == after.channel.id,
                        Meeting.status == MeetingStatus.LIVE,
                    )
                )
            ).scalar_one_or_none()
            if meeting is None:
                return
            turns, one_voice = await queries.round_turns(session, meeting.id)
            group = await session.get(Group, meeting.group_id)
        if one_voice and not rounds.is_over(turns) and group is not None:
            await self._sessions.resync_silence(member.guild, group)


def describe_turn(view: RoundView) -> str:
    """'Now: @a (until 19:42) · next: @b' for the panel and the round message."""
    if view.over:
        return "The round is complete."
    now = f"Now: <@{view.speaker}>" if view.speaker else "Now: nobody"
    if view.speaking_since is not None:
        until = view.speaking_since + timedelta(seconds=view.seconds)
        now += f" (until {timestamp(until, 't')})"
    return now + (f" · next: <@{view.up_next}>" if view.up_next else " · last turn")


def _name(guild: discord.Guild, user_id: int) -> str:
    member = guild.get_member(user_id)
    return member.display_name if member else str(user_id)
