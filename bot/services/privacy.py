"""What the bot keeps about people, how they get a copy, how it is erased, and for how long.

Erasure keeps the group's record honest without the person in it: attendance,
cases and answers stay as rows (leaders keep their counts) but point at a
random negative id no Discord account can have, unknown anywhere else. Follow-up
text is wiped at once and the forum messages follow through the same sync that
posts follow-ups, so a refusal from Discord is retried rather than forgotten.
"""

from __future__ import annotations

import calendar
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import (
    Attendance,
    AttendanceCorrection,
    AttendanceStatement,
    Case,
    CaseStatus,
    Deputy,
    FollowUp,
    FollowUpPrompt,
    FrameEvent,
    Group,
    Meeting,
    Membership,
    MembershipStatus,
    OverwriteChange,
    PhaseLogEntry,
    PresenterPass,
    Reminder,
    ReminderDM,
    RoundTurn,
    Rsvp,
)
from bot.db.queries import on_shards
from bot.domain.group_settings import GroupSettings
from bot.scheduler import JobScheduler
from bot.services.followups import FollowUpService
from bot.services.frame import FrameService

log = logging.getLogger(__name__)

RETENTION_JOB = "retention"
RETENTION_TIME = time(3, 0)  # UTC, a quiet hour almost everywhere the groups meet
RETENTION_AFTER_START = timedelta(minutes=10)
RETIRED_LABEL = "(removed after the retention period)"
# Who a record past its retention period points at: no one (Discord ids are positive).
RETIRED_PERSON = -1
# Group ids in one IN (...) of the retention sweep: well below every driver's bind limit.
GROUPS_PER_STATEMENT = 1000


@dataclass(frozen=True)
class PersonalDatum:
    """One column that holds a person's id or text: why it is kept, who reads it, and
    how export, erasure and retention treat it (docs/privacy.md says the same)."""

    why: str
    readers: str
    export: str
    erasure: str
    retention: str


_PERIOD = "the group's retention period (12 months by default, 1 to 120 by /group settings)"
_OLD_MEETINGS = (
    f"for meetings older than {_PERIOD}, and all of an archived group's record once "
    "archived that long"
)
PERSONAL_DATA: dict[str, PersonalDatum] = {
    "memberships.user_id": PersonalDatum(
        "who belongs to the group, their role and when they accepted the agreement",
        "the person; the group's leaders (/group info); server admins",
        "memberships",
        "deleted, except an active membership (the person is told to leave the group first)",
        f"deleted {_PERIOD} after the person left, declined or was removed; all of an "
        "archived group's once archived that long",
    ),
    "meetings.started_by": PersonalDatum(
        "who started a meeting, for the leaders' record",
        "the group's leaders",
        "meetings_started",
        "unlinked (a random id no account has)",
        f"unlinked {_OLD_MEETINGS}",
    ),
    "attendance.user_id": PersonalDatum(
        "who was at a meeting: rotation and who may write follow-ups on its cases",
        "the group's leaders",
        "attendance",
        "unlinked",
        f"unlinked {_OLD_MEETINGS}",
    ),
    "attendance_corrections.user_id": PersonalDatum(
        "a leader corrected the minutes the bot measured for the person at a meeting",
        "the group's leaders; the person (/attendance me, statements)",
        "attendance_corrections",
        "unlinked",
        f"unlinked {_OLD_MEETINGS}",
    ),
    "attendance_corrections.reason": PersonalDatum(
        "why the minutes were corrected (e.g. joined by phone), written by a leader",
        "the group's leaders; the person",
        "attendance_corrections",
        "no longer linked to the person (the row is unlinked)",
        f"wiped {_OLD_MEETINGS}",
    ),
    "attendance_corrections.corrected_by": PersonalDatum(
        "which leader corrected a record",
        "the group's leaders",
        "attendance_corrections_made",
        "unlinked when that leader erases their data",
        f"unlinked {_OLD_MEETINGS}",
    ),
    "attendance_statements.user_id": PersonalDatum(
        "an attendance statement (CPD) was sent to the person, so its code can be verified",
        "no one; /attendance verify says only whether a code matches the records",
        "attendance_statements",
        "deleted: the person's statements no longer verify and no new ones can cover the "
        "meetings before the erasure",
        f"deleted when issued longer ago than {_PERIOD}",
    ),
    "attendance_statements.display_name": PersonalDatum(
        "the name the person chose to appear on their statement",
        "the person (the PDF); no one else through the bot",
        "attendance_statements",
        "deleted",
        f"deleted when issued longer ago than {_PERIOD}",
    ),
    "cases.presenter_id": PersonalDatum(
        "who presented a case: rotation and follow-up prompts",
        "the group's members",
        "cases_presented",
        "unlinked; cases offered but never presented are deleted",
        f"unlinked with the label when the case is older than {_PERIOD}",
    ),
    "cases.label": PersonalDatum(
        "the short, disguised name the group uses for a case",
        "the group's members",
        "cases_presented",
        "deleted with offers never presented; a presented case's label is the group's record "
        "and stays, no longer linked to the presenter",
        f"replaced by '{RETIRED_LABEL}' when the case is older than {_PERIOD}",
    ),
    "overwrite_changes.target_id": PersonalDatum(
        "which member's channel permissions the bot changed (the presenter's silence), so it "
        "can undo them after a crash",
        "no one through the bot (server admins see Discord's own overwrites)",
        "silences_while_presenting",
        "unlinked once restored (a change still in force is undone first)",
        f"unlinked {_OLD_MEETINGS}",
    ),
    "presenter_passes.user_id": PersonalDatum(
        "a member let their turn go by: the rotation counts it",
        "the group's leaders",
        "turns_passed",
        "unlinked",
        f"unlinked {_OLD_MEETINGS}",
    ),
    "rsvps.user_id": PersonalDatum(
        "attending or apologies for a meeting",
        "the group's leaders and members",
        "rsvps",
        "unlinked",
        f"deleted {_OLD_MEETINGS}",
    ),
    "reminder_dms.user_id": PersonalDatum(
        "a reminder was sent to the person by DM, so it is never sent twice",
        "no one",
        "reminders_sent_to_you",
        "unlinked",
        f"deleted {_OLD_MEETINGS}",
    ),
    "phase_log.started_by": PersonalDatum(
        "who moved the meeting to a phase, for the leaders' record",
        "the group's leaders",
        "phases_started",
        "unlinked",
        f"unlinked {_OLD_MEETINGS}",
    ),
    "followups.author_id": PersonalDatum(
        "who wrote a follow-up: it is posted under their name",
        "the group's members (the forum post)",
        "follow_ups",
        "unlinked, the text wiped and the forum message deleted",
        f"deleted with the case's forum post when the case is older than {_PERIOD}",
    ),
    "followups.text": PersonalDatum(
        "the follow-up itself",
        "the group's members (the forum post)",
        "follow_ups",
        "wiped, and the forum message deleted",
        f"deleted with the case's forum post when the case is older than {_PERIOD}",
    ),
    "followups.removed_by": PersonalDatum(
        "which leader took a follow-up down",
        "the group's leaders",
        "not exported (it names a leader, who can see it in the group)",
        "unlinked when that leader erases their data",
        f"deleted with the follow-up when the case is older than {_PERIOD}",
    ),
    "deputies.user_id": PersonalDatum(
        "who holds a meeting if its leader's connection fails (named by a leader, agreed by "
        "the person)",
        "the group's leaders; the person (by DM)",
        "deputy",
        "unlinked, and the naming ended",
        f"deleted {_OLD_MEETINGS}; a group-wide naming once replaced that long ago",
    ),
    "frame_events.user_id": PersonalDatum(
        "who dropped out of a meeting, who held it in the leader's place, whom it waited for",
        "the group's members (the chat line) and leaders (the debrief summary)",
        "frame_events",
        "unlinked",
        f"unlinked {_OLD_MEETINGS}",
    ),
    "round_turns.user_id": PersonalDatum(
        "whose turn it is in a meeting's check-in round (only that someone spoke, never what)",
        "the group's members, during the meeting",
        "check_in_turns",
        "unlinked",
        f"unlinked {_OLD_MEETINGS}",
    ),
    "groups.name": PersonalDatum(
        "the group's name, chosen by the admin who created it (no person's name, please)",
        "the group's members, invitees and server admins",
        "the names of the person's groups appear in their export",
        "not a person's data: it stays while the group exists",
        "kept while the group exists, archived or not; deleting the group's channels does "
        "not delete its record",
    ),
    "groups.agreement_text": PersonalDatum(
        "the group's agreement, written by its leaders",
        "the group's members, invitees and server admins",
        "not a person's data: the agreement is shown by /group agreement",
        "not a person's data: it stays while the group exists",
        "kept while the group exists",
    ),
}


@dataclass(frozen=True)
class Erasure:
    """What an erasure did, for the person's confirmation."""

    followups: int
    kept_groups: list[str]


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day if it has no such day."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def next_daily_run(now: datetime) -> datetime:
    """The next RETENTION_TIME after `now` (never `now` itself, so a clock jump runs it once)."""
    today = datetime.combine(now.date(), RETENTION_TIME, tzinfo=now.tzinfo)
    return today if today > now else today + timedelta(days=1)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


class PrivacyService:
    """Export, erasure and retention of personal data."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        jobs: JobScheduler,
        followups: FollowUpService,
        frame: FrameService,
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._jobs = jobs
        self._followups = followups
        self._frame = frame
        jobs.register(RETENTION_JOB, self._on_retention)

    def start(self) -> None:
        """Run the retention sweep soon after connecting, then daily.

        Not at once: the sweep has a day, while the start-up's own work (silences, events,
        reminders) has seconds, and at a society's scale the two would share one CPU.
        A reconnection never pushes a run already due sooner further away."""
        soon = self._clock.now() + RETENTION_AFTER_START
        if not any(job.when <= soon for job in self._jobs.pending(RETENTION_JOB)):
            self._jobs.schedule(RETENTION_JOB, "daily", soon)

    # Export -------------------------------------------------------------------------------

    async def export(self, user_id: int) -> dict[str, Any]:
        """Everything stored about one person, in plain JSON-ready values."""
        async with self._session_factory() as session:
            names = {g.id: g.name for g in (await session.execute(select(Group))).scalars()}
            return {
                "about": "Everything balint-bot stores about you.",
                "exported_at": _iso(self._clock.now()),
                "user_id": str(user_id),
                "memberships": [
                    {
                        "group": names.get(m.group_id),
                        "role": m.role.value,
                        "status": m.status.value,
                        "invited_at": _iso(m.invited_at),
                        "agreement_accepted_at": _iso(m.agreement_accepted_at),
                        "joined_at": _iso(m.joined_at),
                        "left_at": _iso(m.left_at),
                        "reminder_dms": m.reminder_dms,
                    }
                    for m in await _rows(session, Membership, Membership.user_id == user_id)
                ],
                "cases_presented": [
                    {
                        "group": names.get(c.group_id),
                        "label": c.label,
                        "status": c.status.value,
                        "offered_at": _iso(c.offered_at),
                        "presented_at": _iso(c.presented_at),
                        "closed_at": _iso(c.closed_at),
                        "follow_up_prompts_sent": c.prompts_sent,
                    }
                    for c in await _rows(session, Case, Case.presenter_id == user_id)
                ],
                "follow_ups": [
                    {
                        "case": label,
                        "text": f.text,
                        "created_at": _iso(f.created_at),
                        "edited_at": _iso(f.edited_at),
                        "deleted_at": _iso(f.deleted_at),
                        "posted_in_forum": f.posted_message_id is not None,
                    }
                    for f, label in (
                        await session.execute(
                            select(FollowUp, Case.label)
                            .join(Case, Case.id == FollowUp.case_id)
                            .where(FollowUp.author_id == user_id)
                            .order_by(FollowUp.created_at)
                        )
                    ).all()
                ],
                "follow_up_prompts": [
                    {"case": label, "due_at": _iso(due), "sent_at": _iso(sent)}
                    for due, sent, label in (
                        await session.execute(
                            select(FollowUpPrompt.due_at, FollowUpPrompt.sent_at, Case.label)
                            .join(Case, Case.id == FollowUpPrompt.case_id)
                            .where(Case.presenter_id == user_id)
                        )
                    ).all()
                ],
                "attendance": [
                    {
                        "group": names.get(group_id),
                        "meeting": _iso(start),
                        "joined_at": _iso(a.joined_at),
                        "left_at": _iso(a.left_at),
                    }
                    for a, group_id, start in (
                        await session.execute(
                            select(Attendance, Meeting.group_id, Meeting.scheduled_start)
                            .join(Meeting, Meeting.id == Attendance.meeting_id)
                            .where(Attendance.user_id == user_id)
                            .order_by(Attendance.joined_at)
                        )
                    ).all()
                ],
                "attendance_corrections": [
                    {
                        "meeting_id": c.meeting_id,
                        "minutes": c.minutes,
                        "reason": c.reason,
                        "at": _iso(c.corrected_at),
                    }
                    for c in await _rows(
                        session, AttendanceCorrection, AttendanceCorrection.user_id == user_id
                    )
                ],
                "attendance_corrections_made": len(
                    await _rows(
                        session, AttendanceCorrection, AttendanceCorrection.corrected_by == user_id
                    )
                ),
                "attendance_statements": [
                    {
                        "group": names.get(st.group_id),
                        "name_on_statement": st.display_name,
                        "from": st.first_day.isoformat(),
                        "to": st.last_day.isoformat(),
                        "code": st.code,
                        "issued_at": _iso(st.issued_at),
                    }
                    for st in await _rows(
                        session, AttendanceStatement, AttendanceStatement.user_id == user_id
                    )
                ],
                "rsvps": [
                    {
                        "meeting_id": r.meeting_id,
                        "answer": r.answer.value,
                        "at": _iso(r.answered_at),
                    }
                    for r in await _rows(session, Rsvp, Rsvp.user_id == user_id)
                ],
                "reminders_sent_to_you": [
                    {"reminder_id": r.reminder_id, "sent_at": _iso(r.sent_at)}
                    for r in await _rows(session, ReminderDM, ReminderDM.user_id == user_id)
                ],
                "turns_passed": [
                    {"group": names.get(p.group_id), "at": _iso(p.passed_at)}
                    for p in await _rows(session, PresenterPass, PresenterPass.user_id == user_id)
                ],
                "meetings_started": [
                    {"group": names.get(m.group_id), "at": _iso(m.started_at)}
                    for m in await _rows(session, Meeting, Meeting.started_by == user_id)
                ],
                "phases_started": len(
                    await _rows(session, PhaseLogEntry, PhaseLogEntry.started_by == user_id)
                ),
                "deputy": [
                    {
                        "group": names.get(d.group_id),
                        "named_at": _iso(d.named_at),
                        "accepted_at": _iso(d.accepted_at),
                        "ended_at": _iso(d.ended_at),
                    }
                    for d in await _rows(session, Deputy, Deputy.user_id == user_id)
                ],
                "frame_events": [
                    {
                        "meeting_id": e.meeting_id,
                        "what": e.kind.value,
                        "from": _iso(e.started_at),
                        "until": _iso(e.ended_at),
                    }
                    for e in await _rows(session, FrameEvent, FrameEvent.user_id == user_id)
                ],
                "check_in_turns": [
                    {"meeting_id": t.meeting_id, "status": t.status, "at": _iso(t.started_at)}
                    for t in await _rows(session, RoundTurn, RoundTurn.user_id == user_id)
                ],
                "silences_while_presenting": [
                    {
                        "channel_id": str(o.channel_id),
                        "from": _iso(o.applied_at),
                        "until": _iso(o.restored_at),
                    }
                    for o in await _rows(
                        session, OverwriteChange, OverwriteChange.target_id == user_id
                    )
                ],
            }

    # Erasure ------------------------------------------------------------------------------

    async def erase(self, user_id: int) -> Erasure:
        """Wipe the person's follow-ups and unlink every other record from them."""
        anonymous = -(secrets.randbits(62) + 1)
        now = self._clock.now()
        async with self._session_factory() as session:
            followup_ids = list(
                (await session.execute(select(FollowUp.id).where(FollowUp.author_id == user_id)))
                .scalars()
                .all()
            )
            await session.execute(
                update(FollowUp)
                .where(FollowUp.author_id == user_id, FollowUp.deleted_at.is_(None))
                .values(deleted_at=now)
            )
            await session.execute(
                update(FollowUp)
                .where(FollowUp.author_id == user_id)
                .values(text="", author_id=anonymous)
            )
            await session.execute(
                update(FollowUp).where(FollowUp.removed_by == user_id).values(removed_by=anonymous)
            )
            # Offers never presented exist only for the person: they go entirely.
            await session.execute(
                delete(Case).where(
                    Case.presenter_id == user_id,
                    Case.status.in_((CaseStatus.OFFERED, CaseStatus.WITHDRAWN)),
                )
            )
            own_cases = select(Case.id).where(Case.presenter_id == user_id)
            unsent = list(
                (
                    await session.execute(
                        select(FollowUpPrompt.id).where(
                            FollowUpPrompt.case_id.in_(own_cases), FollowUpPrompt.sent_at.is_(None)
                        )
                    )
                )
                .scalars()
                .all()
            )
            await session.execute(delete(FollowUpPrompt).where(FollowUpPrompt.id.in_(unsent)))
            await session.execute(
                update(Case)
                .where(Case.presenter_id == user_id, Case.status == CaseStatus.PRESENTED)
                .values(status=CaseStatus.CLOSED, closed_at=now)
            )
            await session.execute(
                delete(AttendanceStatement).where(AttendanceStatement.user_id == user_id)
            )
            for model, column in (
                (Case, Case.presenter_id),
                (Attendance, Attendance.user_id),
                (AttendanceCorrection, AttendanceCorrection.user_id),
                (AttendanceCorrection, AttendanceCorrection.corrected_by),
                (Rsvp, Rsvp.user_id),
                (ReminderDM, ReminderDM.user_id),
                (PresenterPass, PresenterPass.user_id),
                (Meeting, Meeting.started_by),
                (PhaseLogEntry, PhaseLogEntry.started_by),
                (FrameEvent, FrameEvent.user_id),
                (RoundTurn, RoundTurn.user_id),
            ):
                await session.execute(
                    update(model).where(column == user_id).values({column: anonymous})
                )
            await session.execute(
                update(Deputy)
                .where(Deputy.user_id == user_id)
                .values(user_id=anonymous, ended_at=func.coalesce(Deputy.ended_at, now))
            )
            await session.execute(
                update(OverwriteChange)
                .where(
                    OverwriteChange.target_id == user_id, OverwriteChange.restored_at.is_not(None)
                )
                .values(target_id=anonymous)
            )
            kept = list(
                (
                    await session.execute(
                        select(Group.name)
                        .join(Membership, Membership.group_id == Group.id)
                        .where(
                            Membership.user_id == user_id,
                            Membership.status == MembershipStatus.ACTIVE,
                        )
                    )
                )
                .scalars()
                .all()
            )
            await session.execute(
                delete(Membership).where(
                    Membership.user_id == user_id, Membership.status != MembershipStatus.ACTIVE
                )
            )
            await session.commit()
        for prompt_id in unsent:
            self._followups.cancel_prompt(prompt_id)
        for followup_id in followup_ids:
            await self._followups.sync(followup_id)
        return Erasure(len(followup_ids), kept)

    # Retention ----------------------------------------------------------------------------

    async def _on_retention(self, _key: str) -> None:
        try:
            removed = await self.apply_retention()
            if removed:
                log.info("retention removed the follow-ups of %d cases", removed)
        finally:
            self._jobs.schedule(RETENTION_JOB, "daily", next_daily_run(self._clock.now()))

    async def apply_retention(self) -> int:
        """Apply each group's retention period to everything it keeps about people.

        Archived groups: everything, once they have been archived that long. Active groups:
        what belongs to meetings and cases older than the period, and the memberships of
        people who left that long ago. Follow-ups, prompts and case posts go; the group's
        counts (attendance, turns, phases) stay, no longer linked to anyone.
        Returns the number of cases whose follow-ups were removed.
        """
        now = self._clock.now()
        async with self._session_factory() as session:
            # Each process purges its own guilds' groups (their posts and threads are
            # Discord work on its shards); together the processes cover every group.
            groups = (
                await session.execute(
                    on_shards(select(Group), Group.server_id, self._jobs.shards)
                )
            ).scalars().all()
            cutoffs = {group.id: retention_cutoff(group, now) for group in groups}
            # One condition per group would make a statement thousands of terms deep
            # (SQLite refuses it): ask for the latest cutoff, sort out the rest here.
            latest = max(cutoffs.values(), default=now)
            candidates = (
                await session.execute(
                    select(Case).where(
                        func.coalesce(Case.presented_at, Case.offered_at) < latest,
                        (Case.label != RETIRED_LABEL) | Case.forum_thread_id.is_not(None),
                    )
                )
            ).scalars()
            cases = [
                case
                for case in candidates
                if case.group_id in cutoffs
                and (case.presented_at or case.offered_at) < cutoffs[case.group_id]
            ]
        removed = 0
        for case in cases:
            if not await self._followups.delete_case_post(case):
                continue  # Discord refused: tomorrow's run tries again.
            async with self._session_factory() as session:
                await session.execute(delete(FollowUp).where(FollowUp.case_id == case.id))
                await session.execute(
                    delete(FollowUpPrompt).where(FollowUpPrompt.case_id == case.id)
                )
                await session.execute(
                    update(Case)
                    .where(Case.id == case.id)
                    .values(label=RETIRED_LABEL, presenter_id=RETIRED_PERSON)
                )
                await session.commit()
            removed += 1
        # The leaders' debrief summaries and notes (Discord threads) go like case posts.
        await self._frame.forget_debriefs_before(cutoffs)
        by_cutoff: dict[datetime, list[int]] = {}
        for group_id, cutoff in cutoffs.items():
            by_cutoff.setdefault(cutoff, []).append(group_id)
        async with self._session_factory() as session:
            for cutoff, group_ids in by_cutoff.items():
                for start in range(0, len(group_ids), GROUPS_PER_STATEMENT):
                    chunk = group_ids[start : start + GROUPS_PER_STATEMENT]
                    await _forget_people_before(session, chunk, cutoff)
                    if cutoff == now:  # archives past their period: no one is in them any more
                        await session.execute(
                            delete(Membership).where(Membership.group_id.in_(chunk))
                        )
            await session.commit()
        return removed


def retention_cutoff(group: Group, now: datetime) -> datetime:
    """Records of `group` from before this moment are past their retention period."""
    months = GroupSettings.from_dict(group.settings).retention_months
    if group.archived_at is not None and add_months(group.archived_at, months) <= now:
        return now  # the whole record has had its time
    return add_months(now, -months)


async def _forget_people_before(
    session: AsyncSession, group_ids: list[int], cutoff: datetime
) -> None:
    """Unlink or delete every record of the groups' meetings before `cutoff` that names
    someone, and the memberships of those who left before it."""
    old_meetings = select(Meeting.id).where(
        Meeting.group_id.in_(group_ids), Meeting.scheduled_start < cutoff
    )
    # Answers and reminders of past meetings have served their purpose.
    await session.execute(delete(Rsvp).where(Rsvp.meeting_id.in_(old_meetings)))
    await session.execute(
        delete(ReminderDM).where(
            ReminderDM.reminder_id.in_(
                select(Reminder.id).where(Reminder.meeting_id.in_(old_meetings))
            )
        )
    )
    await session.execute(
        delete(AttendanceStatement).where(
            AttendanceStatement.group_id.in_(group_ids), AttendanceStatement.issued_at < cutoff
        )
    )
    await session.execute(
        update(AttendanceCorrection)
        .where(
            AttendanceCorrection.meeting_id.in_(old_meetings),
            (AttendanceCorrection.user_id > 0) | (AttendanceCorrection.corrected_by > 0),
        )
        .values(user_id=RETIRED_PERSON, corrected_by=RETIRED_PERSON, reason="")
    )
    # Counts the group keeps (attendance, turns, phases) stay, linked to no one.
    for model, column in (
        (Attendance, Attendance.user_id),
        (PresenterPass, PresenterPass.user_id),
        (PhaseLogEntry, PhaseLogEntry.started_by),
        (FrameEvent, FrameEvent.user_id),
        (RoundTurn, RoundTurn.user_id),
    ):
        await session.execute(
            update(model)
            .where(model.meeting_id.in_(old_meetings), column > 0)
            .values({column: RETIRED_PERSON})
        )
    # Deputies of old meetings, and group-wide ones replaced long ago, have served.
    await session.execute(
        delete(Deputy).where(
            Deputy.group_id.in_(group_ids),
            Deputy.meeting_id.in_(old_meetings)
            | (Deputy.meeting_id.is_(None) & (Deputy.ended_at < cutoff)),
        )
    )
    await session.execute(
        update(Meeting)
        .where(Meeting.id.in_(old_meetings), Meeting.started_by > 0)
        .values(started_by=RETIRED_PERSON)
    )
    await session.execute(
        update(OverwriteChange)
        .where(
            OverwriteChange.meeting_id.in_(old_meetings),
            OverwriteChange.restored_at.is_not(None),
            OverwriteChange.target_is_role.is_(False),
        )
        .values(target_id=RETIRED_PERSON)
    )
    departed = Membership.status.not_in((MembershipStatus.ACTIVE, MembershipStatus.INVITED))
    await session.execute(
        delete(Membership).where(
            Membership.group_id.in_(group_ids),
            departed,
            func.coalesce(Membership.left_at, Membership.invited_at) < cutoff,
        )
    )


async def _rows(session: AsyncSession, model: Any, condition: Any) -> list[Any]:
    return list((await session.execute(select(model).where(condition))).scalars().all())
