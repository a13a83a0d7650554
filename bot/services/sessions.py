"""The live meeting: start, phases run by leaders, the presenter, end, recovery.

The database holds where each meeting stands. The presenter's silence is kept by
bot/services/silence.py (`SilenceKeeper.sync` derives from the stored position which
overwrites must be in force), so the same call serves a phase change, a presenter
joining late, and recovery after a crash; this module keeps the meeting's use cases.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import discord
from sqlalchemy import (
    BindParameter,
    Select,
    and_,
    bindparam,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import queries
from bot.db.engine import database_unavailable
from bot.db.models import (
    Attendance,
    Case,
    CaseStatus,
    FrameEvent,
    FrameEventKind,
    Group,
    Meeting,
    MeetingStatus,
    Membership,
    MembershipStatus,
    OverwriteChange,
    PhaseLogEntry,
    RoundTurn,
)
from bot.domain.frame import FrameStatus
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
from bot.errors import HandledElsewhere, MissingBotPermission, UserFacingError
from bot.ratelimit import Priority
from bot.scheduler import JobScheduler
from bot.services.cases import validate_label
from bot.services.rooms import RoomService
from bot.services.silence import Restored, SilenceKeeper, SilenceTarget, touched_by_sync

log = logging.getLogger(__name__)
T = TypeVar("T")

CUE_JOB = "phase_cue"
RECONCILE_JOB = "reconcile"
UNDO_START_JOB = "undo_start"
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
    # As read with the change (None: not read, the panel reads them): saves the panel
    # its own reads after a phase change. A move changes neither.
    frame: FrameStatus | None = None
    has_round: bool | None = None

    @property
    def version(self) -> tuple[int, int, int]:
        """Orders the states of one group's panel: a later meeting, a later phase, more
        time. A panel edit that arrives after a newer one must not undo it."""
        return (self.meeting.id, self.entry.id, self.entry.planned_seconds)


@dataclass(frozen=True)
class MeetingSummary:
    group: Group
    meeting: Meeting
    cases: Sequence[Case]
    rows: Sequence[TimeRow]
    attendees: Sequence[int]
    failures: Sequence[str]
    # Members who missed this many meetings in a row (filled by the attendance feature).
    missed_in_a_row: Mapping[int, int] = field(default_factory=dict)


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
        self._locks = GroupLocks()
        jobs.register(CUE_JOB, self._on_cue, Priority.PEOPLE)
        jobs.register(RECONCILE_JOB, self._on_reconcile, Priority.PEOPLE)
        jobs.register(UNDO_START_JOB, self._on_undo_start, Priority.PEOPLE)

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
        async with self._locks.hold(group.id), self._session_factory() as session:
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
            try:
                await session.commit()
            except Exception as error:
                # The commit may have gone through before the connection was lost.
                self._undo_start_later(meeting, error)
                raise
        try:
            warnings = await self._fill_room(guild, group, meeting)
        except (UserFacingError, discord.HTTPException):
            await self._abandon(guild, group, meeting)
            raise
        except Exception as error:
            self._undo_start_later(meeting, error)
            raise
        self._schedule_cues(entry)
        self._client.dispatch("meeting_started", meeting.id)
        return meeting, warnings

    async def _fill_room(self, guild: discord.Guild, group: Group, meeting: Meeting) -> list[str]:
        """Claim and open the room, bring the lobby in; returns what could not be done."""
        room_id = await self._rooms.claim(group, meeting.id)
        await self._set_room(meeting.id, room_id)
        meeting.voice_channel_id = room_id
        await self._rooms.open(guild, group, meeting.id, room_id)
        warnings: list[str] = []
        try:
            await self._rooms.gather(guild, group, room_id)
        except MissingBotPermission as error:
            warnings.append(f"I couldn't bring members in from the lobby. {error.message}")
        await self._record_present(guild, meeting)
        return warnings

    def _undo_start_later(self, meeting: Meeting, error: Exception) -> None:
        """A start cut short by the database going away can't be undone now, and the leader
        is told nothing changed: a job (retried until the database is back) undoes it."""
        if database_unavailable(error) and meeting.id is not None:
            assert meeting.started_at is not None
            key = f"{meeting.id}:{meeting.started_at.isoformat()}"
            self._jobs.schedule(UNDO_START_JOB, key, self._clock.now())

    async def _on_undo_start(self, key: str) -> None:
        """Roll back a half-started meeting, if it is still the one that start left live."""
        meeting_id, started_at = key.split(":", 1)
        async with self._session_factory() as session:
            meeting = await session.get(Meeting, int(meeting_id))
            group = await session.get(Group, meeting.group_id) if meeting else None
        if (
            meeting is None
            or group is None
            or meeting.status != MeetingStatus.LIVE
            or meeting.started_at is None
            or meeting.started_at.isoformat() != started_at
        ):
            return
        guild = self._client.get_guild(group.server_id)
        if guild is None:
            return
        async with self._locks.hold(group.id):
            log.info("rolling back meeting %s, half-started without the database", meeting.id)
            await self._abandon(guild, group, meeting)

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
        ref: GroupRef,
        actor_id: int | None,
        choose: PositionChooser,
        action: str = "move the meeting on",
        acknowledge: Awaitable[bool] | None = None,
    ) -> PanelState | None:
        """Go to the position `choose` picks; None from it means the meeting is over.

        `acknowledge` is the interaction's acknowledgement, awaited while the change is
        read (both wait on a round trip): False, another process has it, and this raises
        `HandledElsewhere` having changed nothing.

        Lean by design (issue 13): one transaction reads the group, the live meeting, its
        open phase, its cases, whether the actor runs it and the overwrites in force, and
        records the silences the new position needs; Discord is then asked; a second
        transaction records the result: the silences lifted, the new position and its
        phase entry. Nothing is read twice. A crash between the two leaves the old
        position stored, which the next reconciliation makes Discord show again.
        The group's lock is held until the result is recorded: a change (or a voice
        join's sync) that came meanwhile would otherwise start from the old position
        while Discord's answers are slow (a move bucket refilling takes up to 10 s).
        `actor_id` None is the bot itself (a phase that ran out). Raises `NoSuchGroup`.
        """
        read_at = self._locks.now()
        async with self._session_factory() as session:
            read = await _alongside(acknowledge, _read_for_change(session, ref, actor_id))
            async with self._locks.hold(read.group.id, read_at) as stale:
                if stale:
                    # A new transaction, and the objects read before forgotten: the
                    # session's identity map would otherwise hand the old ones back.
                    await session.rollback()
                    read = await _read_for_change(session, ref, actor_id)
                group, meeting = read.group, read.meeting
                if not read.runs:
                    raise UserFacingError(
                        f"Only the leaders of **{group.name}** (or their deputy) can {action}."
                    )
                if meeting is None or read.entry is None:
                    raise _no_meeting(group)
                template = template_of(group)
                current = position_of(meeting)
                try:
                    target = choose(template, current)
                except PhaseError as error:
                    raise UserFacingError(str(error)) from None
                if target is None:
                    return None
                if target == current:
                    return _panel(
                        group, meeting, template, read.entry, read.presenter(current), read
                    )
                presenter = read.presenter(target)
                # Leaders and the check-in round matter only to the silences of two
                # phases: read for those alone.
                in_round = target.phase is Phase.CHECK_IN
                leaders = (
                    await queries.leader_ids(session, group.id)
                    if in_round or (template.listening_mode and target.phase is Phase.PRESENTATION)
                    else []
                )
                turns, one_voice = (
                    await queries.round_turns(session, meeting.id) if in_round else ([], False)
                )
                at = SilenceTarget(
                    guild, group, meeting, target, template, presenter, turns, one_voice
                )
                plan = await self._silence.plan(session, at, leaders, read.open_changes)
                await session.commit()
                failures, restored = await self._silence.carry_out(guild, plan)
                if failures:
                    async with self._session_factory() as session:
                        await self._silence.mark_restored(session, restored)
                        await session.commit()
                    if await self._silence.sync(
                        guild, group, meeting, current, template, read.presenter(current)
                    ):
                        # Half of the change is still on Discord: a reconciliation undoes it.
                        self.retry_reconcile(FIRST_RETRY, guild.id)
                    raise UserFacingError(
                        "I couldn't change the phase because Discord refused: "
                        + "; ".join(failures)
                        + f". The meeting stays in {describe_position(template, current)}."
                    )
                entry = await self._record_phase(
                    meeting, read, current, target, template, actor_id, restored
                )
                if entry is None:
                    # Another process moved it between the two transactions: Discord now
                    # shows this change, the database that one; a reconciliation agrees them.
                    self.retry_reconcile(FIRST_RETRY, guild.id)
                    raise UserFacingError("Someone else moved the meeting on just now; try again.")
                self._jobs.cancel(CUE_JOB, f"{read.entry.id}:warning")
                self._jobs.cancel(CUE_JOB, f"{read.entry.id}:end")
                self._schedule_cues(entry)
        return _panel(group, meeting, template, entry, presenter, read)

    async def extend(self, group: Group, minutes: int) -> PanelState:
        if not 1 <= minutes <= MAX_EXTENSION_MINUTES:
            raise UserFacingError(f"Extend by 1 to {MAX_EXTENSION_MINUTES} minutes.")
        async with self._locks.hold(group.id):
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
        read: ChangeRead,
        current: Position,
        target: Position,
        template: PhaseTemplate,
        actor_id: int | None,
        restored: Sequence[Restored],
    ) -> PhaseLogEntry | None:
        """The result, in one transaction: the silences lifted on the way, the new
        position and its phase entry; None (only the lifts recorded) if the meeting
        moved meanwhile."""
        assert read.entry is not None
        now = self._clock.now()
        case = read.cases.get(target.case_number) if target.case_number else None
        opened = {
            "meeting_id": meeting.id,
            "case_id": case.id if case else None,
            "case_number": target.case_number,
            "phase": target.phase.value,
            "started_at": now,
            "started_by": actor_id,
            "planned_seconds": int(template.planned(target.phase).total_seconds()),
        }
        async with self._session_factory() as session:
            await self._silence.mark_restored(session, restored)
            moved = await session.execute(
                _MOVE_MEETING,
                {
                    "meeting": meeting.id,
                    "from_phase": current.phase.value,
                    "to_phase": target.phase.value,
                    "to_case": target.case_number,
                },
            )
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                await session.commit()
                return None
            await session.execute(_CLOSE_ENTRY, {"entry": read.entry.id, "at": now})
            entry = PhaseLogEntry(
                id=(await session.execute(_OPEN_ENTRY, opened)).scalar_one(), **opened
            )
            await session.commit()
        meeting.current_phase = target.phase.value
        meeting.current_case_number = target.case_number
        read.entry.ended_at = now
        return entry

    # The presenter ----------------------------------------------------------------------------

    async def set_presenter(
        self, guild: discord.Guild, group: Group, member_id: int, label: str | None
    ) -> tuple[Case, int]:
        """Choose who presents the current (or next) case; their offer supplies the label."""
        template = template_of(group)
        async with self._locks.hold(group.id):
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
                    # The case stays chosen: a reconciliation completes the silence.
                    self.retry_reconcile(FIRST_RETRY, guild.id)
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
        async with self._locks.hold(group.id):
            meeting = await self._live(group)
            failures = await self._silence.lift_meeting(meeting.id)
            # Closed first: members moved back to the lobby must not be brought back in.
            await self._close(meeting)
            failures += await self._rooms.release(guild, group, meeting)
        self._client.dispatch("meeting_ended", meeting.id)
        if failures:
            self.retry_reconcile(FIRST_RETRY, guild.id)
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
        position = position_of(meeting)
        presenter = await self._presenter(meeting.id, position.case_number)
        return _panel(group, meeting, template_of(group), entry, presenter)

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
                    try:
                        await self._rooms.move(guild.id, member.id, room, "back to the meeting")
                    except discord.HTTPException as error:
                        # Best effort: they can join the room themselves.
                        log.info("could not bring a member back in: HTTP %s", error.status)
        if joined is not None:
            async with self._session_factory() as session:
                group = await session.get(Group, joined.group_id)
            assert group is not None
            if template_of(group).listening_mode:
                async with self._locks.hold(group.id):
                    current = await self._still_live(joined.id)
                    if current is None:
                        return
                    if await self._sync_stored(guild, group, current):
                        self.retry_reconcile(FIRST_RETRY, guild.id)

    async def _still_live(self, meeting_id: int) -> Meeting | None:
        """The meeting as it is now, if still live. Read under the group's lock: a phase
        change that held the lock may have committed a newer position since the caller
        read it, and acting on the older one would undo that change."""
        async with self._session_factory() as session:
            meeting = await session.get(Meeting, meeting_id)
        return meeting if meeting is not None and meeting.status == MeetingStatus.LIVE else None

    async def recover(self, server_id: int | None = None) -> list[str]:
        """After a start-up, or when one server (`server_id`) comes back from an outage:
        lift what no meeting needs, restore what live ones need. A server Discord has
        not sent yet (or holds in an outage) is left for its own `guild_available`."""
        problems: list[str] = []
        shards = self._jobs.shards
        async with self._session_factory() as session:
            live = await queries.live_meetings(session, shards, server_id)
            orphans = await queries.changes_in_force_outside(
                session, {meeting.id for meeting, _ in live}, shards, server_id
            )
        problems += await self._silence.lift(orphans)
        for meeting, group in live:
            guild = self._client.get_guild(group.server_id)
            if guild is None or guild.unavailable:
                continue
            async with self._locks.hold(group.id):
                current = await self._still_live(meeting.id)
                if current is None:
                    continue
                meeting = current
                problems += await self._sync_stored(guild, group, meeting, reassert=True)
            await self._record_present(guild, meeting)
            async with self._session_factory() as session:
                self._schedule_cues(await _open_entry(session, meeting.id))
            self._client.dispatch("meeting_recovered", meeting.id)
        return problems

    async def resync_silence(self, guild: discord.Guild, group: Group) -> list[str]:
        """Make Discord's silences what the live meeting's stored state asks for now (the
        check-in round changes who may speak without a phase change)."""
        async with self._locks.hold(group.id):
            failures = await self._sync_stored(guild, group, await self._live(group))
        if failures:
            self.retry_reconcile(FIRST_RETRY, guild.id)
        return failures

    async def _sync_stored(
        self, guild: discord.Guild, group: Group, meeting: Meeting, *, reassert: bool = False
    ) -> list[str]:
        """Make Discord's silences those of the meeting's stored position (read under the
        group's lock); returns what failed."""
        position = position_of(meeting)
        return await self._silence.sync(
            guild,
            group,
            meeting,
            position,
            template_of(group),
            await self._presenter(meeting.id, position.case_number),
            reassert=reassert,
        )

    def retry_reconcile(self, delay: timedelta, server_id: int | None = None) -> None:
        """Reconcile again after `delay`: the server a failed change was in, or every
        server (None, after a reconnection). One server's failure must not re-assert every
        live meeting of the process (each a move and a panel edit) in the middle of a
        national burst. The key carries both, so each retry can double its delay."""
        self._jobs.schedule(
            RECONCILE_JOB,
            f"{server_id or 0}:{int(delay.total_seconds())}",
            self._clock.now() + delay,
        )

    async def _on_reconcile(self, key: str) -> None:
        server, seconds = (int(part) for part in key.split(":"))
        if await self.recover(server or None):
            self.retry_reconcile(min(timedelta(seconds=seconds) * 2, LAST_RETRY), server or None)

    async def _record_present(self, guild: discord.Guild, meeting: Meeting) -> None:
        """Make the open attendance stretches match who is in the room now: at the start,
        and after a restart, when joins and leaves while the bot was away were not seen
        (those still in the room keep their stretch, so no minutes are lost)."""
        room = guild.get_channel(meeting.voice_channel_id or 0)
        if not isinstance(room, discord.VoiceChannel):
            return
        now = self._clock.now()
        async with self._session_factory() as session:
            members = {
                m.user_id for m in await queries.active_memberships(session, meeting.group_id)
            }
            in_room = members & set(room.voice_states)
            open_rows = (
                (
                    await session.execute(
                        select(Attendance).where(
                            Attendance.meeting_id == meeting.id, Attendance.left_at.is_(None)
                        )
                    )
                )
                .scalars()
                .all()
            )
            for row in open_rows:
                if row.user_id not in in_room:
                    row.left_at = now
            for user_id in in_room - {row.user_id for row in open_rows}:
                session.add(Attendance(meeting_id=meeting.id, user_id=user_id, joined_at=now))
            await session.commit()

    async def _live(self, group: Group) -> Meeting:
        async with self._session_factory() as session:
            meeting = await queries.live_meeting(session, group.id)
        if meeting is None:
            raise _no_meeting(group)
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


def _no_meeting(group: Group) -> UserFacingError:
    return UserFacingError(
        f"**{group.name}** has no meeting running. Start one with `/session start`."
    )


def _panel(
    group: Group,
    meeting: Meeting,
    template: PhaseTemplate,
    entry: PhaseLogEntry,
    presenter_id: int | None,
    read: ChangeRead | None = None,
) -> PanelState:
    position = position_of(meeting)
    after = next_position(template, position)
    return PanelState(
        group,
        meeting,
        template,
        position,
        entry,
        presenter_id,
        describe_position(template, after) if after else None,
        read.frame if read else None,
        read.has_round if read else None,
    )


class NoSuchGroup(UserFacingError):
    """No active group matched; the caller knows how to say which group it meant."""

    def __init__(self) -> None:
        super().__init__("This meeting's group no longer exists.")


@dataclass(frozen=True)
class GroupRef:
    """Which group a phase change is for: by id (a panel button, a cue) or by the
    channel a command was run in (with its category and forum)."""

    server_id: int
    group_id: int | None = None
    channel_ids: tuple[int, ...] = ()

    def values(self) -> dict[str, object]:
        """The bound values of `_change_statement`'s group condition for this reference."""
        if self.group_id is not None:
            return {"group_id": self.group_id}
        return queries.owning_values(self.server_id, self.channel_ids)


@dataclass(frozen=True)
class ChangeRead:
    """Everything a phase change needs, from one statement."""

    group: Group
    meeting: Meeting | None
    entry: PhaseLogEntry | None
    cases: dict[int, Case]
    runs: bool
    frame: FrameStatus
    has_round: bool
    # As SilenceKeeper.open_changes reads them, oldest first.
    open_changes: list[OverwriteChange]

    def presenter(self, position: Position) -> int | None:
        case = self.cases.get(position.case_number) if position.case_number else None
        return case.presenter_id if case else None


# The result's statements, built once (building them per change cost as much as running
# them: issue 13); the identity map is not consulted, the caller updates its objects.
_MOVE_MEETING = (
    update(Meeting)
    .where(
        Meeting.id == bindparam("meeting"),
        Meeting.status == MeetingStatus.LIVE,
        Meeting.current_phase == bindparam("from_phase"),
    )
    .values(current_phase=bindparam("to_phase"), current_case_number=bindparam("to_case"))
    .execution_options(synchronize_session=False)
)
_CLOSE_ENTRY = (
    update(PhaseLogEntry)
    .where(PhaseLogEntry.id == bindparam("entry"))
    .values(ended_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)
_OPEN_ENTRY = insert(PhaseLogEntry.__table__).returning(  # type: ignore[arg-type]
    PhaseLogEntry.__table__.c.id
)


async def _alongside(acknowledge: Awaitable[bool] | None, read: Awaitable[T]) -> T:
    """`read`, run while the acknowledgement is in flight; both have finished when this
    returns or raises, so an error is told on an acknowledged interaction."""
    if acknowledge is None:
        return await read
    acknowledged, result = await asyncio.gather(acknowledge, read, return_exceptions=True)
    if isinstance(acknowledged, BaseException):
        raise acknowledged
    if not acknowledged:
        raise HandledElsewhere()
    if isinstance(result, BaseException):
        raise result
    return result


@functools.cache
def _change_statement(by_group_id: bool, by_actor: bool) -> Select[Any]:
    """The statement of `_read_for_change`, built once per shape: building it cost more
    than running it (issue 13). Values are bound at each execution (`GroupRef.values`,
    `actor_id`)."""
    actor_id: BindParameter[int] = bindparam("actor_id")
    runs = (
        or_(
            select(Membership.id)
            .where(
                Membership.group_id == Group.id,
                Membership.user_id == actor_id,
                Membership.status == MembershipStatus.ACTIVE,
                Membership.role.in_(queries.LEADER_ROLES),
            )
            .exists(),
            select(FrameEvent.id)
            .where(
                FrameEvent.meeting_id == Meeting.id,
                FrameEvent.user_id == actor_id,
                FrameEvent.kind == FrameEventKind.STAND_IN,
                FrameEvent.ended_at.is_(None),
            )
            .exists(),
        )
        if by_actor
        else literal(True)
    )
    open_event = and_(FrameEvent.meeting_id == Meeting.id, FrameEvent.ended_at.is_(None))
    stand_in = (
        select(FrameEvent.user_id)
        .where(open_event, FrameEvent.kind == FrameEventKind.STAND_IN)
        .order_by(FrameEvent.id)
        .limit(1)
        .scalar_subquery()
    )
    paused_since = (
        select(func.min(FrameEvent.started_at))
        .where(open_event, FrameEvent.kind == FrameEventKind.PAUSE)
        .scalar_subquery()
    )
    has_round = select(RoundTurn.id).where(RoundTurn.meeting_id == Meeting.id).exists()
    return (
        select(
            Group,
            Meeting,
            PhaseLogEntry,
            Case,
            OverwriteChange,
            runs.label("runs"),
            stand_in.label("stand_in"),
            paused_since.label("paused_since"),
            has_round.label("has_round"),
        )
        .outerjoin(
            Meeting, and_(Meeting.group_id == Group.id, Meeting.status == MeetingStatus.LIVE)
        )
        .outerjoin(
            PhaseLogEntry,
            and_(PhaseLogEntry.meeting_id == Meeting.id, PhaseLogEntry.ended_at.is_(None)),
        )
        .outerjoin(Case, Case.meeting_id == Meeting.id)
        .outerjoin(
            OverwriteChange,
            touched_by_sync(Meeting.id, [Meeting.voice_channel_id, Group.text_channel_id]),
        )
        .where(
            Group.id == bindparam("group_id")
            if by_group_id
            else queries.OWNS_CHANNEL
        )
        .order_by(Group.id, PhaseLogEntry.id.desc(), OverwriteChange.id)
    )


async def _read_for_change(
    session: AsyncSession, ref: GroupRef, actor_id: int | None
) -> ChangeRead:
    """The group, its live meeting, the open phase, the meeting's cases (one row each),
    whether the actor runs the meeting (a leader, or the deputy standing in for one:
    access.require_runner), what the panel shows of the frame and the check-in round,
    and the overwrite changes in force that the change may touch, in one statement (a
    row per case and change: a handful)."""
    statement = _change_statement(ref.group_id is not None, actor_id is not None)
    values = ref.values() | ({"actor_id": actor_id} if actor_id is not None else {})
    rows = (await session.execute(statement, values)).all()
    if not rows:
        raise NoSuchGroup()
    first = rows[0]
    mine = [row for row in rows if row.Group is first.Group]
    return ChangeRead(
        first.Group,
        first.Meeting,
        first.PhaseLogEntry,
        {row.Case.case_number: row.Case for row in mine if row.Case is not None},
        bool(first.runs),
        FrameStatus(first.stand_in, first.paused_since),
        bool(first.has_round),
        sorted(
            {row.OverwriteChange for row in mine if row.OverwriteChange is not None},
            key=lambda change: change.id,
        ),
    )


class GroupLocks:
    """One lock per group, and when each was last taken or given back: a read made before
    the lock was taken can tell whether another holder may have changed it since."""

    def __init__(self) -> None:
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._ticks = 0
        self._touched: dict[int, int] = {}

    def now(self) -> int:
        return self._ticks

    @asynccontextmanager
    async def hold(self, group_id: int, read_at: int | None = None) -> AsyncIterator[bool]:
        """Hold the group's lock; yields whether it changed hands since `read_at`."""
        async with self._locks[group_id]:
            stale = read_at is not None and self._touched.get(group_id, -1) > read_at
            self._touch(group_id)
            try:
                yield stale
            finally:
                self._touch(group_id)

    def _touch(self, group_id: int) -> None:
        self._ticks += 1
        self._touched[group_id] = self._ticks
