"""Attendance: who was in the meeting's room and for how long, corrections, statements.

The stretches themselves are recorded by bot/services/sessions.py (joins and leaves,
the room's occupants at start and after a restart); this module reads them with the
group's settings, RSVPs and leaders' corrections, and keeps statement codes honest:
`verify` recomputes a statement from today's records, so a correction or an erasure
since it was issued makes its code fail rather than vouch for figures that changed.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import queries
from bot.db.models import (
    Attendance,
    AttendanceCorrection,
    AttendanceSecret,
    AttendanceStatement,
    Group,
    Meeting,
    MeetingStatus,
    MembershipStatus,
    Rsvp,
    RsvpAnswer,
)
from bot.domain.attendance import (
    MISSED_IN_A_ROW,
    Assessment,
    AttendanceError,
    Scheme,
    Statement,
    StatementLine,
    Status,
    assess,
    check_period,
    missed_in_a_row,
    normalise_code,
    parse_scheme,
    verification_code,
)
from bot.domain.group_settings import GroupSettings
from bot.domain.input_checks import text_refusal
from bot.errors import UserFacingError

MAX_REASON = 100
# Short enough to fit on one line of the PDF, where `verify` reads it back.
MAX_NAME = 60
# How far back `/attendance me` looks when no period is given.
DEFAULT_PERIOD = timedelta(days=365)
# Meetings looked at for the leaders' "missed in a row" nudge.
STREAK_WINDOW = 12


@dataclass(frozen=True)
class MeetingAttendance:
    """One meeting: each member's assessment, and the corrections' reasons."""

    meeting: Meeting
    day: date
    start: datetime
    end: datetime
    rows: dict[int, Assessment]
    reasons: dict[int, str]


@dataclass(frozen=True)
class IssuedStatement:
    statement: Statement
    code: str
    leader_ids: list[int]


def scheme_of(group: Group) -> Scheme:
    """The group's credit scheme; a stored text that no longer parses falls back to hours."""
    try:
        return parse_scheme(GroupSettings.from_dict(group.settings).credit_scheme)
    except AttendanceError:
        return parse_scheme("hours attended")


def local_day(group: Group, moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(group.timezone)).date()


class AttendanceService:
    """Use cases of attendance for leaders, members and whoever checks a statement."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock

    def today(self, group: Group) -> date:
        return local_day(group, self._clock.now())

    def _check_period(self, group: Group, first: date, last: date) -> None:
        try:
            check_period(first, last, self.today(group))
        except AttendanceError as error:
            raise UserFacingError(str(error)) from None

    # Reading the records --------------------------------------------------------------------

    async def _meetings(
        self, session: AsyncSession, group: Group, first: date, last: date, *, live: bool = False
    ) -> list[Meeting]:
        """Meetings of the group that started between two local days, oldest first."""
        zone = ZoneInfo(group.timezone)
        begin = datetime.combine(first, time(0), tzinfo=zone)
        finish = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone)
        statuses = [MeetingStatus.ENDED, *([MeetingStatus.LIVE] if live else [])]
        return list(
            (
                await session.execute(
                    select(Meeting)
                    .where(
                        Meeting.group_id == group.id,
                        Meeting.status.in_(statuses),
                        Meeting.started_at.is_not(None),
                        Meeting.started_at >= begin,
                        Meeting.started_at < finish,
                    )
                    .order_by(Meeting.started_at)
                )
            )
            .scalars()
            .all()
        )

    async def _assess(
        self,
        session: AsyncSession,
        group: Group,
        meetings: Sequence[Meeting],
        members: Sequence[int] | None = None,
    ) -> list[MeetingAttendance]:
        """Each meeting's assessment of `members` (default: every active member and anyone
        recorded in it)."""
        ids = [m.id for m in meetings]
        stretches: dict[tuple[int, int], list[tuple[datetime, datetime | None]]] = defaultdict(
            list
        )
        for row in (
            (await session.execute(select(Attendance).where(Attendance.meeting_id.in_(ids))))
            .scalars()
            .all()
        ):
            stretches[row.meeting_id, row.user_id].append((row.joined_at, row.left_at))
        corrections = {
            (c.meeting_id, c.user_id): c
            for c in (
                await session.execute(
                    select(AttendanceCorrection).where(AttendanceCorrection.meeting_id.in_(ids))
                )
            )
            .scalars()
            .all()
        }
        apologies: set[tuple[int, int]] = set(
            (
                await session.execute(
                    select(Rsvp.meeting_id, Rsvp.user_id).where(
                        Rsvp.meeting_id.in_(ids), Rsvp.answer == RsvpAnswer.APOLOGIES
                    )
                )
            )
            .all()
        )
        if members is None:
            active = [m.user_id for m in await queries.active_memberships(session, group.id)]
            recorded = {user for _, user in stretches if user > 0}
            members = [*active, *sorted(recorded - set(active))]
        share = GroupSettings.from_dict(group.settings).attendance_share_percent
        now = self._clock.now()
        result = []
        for meeting in meetings:
            assert meeting.started_at is not None
            start, end = meeting.started_at, meeting.ended_at or now
            rows = {}
            for user_id in members:
                correction = corrections.get((meeting.id, user_id))
                rows[user_id] = assess(
                    stretches.get((meeting.id, user_id), []),
                    start,
                    end,
                    share_percent=share,
                    apologised=(meeting.id, user_id) in apologies,
                    corrected_minutes=correction.minutes if correction else None,
                )
            reasons = {
                user: c.reason for (meeting_id, user), c in corrections.items()
                if meeting_id == meeting.id
            }
            result.append(
                MeetingAttendance(meeting, local_day(group, start), start, end, rows, reasons)
            )
        return result

    async def _one_meeting(self, session: AsyncSession, group: Group, day: date | None) -> Meeting:
        """The meeting that started on `day` (the latest one if no day is given)."""
        if day is None:
            meeting = (
                await session.execute(
                    select(Meeting)
                    .where(
                        Meeting.group_id == group.id,
                        Meeting.status.in_((MeetingStatus.ENDED, MeetingStatus.LIVE)),
                        Meeting.started_at.is_not(None),
                    )
                    .order_by(Meeting.started_at.desc())
                    .limit(1)
                )
            ).scalar_one_or_none()
            if meeting is None:
                raise UserFacingError(f"**{group.name}** has not met yet: no attendance so far.")
            return meeting
        if day > self.today(group):
            raise UserFacingError(f"{day.isoformat()} is still to come: no attendance yet.")
        started = await self._meetings(session, group, day, day, live=True)
        if started:
            return started[-1]
        raise UserFacingError(
            f"No meeting of **{group.name}** started on {day.isoformat()} (a meeting that "
            "never started has no attendance). `/attendance meeting` without a date shows "
            "the latest."
        )

    async def meeting(self, group: Group, day: date | None) -> MeetingAttendance:
        async with self._session_factory() as session:
            meeting = await self._one_meeting(session, group, day)
            return (await self._assess(session, group, [meeting]))[0]

    async def grid(self, group: Group, first: date, last: date) -> list[MeetingAttendance]:
        """Every member at every meeting of a period, for the leaders' chart and CSV."""
        self._check_period(group, first, last)
        async with self._session_factory() as session:
            meetings = await self._meetings(session, group, first, last)
            if not meetings:
                raise UserFacingError(
                    f"**{group.name}** held no meeting from {first.isoformat()} to "
                    f"{last.isoformat()}."
                )
            return await self._assess(session, group, meetings)

    async def member_record(
        self, group: Group, user_id: int, first: date | None = None, last: date | None = None
    ) -> list[MeetingAttendance]:
        """One member's meetings of a period (the last twelve months by default)."""
        last = last or self.today(group)
        first = first or last - DEFAULT_PERIOD
        self._check_period(group, first, last)
        async with self._session_factory() as session:
            meetings = await self._meetings(session, group, first, last)
            record = await self._assess(session, group, meetings, [user_id])
        if not any(m.rows[user_id].minutes for m in record):
            raise UserFacingError(
                f"You have no recorded attendance at **{group.name}** from {first.isoformat()} "
                f"to {last.isoformat()}. (Records erased with `/privacy delete` are no longer "
                "yours.)"
            )
        return record

    async def missed_streaks(self, group: Group) -> dict[int, int]:
        """Active members who missed the latest meetings in a row, at least MISSED_IN_A_ROW."""
        async with self._session_factory() as session:
            meetings = list(
                (
                    await session.execute(
                        select(Meeting)
                        .where(
                            Meeting.group_id == group.id,
                            Meeting.status == MeetingStatus.ENDED,
                            Meeting.started_at.is_not(None),
                        )
                        .order_by(Meeting.started_at.desc())
                        .limit(STREAK_WINDOW)
                    )
                )
                .scalars()
                .all()
            )
            members = await queries.active_memberships(session, group.id)
            record = await self._assess(session, group, meetings, [m.user_id for m in members])
        streaks = {}
        for membership in members:
            joined = membership.joined_at or membership.invited_at
            statuses = [
                m.rows[membership.user_id].status for m in record if m.start >= joined
            ]
            count = missed_in_a_row(statuses)
            if count >= MISSED_IN_A_ROW:
                streaks[membership.user_id] = count
        return streaks

    # Leaders' changes --------------------------------------------------------------------------

    async def correct(
        self,
        group: Group,
        leader_id: int,
        member_id: int,
        day: date | None,
        minutes: int,
        reason: str,
    ) -> MeetingAttendance:
        """Replace a member's counted minutes at a meeting; the measured figure stays."""
        refusal = text_refusal("reason", reason, MAX_REASON)
        if refusal or not reason.strip():
            raise UserFacingError(refusal or "Give a reason, e.g. `joined by phone`.")
        async with self._session_factory() as session:
            membership = await queries.membership(session, group.id, member_id)
            if membership is None or membership.status not in (
                MembershipStatus.ACTIVE,
                MembershipStatus.REMOVED,
            ):
                raise UserFacingError(f"<@{member_id}> isn't a member of **{group.name}**.")
            meeting = await self._one_meeting(session, group, day)
            assert meeting.started_at is not None
            length = int(((meeting.ended_at or self._clock.now()) - meeting.started_at)
                         .total_seconds()) // 60
            if not 0 <= minutes <= length:
                raise UserFacingError(
                    f"That meeting lasted {length} minutes: give between 0 and {length}."
                )
            stored = (
                await session.execute(
                    select(AttendanceCorrection).where(
                        AttendanceCorrection.meeting_id == meeting.id,
                        AttendanceCorrection.user_id == member_id,
                    )
                )
            ).scalar_one_or_none()
            if stored is None:
                stored = AttendanceCorrection(meeting_id=meeting.id, user_id=member_id)
                session.add(stored)
            stored.minutes = minutes
            stored.reason = reason.strip()
            stored.corrected_by = leader_id
            stored.corrected_at = self._clock.now()
            await session.commit()
            return (await self._assess(session, group, [meeting], [member_id]))[0]

    # Statements ------------------------------------------------------------------------------

    async def _statement(
        self,
        session: AsyncSession,
        group: Group,
        user_id: int,
        name: str,
        first: date,
        last: date,
    ) -> Statement:
        meetings = await self._meetings(session, group, first, last)
        record = await self._assess(session, group, meetings, [user_id])
        lines = tuple(
            StatementLine(m.day, a.minutes, a.status, a.corrected)
            for m in record
            for a in [m.rows[user_id]]
        )
        return Statement(name, group.name, first, last, lines, scheme_of(group))

    async def issue_statement(
        self, group: Group, user_id: int, name: str, first: date, last: date
    ) -> IssuedStatement:
        """The member's statement for a period, with its code, kept so it can be verified."""
        cleaned = " ".join(name.split())
        refusal = text_refusal("name", cleaned, MAX_NAME)
        if refusal or not cleaned:
            raise UserFacingError(refusal or "Give the name to print on your statement.")
        self._check_period(group, first, last)
        secret = await self._secret(group.server_id)
        async with self._session_factory() as session:
            membership = await queries.membership(session, group.id, user_id)
            if membership is None:
                raise UserFacingError(f"You are not a member of **{group.name}**.")
            statement = await self._statement(session, group, user_id, cleaned, first, last)
            if not any(line.minutes for line in statement.lines):
                raise UserFacingError(
                    f"You have no recorded attendance at **{group.name}** from "
                    f"{first.isoformat()} to {last.isoformat()}, so there is nothing to "
                    "certify. (Records erased with `/privacy delete` are no longer yours.)"
                )
            code = verification_code(secret, statement)
            leaders = await queries.leader_ids(session, group.id)
            known = (
                await session.execute(
                    select(AttendanceStatement.id).where(AttendanceStatement.code == code)
                )
            ).scalar_one_or_none()
            if known is None:
                session.add(
                    AttendanceStatement(
                        group_id=group.id,
                        user_id=user_id,
                        display_name=cleaned,
                        first_day=first,
                        last_day=last,
                        code=code,
                        issued_at=self._clock.now(),
                    )
                )
                try:
                    await session.commit()
                except IntegrityError:  # the same statement, asked twice at once
                    await session.rollback()
        return IssuedStatement(statement, code, leaders)

    async def verify(self, typed: str, shown: Statement | None = None) -> bool:
        """Whether a code belongs to a statement that still matches the records, and (when
        the statement itself is given, read from its PDF) whether that is the statement."""
        code = normalise_code(typed)
        if code is None:
            raise UserFacingError(
                "That doesn't look like a statement code: it has 16 letters and digits in "
                "four groups, e.g. `ABCD-EFGH-JKLM-NPQR`."
            )
        async with self._session_factory() as session:
            issued = (
                await session.execute(
                    select(AttendanceStatement).where(AttendanceStatement.code == code)
                )
            ).scalar_one_or_none()
            if issued is None:
                return False
            group = await session.get(Group, issued.group_id)
            assert group is not None
            statement = await self._statement(
                session, group, issued.user_id, issued.display_name, issued.first_day,
                issued.last_day,
            )
        if shown is not None and shown.canonical() != statement.canonical():
            return False
        return verification_code(await self._secret(group.server_id), statement) == code

    async def _secret(self, server_id: int) -> bytes:
        """The server's statement key, made the first time it is needed (read in its own
        session, so a key another process just made is seen)."""
        async with self._session_factory() as session:
            stored = await session.get(AttendanceSecret, server_id)
            if stored is not None:
                return bytes.fromhex(stored.secret)
            session.add(
                AttendanceSecret(
                    server_id=server_id, secret=secrets.token_hex(32), created_at=self._clock.now()
                )
            )
            try:
                await session.commit()
            except IntegrityError:  # another process made it first: use theirs
                await session.rollback()
        async with self._session_factory() as session:
            stored = await session.get(AttendanceSecret, server_id)
            assert stored is not None
            return bytes.fromhex(stored.secret)


def status_counts(record: Sequence[MeetingAttendance], user_id: int) -> dict[Status, int]:
    counts: dict[Status, int] = defaultdict(int)
    for meeting in record:
        counts[meeting.rows[user_id].status] += 1
    return dict(counts)
