"""The live meeting: start, phases run by leaders, the presenter, end, recovery.

The database holds where each meeting stands. The presenter's silence is kept by
bot/services/silence.py (`SilenceKeeper.sync` derives from the stored position which
overwrites must be in force), so the same call serves a phase change, a presenter
joining late, and recovery after a crash; this module keeps the meeting's use cases.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    CaseStatus,
    Group,
    Meeting,
    MeetingStatus,
    OverwriteChange,
    PhaseLogEntry,
)
from bot.domain.group_settings import GroupSettings
from bot.domain.phases import (
    Phase,
    PhaseError,
    PhaseRecord,
    PhaseTemplate,
    Position,
    TemplateError,
    TimeRow,
    cue_times,
    describe_position,
    first_position,
    next_position,
    time_summary,
)
from bot.errors import MissingBotPermission, UserFacingError
from bot.scheduler import JobScheduler
from bot.services.cases import validate_label
from bot.services.rooms import RoomService
from bot.services.silence import SilenceKeeper

log = logging.getLogger(__name__)

CUE_JOB = "phase_cue"
RECONCILE_JOB = "reconcile"
# After something could not be undone on Discord, try again soon, then less often.
FIRST_RETRY = timedelta(minutes=1)
LAST_RETRY = timedelta(hours=1)
SCHEDULED_WINDOW = timedelta(minutes=60)

# Picks where the meeting goes from where it is; None means "ready to end".
PositionChooser = Callable[[PhaseTemplate, Position], Position | None]
MAX_EXTENSION_MINUTES = 30


def template_of(group: Group) -> PhaseTemplate:
    try:
        return PhaseTemplate.from_dict(GroupSettings.from_dict(group.settings).phase_template)
    except TemplateError:
        log.warning("group %s has an invalid phase template; using the default", group.id)
        return PhaseTemplate()


def position_of(meeting: Meeting) -> Position:
    assert meeting.current_phase is not None
    return Position(meeting.current_case_number, Phase(meeting.current_phase))


@dataclass(frozen=True)
class PanelState:
    """Everything the session panel shows, read in one go."""

    group: Group
    meeting: Meeting
    template: PhaseTemplate
    position: Position
    entry: PhaseLogEntry
    presenter_id: int | None
    next_label: str | None


@dataclass(frozen=True)
class MeetingSummary:
    group: Group
    meeting: Meeting
    cases: Sequence[Case]
    rows: Sequence[TimeRow]
    attendees: Sequence[int]
    failures: Sequence[str]


class SessionService:
    """Use cases of the live meeting."""

    def __init__(
        self,
        client: discord.Client,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        jobs: JobScheduler,
        silence: SilenceKeeper,
        rooms: RoomService,
    ) -> None:
        self._client = client
        self._session_factory = session_factory
        self._clock = clock
        self._jobs = jobs
        self._silence = silence
        self._rooms = rooms
        self._locks: dict[int, asyncio.Lock] = {}
        jobs.register(CUE_JOB, self._on_cue)
        jobs.register(RECONCILE_JOB, self._on_reconcile)

    def _lock(self, group_id: int) -> asyncio.Lock:
        return self._locks.setdefault(group_id, asyncio.Lock())

    # Start --------------------------------------------------------------------------------

    async def start(
        self, guild: discord.Guild, group: Group, leader_id: int
    ) -> tuple[Meeting, list[str]]:
        """Open the meeting: the scheduled one near now, or an ad hoc one.

        Returns the meeting and what could not be done without stopping it (moving
        members in from the lobby): the meeting runs, and the leader is told.
        """
        template = template_of(group)
        now = self._clock.now()
        position = first_position(template)
        async with self._lock(group.id), self._session_factory() as session:
            if await queries.live_meeting(session, group.id) is not None:
                raise UserFacingError(f"**{group.name}** is already meeting: `/session end` first.")
            meeting = await _scheduled_near(session, group.id, now)
            if meeting is None:
                meeting = Meeting(
                    group_id=group.id,
                    scheduled_start=now,
                    planned_end=now + template.meeting_length(),
                    status=MeetingStatus.SCHEDULED,
                    created_at=now,
                )
                session.add(meeting)
            meeting.status = MeetingStatus.LIVE
            meeting.started_at = now
            meeting.started_by = leader_id
            meeting.current_case_number = position.case_number
            meeting.current_phase = position.phase.value
            try:
                await session.flush()
            except IntegrityError:
                raise UserFacingError(f"**{group.name}** is already meeting.") from None
            entry = PhaseLogEntry(
                meeting_id=meeting.id,
                case_number=position.case_number,
                phase=position.phase.value,
                started_at=now,
                started_by=leader_id,
                planned_seconds=int(template.planned(position.phase).total_seconds()),
            )
            session.add(entry)
            await session.commit()
        try:
            room_id = await self._rooms.claim(group, meeting.id)
            await self._set_room(meeting.id, room_id)
            meeting.voice_channel_id = room_id
            await self._rooms.open(guild, group, meeting.id, room_id)
        except (UserFacingError, discord.HTTPException):
            await self._abandon(guild, group, meeting)
            raise
        warnings: list[str] = []
        try:
            await self._rooms.gather(guild, group, room_id)
        except MissingBotPermission as error:
            warnings.append(f"I couldn't bring members in from the lobby. {error.message}")
        await self._record_present(guild, meeting)
        self._schedule_cues(entry)
        self._client.dispatch("meeting_started", meeting.id)
        return meeting, warnings

    async def _abandon(self, guild: discord.Guild, group: Group, meeting: Meeting) -> None:
        """Undo a start that could not get its room."""
        await self._rooms.release(guild, group, meeting)
        async with self._session_factory() as session:
            await session.execute(
                update(Meeting)
                .where(Meeting.id == meeting.id)
                .values(
                    status=MeetingStatus.SCHEDULED
                    if meeting.series_id
                    else MeetingStatus.CANCELLED,
                    started_at=None,
                    current_phase=None,
                    current_case_number=None,
                    voice_channel_id=None,
                )
            )
            await session.commit()

    async def _set_room(self, meeting_id: int, room_id: int) -> None:
        async with self._session_factory() as session:
            await session.execute(
                update(Meeting).where(Meeting.id == meeting_id).values(voice_channel_id=room_id)
            )
            await session.commit()

    async def set_panel(self, meeting_id: int, message_id: int) -> None:
        async with self._session_factory() as session:
            await session.execute(
                update(Meeting).where(Meeting.id == meeting_id).values(panel_message_id=message_id)
            )
            await session.commit()

    # Phases -------------------------------------------------------------------------------

    async def move(
        self,
        guild: discord.Guild,
        group: Group,
        actor_id: int | None,
        choose: PositionChooser,
    ) -> PanelState | None:
        """Go to the position `choose` picks; None from it means the meeting is over."""
        template = template_of(group)
        async with self._lock(group.id):
            meeting = await self._live(group)
            current = position_of(meeting)
            try:
                target = choose(template, current)
            except PhaseError as error:
                raise UserFacingError(str(error)) from None
            if target is None:
                return None
            if target == current:
                return await self.panel_state(group)
            presenter = await self._presenter(meeting.id, target.case_number)
            failures = await self._silence.sync(guild, group, meeting, target, template, presenter)
            if failures:
                await self._silence.sync(
                    guild,
                    group,
                    meeting,
                    current,
                    template,
                    await self._presenter(meeting.id, current.case_number),
                )
                raise UserFacingError(
                    "I couldn't change the phase because Discord refused: "
                    + "; ".join(failures)
                    + f". The meeting stays in {describe_position(template, current)}."
                )
            entry = await self._record_phase(meeting, current, target, template, actor_id)
        self._schedule_cues(entry)
        return await self.panel_state(group)

    async def extend(self, group: Group, minutes: int) -> PanelState:
        if not 1 <= minutes <= MAX_EXTENSION_MINUTES:
            raise UserFacingError(f"Extend by 1 to {MAX_EXTENSION_MINUTES} minutes.")
        async with self._lock(group.id):
            meeting = await self._live(group)
            async with self._session_factory() as session:
                entry = await _open_entry(session, meeting.id)
                entry.planned_seconds += minutes * 60
                entry.warning_cue_sent_at = None
                entry.end_cue_sent_at = None
                await session.commit()
        self._schedule_cues(entry)
        state = await self.panel_state(group)
        assert state is not None
        return state

    async def _record_phase(
        self,
        meeting: Meeting,
        current: Position,
        target: Position,
        template: PhaseTemplate,
        actor_id: int | None,
    ) -> PhaseLogEntry:
        now = self._clock.now()
        async with self._session_factory() as session:
            moved = await session.execute(
                update(Meeting)
                .where(
                    Meeting.id == meeting.id,
                    Meeting.status == MeetingStatus.LIVE,
                    Meeting.current_phase == current.phase.value,
                )
                .values(current_phase=target.phase.value, current_case_number=target.case_number)
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                raise UserFacingError("Someone else moved the meeting on just now; try again.")
            previous = await _open_entry(session, meeting.id)
            previous.ended_at = now
            self._jobs.cancel(CUE_JOB, f"{previous.id}:warning")
            self._jobs.cancel(CUE_JOB, f"{previous.id}:end")
            case_id = (
                (
                    await session.execute(
                        select(Case.id).where(
                            Case.meeting_id == meeting.id, Case.case_number == target.case_number
                        )
                    )
                ).scalar_one_or_none()
                if target.case_number
                else None
            )
            entry = PhaseLogEntry(
                meeting_id=meeting.id,
                case_id=case_id,
                case_number=target.case_number,
                phase=target.phase.value,
                started_at=now,
                started_by=actor_id,
                planned_seconds=int(template.planned(target.phase).total_seconds()),
            )
            session.add(entry)
            await session.commit()
            return entry

    # The presenter ----------------------------------------------------------------------------

    async def set_presenter(
        self, guild: discord.Guild, group: Group, member_id: int, label: str | None
    ) -> tuple[Case, int]:
        """Choose who presents the current (or next) case; their offer supplies the label."""
        template = template_of(group)
        async with self._lock(group.id):
            meeting = await self._live(group)
            async with self._session_factory() as session:
                membership = await queries.membership(session, group.id, member_id)
                if membership is None or membership.status.value != "active":
                    raise UserFacingError(f"<@{member_id}> isn't a member of **{group.name}**.")
                case_number = await _case_slot(session, meeting, template)
                offer = (
                    (
                        await session.execute(
                            select(Case)
                            .where(
                                Case.group_id == group.id,
                                Case.presenter_id == member_id,
                                Case.status == CaseStatus.OFFERED,
                            )
                            .order_by(Case.offered_at)
                        )
                    )
                    .scalars()
                    .first()
                )
                if offer is None:
                    if not label:
                        raise UserFacingError(
                            f"<@{member_id}> hasn't offered a case: give a short "
                            "de-identified label with the `label` option."
                        )
                    offer = Case(
                        group_id=group.id,
                        presenter_id=member_id,
                        label=validate_label(label),
                        status=CaseStatus.OFFERED,
                        offered_at=self._clock.now(),
                    )
                    session.add(offer)
                elif label:
                    offer.label = validate_label(label)
                previous = (
                    await session.execute(
                        select(Case).where(
                            Case.meeting_id == meeting.id, Case.case_number == case_number
                        )
                    )
                ).scalar_one_or_none()
                if previous is not None and previous is not offer:
                    previous.status = CaseStatus.OFFERED
                    previous.meeting_id = None
                    previous.case_number = None
                    previous.presented_at = None
                offer.meeting_id = meeting.id
                offer.case_number = case_number
                offer.status = CaseStatus.PRESENTING
                offer.presented_at = self._clock.now()
                await session.commit()
            position = position_of(meeting)
            if position.case_number == case_number:
                failures = await self._silence.sync(
                    guild, group, meeting, position, template, member_id
                )
                if failures:
                    raise UserFacingError("Discord refused: " + "; ".join(failures))
        self._client.dispatch("case_presented", offer.id)
        return offer, case_number

    async def _presenter(self, meeting_id: int, case_number: int | None) -> int | None:
        if case_number is None:
            return None
        async with self._session_factory() as session:
            return (
                await session.execute(
                    select(Case.presenter_id).where(
                        Case.meeting_id == meeting_id, Case.case_number == case_number
                    )
                )
            ).scalar_one_or_none()

    # End --------------------------------------------------------------------------------

    async def end(self, guild: discord.Guild, group: Group) -> MeetingSummary:
        """Close the meeting: every silence lifted, the room released, the record closed."""
        async with self._lock(group.id):
            meeting = await self._live(group)
            failures = await self._silence.lift_meeting(meeting.id)
            # Closed first: members moved back to the lobby must not be brought back in.
            await self._close(meeting)
            failures += await self._rooms.release(guild, group, meeting)
        self._client.dispatch("meeting_ended", meeting.id)
        if failures:
            self.retry_reconcile(FIRST_RETRY)
        summary = await self.summary(group, meeting.id)
        return MeetingSummary(
            summary.group, summary.meeting, summary.cases, summary.rows, summary.attendees, failures
        )

    async def _close(self, meeting: Meeting) -> None:
        now = self._clock.now()
        async with self._session_factory() as session:
            stored = await session.get(Meeting, meeting.id)
            assert stored is not None
            stored.status = MeetingStatus.ENDED
            stored.ended_at = now
            entry = (
                (
                    await session.execute(
                        select(PhaseLogEntry).where(
                            PhaseLogEntry.meeting_id == meeting.id, PhaseLogEntry.ended_at.is_(None)
                        )
                    )
                )
                .scalars()
                .all()
            )
            for open_entry in entry:
                open_entry.ended_at = now
                self._jobs.cancel(CUE_JOB, f"{open_entry.id}:warning")
                self._jobs.cancel(CUE_JOB, f"{open_entry.id}:end")
            await session.execute(
                update(Attendance)
                .where(Attendance.meeting_id == meeting.id, Attendance.left_at.is_(None))
                .values(left_at=now)
            )
            await session.execute(
                update(Case)
                .where(Case.meeting_id == meeting.id, Case.status == CaseStatus.PRESENTING)
                .values(status=CaseStatus.PRESENTED)
            )
            await session.commit()

    async def summary(self, group: Group, meeting_id: int) -> MeetingSummary:
        async with self._session_factory() as session:
            meeting = await session.get(Meeting, meeting_id)
            assert meeting is not None
            cases = (
                (
                    await session.execute(
                        select(Case).where(Case.meeting_id == meeting_id).order_by(Case.case_number)
                    )
                )
                .scalars()
                .all()
            )
            entries = (
                (
                    await session.execute(
                        select(PhaseLogEntry)
                        .where(PhaseLogEntry.meeting_id == meeting_id)
                        .order_by(PhaseLogEntry.id)
                    )
                )
                .scalars()
                .all()
            )
            attendees = (
                (
                    await session.execute(
                        select(Attendance.user_id)
                        .where(Attendance.meeting_id == meeting_id)
                        .distinct()
                    )
                )
                .scalars()
                .all()
            )
        now = self._clock.now()
        records = [
            PhaseRecord(
                Phase(e.phase),
                e.case_number,
                e.started_at,
                e.ended_at or now,
                timedelta(seconds=e.planned_seconds),
            )
            for e in entries
        ]
        return MeetingSummary(
            group, meeting, cases, time_summary(records, template_of(group)), sorted(attendees), []
        )

    # Panel --------------------------------------------------------------------------------

    async def panel_state(self, group: Group) -> PanelState | None:
        async with self._session_factory() as session:
            meeting = await queries.live_meeting(session, group.id)
            if meeting is None:
                return None
            entry = await _open_entry(session, meeting.id)
        template = template_of(group)
        position = position_of(meeting)
        presenter = await self._presenter(meeting.id, position.case_number)
        after = next_position(template, position)
        return PanelState(
            group,
            meeting,
            template,
            position,
            entry,
            presenter,
            describe_position(template, after) if after else None,
        )

    # Cues -----------------------------------------------------------------------------------

    def _schedule_cues(self, entry: PhaseLogEntry) -> None:
        cues = cue_times(entry.started_at, timedelta(seconds=entry.planned_seconds))
        if cues.warning_at is not None and entry.warning_cue_sent_at is None:
            self._jobs.schedule(CUE_JOB, f"{entry.id}:warning", cues.warning_at)
        if entry.end_cue_sent_at is None:
            self._jobs.schedule(CUE_JOB, f"{entry.id}:end", cues.end_at)

    async def _on_cue(self, key: str) -> None:
        """Post a quiet cue once; a cue for a phase already over is dropped."""
        entry_id, kind = key.split(":")
        column = (
            PhaseLogEntry.warning_cue_sent_at
            if kind == "warning"
            else PhaseLogEntry.end_cue_sent_at
        )
        async with self._session_factory() as session:
            claimed = await session.execute(
                update(PhaseLogEntry)
                .where(
                    PhaseLogEntry.id == int(entry_id),
                    PhaseLogEntry.ended_at.is_(None),
                    column.is_(None),
                )
                .values({column: self._clock.now()})
            )
            await session.commit()
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return
            entry = await session.get(PhaseLogEntry, int(entry_id))
            assert entry is not None
            meeting = await session.get(Meeting, entry.meeting_id)
            group = await session.get(Group, meeting.group_id) if meeting else None
        if group is None or meeting is None:
            return
        template = template_of(group)
        title = describe_position(template, position_of(meeting))
        if kind == "warning":
            text = f"⏳ Two minutes left for **{title}**."
        elif template.auto_advance:
            text = f"⏰ Time for **{title}** is up; moving on."
        else:
            text = f"⏰ The planned time for **{title}** is up. Move on when the group is ready."
        self._client.dispatch("phase_cue", group.id, text, kind == "end" and template.auto_advance)

    # Voice and recovery -------------------------------------------------------------------

    async def on_voice_change(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        """Keep attendance, bring dropped members back in, silence late joiners if needed."""
        if member.bot or before.channel == after.channel:
            return
        guild = member.guild
        now = self._clock.now()
        async with self._session_factory() as session:
            live = (
                (
                    await session.execute(
                        select(Meeting)
                        .join(Group)
                        .where(
                            Group.server_id == guild.id,
                            Meeting.status == MeetingStatus.LIVE,
                        )
                    )
                )
                .scalars()
                .all()
            )
            rooms = {m.voice_channel_id: m for m in live}
            left = rooms.get(before.channel.id) if before.channel else None
            joined = rooms.get(after.channel.id) if after.channel else None
            if left is not None:
                await session.execute(
                    update(Attendance)
                    .where(
                        Attendance.meeting_id == left.id,
                        Attendance.user_id == member.id,
                        Attendance.left_at.is_(None),
                    )
                    .values(left_at=now)
                )
            if joined is not None and await queries.membership(session, joined.group_id, member.id):
                session.add(Attendance(meeting_id=joined.id, user_id=member.id, joined_at=now))
            await session.commit()
        if after.channel is not None and joined is None:
            lobby = await self._rooms.lobby_id(guild.id)
            if after.channel.id == lobby:
                room = await self._rooms.live_room_for_returning_member(guild.id, member.id)
                if room is not None:
                    await self._rooms.move(guild.id, member.id, room, "back to the meeting")
        if joined is not None:
            async with self._session_factory() as session:
                group = await session.get(Group, joined.group_id)
            assert group is not None
            template = template_of(group)
            if template.listening_mode:
                async with self._lock(group.id):
                    current = await self._still_live(joined.id)
                    if current is None:
                        return
                    joined = current
                    position = position_of(joined)
                    await self._silence.sync(
                        guild,
                        group,
                        joined,
                        position,
                        template,
                        await self._presenter(joined.id, position.case_number),
                    )

    async def _still_live(self, meeting_id: int) -> Meeting | None:
        """The meeting as it is now, if still live. Read under the group's lock: a phase
        change that held the lock may have committed a newer position since the caller
        read it, and acting on the older one would undo that change."""
        async with self._session_factory() as session:
            meeting = await session.get(Meeting, meeting_id)
        return meeting if meeting is not None and meeting.status == MeetingStatus.LIVE else None

    async def recover(self) -> list[str]:
        """After a start-up: lift what no meeting needs, restore what live ones need."""
        problems: list[str] = []
        async with self._session_factory() as session:
            live = (
                (await session.execute(select(Meeting).where(Meeting.status == MeetingStatus.LIVE)))
                .scalars()
                .all()
            )
            live_ids = {m.id for m in live}
            orphans = (
                (
                    await session.execute(
                        select(OverwriteChange)
                        .where(
                            OverwriteChange.restored_at.is_(None),
                            OverwriteChange.meeting_id.not_in(live_ids),
                        )
                        .order_by(OverwriteChange.id)
                    )
                )
                .scalars()
                .all()
            )
            groups = {m.id: await session.get(Group, m.group_id) for m in live}
        problems += await self._silence.lift(orphans)
        for meeting in live:
            group = groups[meeting.id]
            guild = self._client.get_guild(group.server_id) if group else None
            if group is None or guild is None:
                continue
            template = template_of(group)
            async with self._lock(group.id):
                current = await self._still_live(meeting.id)
                if current is None:
                    continue
                meeting = current
                position = position_of(meeting)
                problems += await self._silence.sync(
                    guild,
                    group,
                    meeting,
                    position,
                    template,
                    await self._presenter(meeting.id, position.case_number),
                )
            async with self._session_factory() as session:
                self._schedule_cues(await _open_entry(session, meeting.id))
            self._client.dispatch("meeting_recovered", meeting.id)
        return problems

    def retry_reconcile(self, delay: timedelta) -> None:
        """Reconcile again after `delay`; the key carries the delay so each retry can double it."""
        self._jobs.schedule(
            RECONCILE_JOB, str(int(delay.total_seconds())), self._clock.now() + delay
        )

    async def _on_reconcile(self, key: str) -> None:
        if await self.recover():
            self.retry_reconcile(min(timedelta(seconds=int(key)) * 2, LAST_RETRY))

    async def _record_present(self, guild: discord.Guild, meeting: Meeting) -> None:
        room = guild.get_channel(meeting.voice_channel_id or 0)
        if not isinstance(room, discord.VoiceChannel):
            return
        now = self._clock.now()
        async with self._session_factory() as session:
            members = {
                m.user_id for m in await queries.active_memberships(session, meeting.group_id)
            }
            for user_id in room.voice_states:
                if user_id in members:
                    session.add(Attendance(meeting_id=meeting.id, user_id=user_id, joined_at=now))
            await session.commit()

    async def _live(self, group: Group) -> Meeting:
        async with self._session_factory() as session:
            meeting = await queries.live_meeting(session, group.id)
        if meeting is None:
            raise UserFacingError(
                f"**{group.name}** has no meeting running. Start one with `/session start`."
            )
        return meeting

    async def present_members(self, guild: discord.Guild, group: Group) -> list[int]:
        meeting = await self._live(group)
        room = guild.get_channel(meeting.voice_channel_id or 0)
        return list(room.voice_states) if isinstance(room, discord.VoiceChannel) else []

    async def live_meeting(self, group: Group) -> Meeting:
        return await self._live(group)


async def _open_entry(session: AsyncSession, meeting_id: int) -> PhaseLogEntry:
    result = await session.execute(
        select(PhaseLogEntry)
        .where(PhaseLogEntry.meeting_id == meeting_id, PhaseLogEntry.ended_at.is_(None))
        .order_by(PhaseLogEntry.id.desc())
    )
    entry = result.scalars().first()
    assert entry is not None, "a live meeting always has an open phase"
    return entry


async def _scheduled_near(session: AsyncSession, group_id: int, now: datetime) -> Meeting | None:
    result = await session.execute(
        select(Meeting)
        .where(
            Meeting.group_id == group_id,
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.scheduled_start.between(now - SCHEDULED_WINDOW, now + SCHEDULED_WINDOW),
        )
        .order_by(Meeting.scheduled_start)
    )
    return result.scalars().first()


async def _case_slot(session: AsyncSession, meeting: Meeting, template: PhaseTemplate) -> int:
    """The case being worked on, or the first case without a presenter."""
    if meeting.current_case_number is not None:
        return meeting.current_case_number
    taken = set(
        (await session.execute(select(Case.case_number).where(Case.meeting_id == meeting.id)))
        .scalars()
        .all()
    )
    for number in range(1, template.cases + 1):
        if number not in taken:
            return number
    raise UserFacingError("Every case of this meeting already has a presenter.")
