"""Reminders before meetings, in the group's channel and by DM, and the RSVPs they collect.

The `reminders` table is the truth; timed jobs are a cache of it. A reminder is
claimed with a conditional UPDATE of `sent_at` before anything is posted, so a
job that fires twice, late, or in two bot processes posts it once; each DM copy
is claimed by inserting its `reminder_dms` row. A post that fails for a passing
reason (rate limit, Discord error) gives its claim back and is tried again a
minute later, while the meeting has not started.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import discord
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import queries
from bot.db.models import (
    Group,
    Meeting,
    MeetingStatus,
    Membership,
    MembershipStatus,
    Reminder,
    ReminderDM,
    Rsvp,
    RsvpAnswer,
)
from bot.domain.group_settings import GroupSettings
from bot.errors import UserFacingError
from bot.ratelimit import Priority
from bot.replies import timestamp
from bot.scheduler import JobScheduler

log = logging.getLogger(__name__)

REMINDER_JOB = "reminder"
# Jobs are kept for reminders due this soon; the daily job tops them up.
JOB_WINDOW = timedelta(days=2)
RETRY_DELAY = timedelta(minutes=1)

RsvpViewFactory = Callable[[int], discord.ui.View]


# Possessive and started at a run of digits, so a long run of digits is read once, not
# once from each of its digits (this is matched on the event loop); six digits is more
# than any reminder needs, and anything longer is left over and refused.
_OFFSET_PART = re.compile(r"(?<!\d)(\d{1,6}+)\s*+([dhm])")
_OFFSET_UNITS = {"d": 24 * 60, "h": 60, "m": 1}


def parse_offsets(text: str) -> tuple[int, ...]:
    """Reminder times such as '24h, 15m' or '1d 2h, 90m', as minutes, latest first."""
    offsets: set[int] = set()
    for item in filter(None, (part.strip() for part in re.split(r"[,;]", text.lower()))):
        parts = _OFFSET_PART.findall(item)
        if not parts or _OFFSET_PART.sub("", item).strip():
            raise UserFacingError(
                f"I can't read `{item[:30]}` as a time before the meeting. Write the reminder "
                "times separated by commas, e.g. `24h, 15m` or `2d, 1h30m` (d = days, h = hours, "
                "m = minutes)."
            )
        offsets.add(sum(int(amount) * _OFFSET_UNITS[unit] for amount, unit in parts))
    if not offsets:
        raise UserFacingError("Give at least one reminder time, e.g. `24h, 15m`.")
    return tuple(sorted(offsets, reverse=True))


def describe_offset(minutes: int) -> str:
    """'1 day 2 hours', '15 minutes'."""
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{value} {unit}{'s' if value != 1 else ''}"
        for value, unit in ((days, "day"), (hours, "hour"), (mins, "minute"))
        if value
    ]
    return " ".join(parts)


def new_reminders(meeting: Meeting, offsets: Iterable[int], now: datetime) -> list[Reminder]:
    """The reminders a meeting still needs; those whose time has already gone are not made."""
    reminders = []
    for offset in offsets:
        due = meeting.scheduled_start - timedelta(minutes=offset)
        if due > now:
            reminders.append(Reminder(meeting_id=meeting.id, offset_minutes=offset, due_at=due))
    return reminders


@dataclass(frozen=True)
class RsvpBoard:
    """Who said they are coming to a meeting, who sent apologies, who has not answered."""

    meeting: Meeting
    attending: Sequence[int]
    apologies: Sequence[int]
    unanswered: Sequence[int]


class ReminderService:
    """Reminders, RSVPs and members' choice of reminder DMs."""

    def __init__(
        self,
        client: discord.Client,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        jobs: JobScheduler,
        rsvp_view: RsvpViewFactory,
    ) -> None:
        self._client = client
        self._session_factory = session_factory
        self._clock = clock
        self._jobs = jobs
        self._rsvp_view = rsvp_view
        jobs.register(REMINDER_JOB, self.on_reminder, Priority.TIMED)

    # Keeping the jobs in step with the table -----------------------------------------------

    async def schedule_jobs(self, group_ids: Iterable[int] | None = None) -> int:
        """(Re)build the jobs of unsent reminders due soon; overdue ones fire at once."""
        now = self._clock.now()
        query = (
            select(Reminder.id, Reminder.due_at)
            .join(Meeting, Meeting.id == Reminder.meeting_id)
            .join(Group, Group.id == Meeting.group_id)
            .where(
                Reminder.sent_at.is_(None),
                Reminder.due_at <= now + JOB_WINDOW,
                Meeting.status == MeetingStatus.SCHEDULED,
                Meeting.scheduled_start > now,
            )
        )
        if group_ids is not None:
            query = query.where(Meeting.group_id.in_(list(group_ids)))
        query = queries.on_shards(query, Group.server_id, self._jobs.shards)
        async with self._session_factory() as session:
            rows = (await session.execute(query)).all()
        for reminder_id, due_at in rows:
            self._jobs.schedule(REMINDER_JOB, str(reminder_id), due_at)
        return len(rows)

    async def replan(self, session: AsyncSession, meeting: Meeting, offsets: Sequence[int]) -> None:
        """After a meeting moved or the offsets changed: reminders for its current time.

        A reminder already sent for the old time stays sent if its new time has also
        passed (nobody is reminded twice in a row); otherwise it is due again.
        """
        now = self._clock.now()
        existing = {
            r.offset_minutes: r
            for r in (
                await session.execute(select(Reminder).where(Reminder.meeting_id == meeting.id))
            ).scalars()
        }
        for offset, reminder in existing.items():
            due = meeting.scheduled_start - timedelta(minutes=offset)
            if offset not in offsets or (reminder.sent_at is None and due <= now):
                self._jobs.cancel(REMINDER_JOB, str(reminder.id))
                await session.delete(reminder)
            elif due > now and (reminder.due_at != due or reminder.sent_at is not None):
                reminder.due_at, reminder.sent_at, reminder.message_id = due, None, None
                await session.execute(
                    delete(ReminderDM).where(ReminderDM.reminder_id == reminder.id)
                )
        wanted = [offset for offset in offsets if offset not in existing]
        session.add_all(new_reminders(meeting, wanted, now))

    def forget(self, reminder_ids: Iterable[int]) -> None:
        for reminder_id in reminder_ids:
            self._jobs.cancel(REMINDER_JOB, str(reminder_id))

    # Sending ----------------------------------------------------------------------------

    async def on_reminder(self, key: str) -> None:
        """Post a reminder once, if its meeting is still ahead; late ones are dropped."""
        reminder_id = int(key)
        now = self._clock.now()
        async with self._session_factory() as session:
            row = (
                await session.execute(
                    select(Reminder, Meeting, Group)
                    .join(Meeting, Meeting.id == Reminder.meeting_id)
                    .join(Group, Group.id == Meeting.group_id)
                    .where(Reminder.id == reminder_id)
                )
            ).first()
        if row is None:
            return
        reminder, meeting, group = row
        if (
            meeting.status != MeetingStatus.SCHEDULED
            or meeting.scheduled_start <= now
            or group.archived_at is not None
        ):
            return
        if reminder.due_at > now:  # the meeting moved later since this job was set
            self._jobs.schedule(REMINDER_JOB, key, reminder.due_at)
            return
        retry = False
        if reminder.sent_at is None:
            if not await self._claim(reminder_id, now):
                return
            retry = not await self._post_in_channel(reminder_id, group, meeting, now)
        if not retry:
            retry = not await self._send_dms(reminder_id, group, meeting, now)
        if retry and meeting.scheduled_start > now + RETRY_DELAY:
            self._jobs.schedule(REMINDER_JOB, key, now + RETRY_DELAY)

    async def _claim(self, reminder_id: int, now: datetime) -> bool:
        async with self._session_factory() as session:
            claimed = await session.execute(
                update(Reminder)
                .where(Reminder.id == reminder_id, Reminder.sent_at.is_(None))
                .values(sent_at=now)
            )
            await session.commit()
        return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]

    async def _post_in_channel(
        self, reminder_id: int, group: Group, meeting: Meeting, now: datetime
    ) -> bool:
        """False if it should be tried again; the claim is then given back."""
        if group.text_channel_id is None:
            return True
        ping = f"<@&{group.role_id}> " if group.role_id else ""
        channel = self._client.get_partial_messageable(group.text_channel_id)
        try:
            message = await channel.send(
                ping + reminder_text(group, meeting),
                view=self._rsvp_view(meeting.id),
                allowed_mentions=discord.AllowedMentions(
                    everyone=False,
                    users=False,
                    roles=[discord.Object(group.role_id)] if group.role_id else False,
                ),
            )
        except (discord.Forbidden, discord.NotFound) as error:
            # Retrying cannot help and would count towards Discord's invalid-request ban.
            log.warning("reminder %s not posted: HTTP %s", reminder_id, error.status)
            return True
        except discord.HTTPException as error:
            log.warning("reminder %s not posted (HTTP %s); retrying", reminder_id, error.status)
            async with self._session_factory() as session:
                await session.execute(
                    update(Reminder)
                    .where(Reminder.id == reminder_id, Reminder.sent_at == now)
                    .values(sent_at=None)
                )
                await session.commit()
            return False
        async with self._session_factory() as session:
            await session.execute(
                update(Reminder).where(Reminder.id == reminder_id).values(message_id=message.id)
            )
            await session.commit()
        return True

    async def _send_dms(
        self, reminder_id: int, group: Group, meeting: Meeting, now: datetime
    ) -> bool:
        """DM the members who asked for it, each once; False if some should be retried."""
        async with self._session_factory() as session:
            wanted = (
                await session.execute(
                    select(Membership.user_id).where(
                        Membership.group_id == group.id,
                        Membership.status == MembershipStatus.ACTIVE,
                        Membership.reminder_dms.is_(True),
                    )
                )
            ).scalars()
            done = set(
                (
                    await session.execute(
                        select(ReminderDM.user_id).where(ReminderDM.reminder_id == reminder_id)
                    )
                ).scalars()
            )
            user_ids = [user_id for user_id in wanted if user_id not in done]
        complete = True
        for user_id in user_ids:
            if not await self._claim_dm(reminder_id, user_id, now):
                continue
            try:
                dm = await self._client.create_dm(discord.Object(user_id))
                await dm.send(
                    f"Reminder: {reminder_text(group, meeting)}", view=self._rsvp_view(meeting.id)
                )
            except (discord.Forbidden, discord.NotFound):
                log.info("a member's DMs are closed; reminder %s not sent by DM", reminder_id)
            except discord.HTTPException as error:
                log.warning("reminder DM failed (HTTP %s); retrying", error.status)
                complete = False
                async with self._session_factory() as session:
                    await session.execute(
                        delete(ReminderDM).where(
                            ReminderDM.reminder_id == reminder_id, ReminderDM.user_id == user_id
                        )
                    )
                    await session.commit()
        return complete

    async def _claim_dm(self, reminder_id: int, user_id: int, now: datetime) -> bool:
        async with self._session_factory() as session:
            session.add(ReminderDM(reminder_id=reminder_id, user_id=user_id, sent_at=now))
            try:
                await session.commit()
            except IntegrityError:
                return False
        return True

    # RSVPs and preferences ------------------------------------------------------------------

    async def record_rsvp(self, meeting_id: int, user_id: int, answer: RsvpAnswer) -> Meeting:
        """A member's answer; a later click replaces an earlier one."""
        now = self._clock.now()
        async with self._session_factory() as session:
            meeting = await session.get(Meeting, meeting_id)
            if meeting is None:
                raise UserFacingError("This meeting no longer exists.")
            membership = await queries.membership(session, meeting.group_id, user_id)
            if membership is None or membership.status != MembershipStatus.ACTIVE:
                raise UserFacingError("Only the group's members can answer for this meeting.")
            if meeting.status == MeetingStatus.CANCELLED:
                raise UserFacingError("This meeting was cancelled, so there is nothing to answer.")
            if meeting.status == MeetingStatus.ENDED or meeting.planned_end <= now:
                raise UserFacingError("This meeting is over.")
            for _ in range(2):  # a double click may race its own insert
                try:
                    stored = (
                        await session.execute(
                            select(Rsvp).where(
                                Rsvp.meeting_id == meeting_id, Rsvp.user_id == user_id
                            )
                        )
                    ).scalar_one_or_none()
                    if stored is None:
                        session.add(
                            Rsvp(
                                meeting_id=meeting_id,
                                user_id=user_id,
                                answer=answer,
                                answered_at=now,
                            )
                        )
                    else:
                        stored.answer, stored.answered_at = answer, now
                    await session.commit()
                    break
                except IntegrityError:
                    await session.rollback()
        return meeting

    async def board(self, meeting: Meeting) -> RsvpBoard:
        async with self._session_factory() as session:
            members = [
                m.user_id for m in await queries.active_memberships(session, meeting.group_id)
            ]
            answers = {
                r.user_id: r.answer
                for r in (
                    await session.execute(select(Rsvp).where(Rsvp.meeting_id == meeting.id))
                ).scalars()
            }
        return RsvpBoard(
            meeting,
            attending=[u for u in members if answers.get(u) == RsvpAnswer.ATTENDING],
            apologies=[u for u in members if answers.get(u) == RsvpAnswer.APOLOGIES],
            unanswered=[u for u in members if u not in answers],
        )

    async def set_dms(self, groups: Sequence[Group], user_id: int, on: bool) -> None:
        async with self._session_factory() as session:
            await session.execute(
                update(Membership)
                .where(
                    Membership.group_id.in_([g.id for g in groups]),
                    Membership.user_id == user_id,
                    Membership.status == MembershipStatus.ACTIVE,
                )
                .values(reminder_dms=on)
            )
            await session.commit()

    async def set_offsets(self, group: Group, offsets: Sequence[int]) -> None:
        """Re-plan the reminders of the group's coming meetings for new offsets."""
        now = self._clock.now()
        async with self._session_factory() as session:
            meetings = (
                await session.execute(
                    select(Meeting).where(
                        Meeting.group_id == group.id,
                        Meeting.status == MeetingStatus.SCHEDULED,
                        Meeting.scheduled_start > now,
                    )
                )
            ).scalars()
            for meeting in meetings:
                await self.replan(session, meeting, offsets)
            await session.commit()
        await self.schedule_jobs([group.id])


def offsets_of(group: Group) -> tuple[int, ...]:
    return GroupSettings.from_dict(group.settings).reminder_offsets


def reminder_text(group: Group, meeting: Meeting) -> str:
    """Times as Discord timestamps: each member reads them in their own zone."""
    start = meeting.scheduled_start
    pooled = GroupSettings.from_dict(group.settings).use_room_pool
    room = f" in <#{group.voice_channel_id}>" if group.voice_channel_id and not pooled else ""
    return (
        f"**{group.name}** meets {timestamp(start)} ({timestamp(start, 'R')}){room}. "
        "Will you be there? Your answer helps the leaders plan."
    )
