"""Follow-ups between meetings: each case's forum post, prompts, writing, and clearing the chat.

A follow-up is stored first and posted second. The database says what the forum
should show; `sync` makes the case's post match one follow-up (post, edit or
delete its message) and, when Discord refuses, schedules itself again, so a
saved follow-up always reaches the forum in the end. Prompts are planned for
the group's next scheduled meeting and claimed by a conditional update of
`sent_at` before the DM goes out, so a presenter is asked at most once a cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import discord
from sqlalchemy import CompoundSelect, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import queries
from bot.db.models import (
    FOLLOWUP_OUT_OF_SYNC,
    Attendance,
    Case,
    CaseStatus,
    FollowUp,
    FollowUpPrompt,
    Group,
    Meeting,
    MeetingStatus,
    Membership,
    MembershipStatus,
)
from bot.domain.group_settings import GroupSettings
from bot.domain.shards import Shards
from bot.embeds import AUTHOR, clip
from bot.errors import UserFacingError
from bot.permissions import describe_missing
from bot.ratelimit import Priority
from bot.replies import timestamp
from bot.scheduler import JobScheduler

log = logging.getLogger(__name__)

PLAN_JOB = "followup_plan"
PLAN_ALL = "all"  # the key of the plan job that re-plans every group after a start
GROUPS_PER_PLAN = 500
PROMPT_JOB = "followup_prompt"
SYNC_JOB = "followup_sync"
CASE_POST_JOB = "case_post"
CLEAR_CHAT_JOB = "clear_chat"

MAX_TEXT = 4000
SYNC_LEASE = timedelta(minutes=5)
RETRY_FIRST = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
CASE_POST_RETRY = timedelta(minutes=15)
# Discord bulk-deletes only messages younger than 14 days; a margin absorbs clock skew.
BULK_DELETE_AGE = timedelta(days=13)
# Discord archives a post after days without activity and then refuses edits in it.
THREAD_ARCHIVED = 50083
# The tag case posts carry in a forum that requires one on every post.
CASE_TAG = "case"
# Cases whose follow-ups can be written: presented (now or earlier), closed ones included.
WRITABLE_STATUSES = (CaseStatus.PRESENTING, CaseStatus.PRESENTED, CaseStatus.CLOSED)


class SyncResult(enum.Enum):
    DONE = "done"
    FAILED = "failed"
    BUSY = "busy"


@dataclass(frozen=True)
class SyncOutcome:
    result: SyncResult
    problem: str | None = None


@dataclass(frozen=True)
class FollowUpDigest:
    """A case with follow-ups new since the previous meeting, for the session panel."""

    case_id: int
    label: str
    forum_thread_id: int | None
    count: int
    latest: datetime


@dataclass(frozen=True)
class CaseChoice:
    """A case someone may write about, as offered by autocomplete."""

    case: Case
    group: Group
    own: bool


@dataclass(frozen=True)
class Saved:
    """The outcome of writing or editing: what was stored and whether the forum shows it."""

    followup: FollowUp
    case: Case
    outcome: SyncOutcome
    jump_url: str | None


class PostProblem(Exception):
    """The forum could not be reached; the message says why, for the author."""


def meeting_date(moment: datetime, zone: str) -> str:
    """'12 May 2026' in the group's own time zone."""
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local.day} {local:%B %Y}"


def case_post_title(label: str, date: str) -> str:
    return f"{label} · {date}"[:100]


def case_tag(forum: discord.ForumChannel) -> discord.ForumTag | None:
    """The forum's own "case" tag, whatever its capitals."""
    return next((t for t in forum.available_tags if t.name.casefold() == CASE_TAG), None)


def untaggable(forum: discord.ForumChannel) -> str | None:
    """Why no case post could be opened in a forum that requires a tag on every post (Discord
    refuses untagged posts there), or None when the bot can tag them."""
    if (
        not forum.flags.require_tag
        or case_tag(forum) is not None
        or forum.permissions_for(forum.guild.me).manage_channels
    ):
        return None
    return (
        f"{forum.mention} requires a tag on every post: add a tag named **{CASE_TAG}** to it, "
        "or give the bot's role **Manage Channels** there so I can add it"
    )


def retry_delay(attempts: int) -> timedelta:
    """One minute, doubling with each failure, at most an hour."""
    return min(RETRY_FIRST * int(2 ** max(attempts - 1, 0)), RETRY_MAX)


def _problem(error: discord.HTTPException) -> str:
    if error.code == THREAD_ARCHIVED:
        return "the case's post is archived"
    if isinstance(error, discord.Forbidden):
        return describe_missing(
            ["send_messages_in_threads", "create_public_threads", "embed_links"]
        )
    if isinstance(error, discord.DiscordServerError):
        return "Discord is having trouble right now"
    return f"Discord answered {error.status}"


class FollowUpService:
    """Use cases of follow-ups, acting on the database first and Discord second."""

    def __init__(
        self,
        client: discord.Client,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        jobs: JobScheduler,
    ) -> None:
        self._client = client
        self._session_factory = session_factory
        self._clock = clock
        self._jobs = jobs
        self._case_locks: dict[int, asyncio.Lock] = {}
        self._planning = asyncio.Lock()
        jobs.register(PLAN_JOB, self._on_plan)
        jobs.register(PROMPT_JOB, self._on_prompt, Priority.TIMED)
        jobs.register(SYNC_JOB, self._on_sync)
        jobs.register(CASE_POST_JOB, self._on_case_post)
        jobs.register(CLEAR_CHAT_JOB, self._on_clear_chat)

    # Start-up and events ------------------------------------------------------------------

    async def resume(self) -> None:
        """After a start: post what is unposted, open missing case posts, re-plan prompts."""
        now = self._clock.now()
        shards = self._jobs.shards
        async with self._session_factory() as session:
            pending = (
                await session.execute(
                    queries.on_shards(
                        select(FollowUp.id)
                        .join(Case, Case.id == FollowUp.case_id)
                        .join(Group, Group.id == Case.group_id)
                        .where(FOLLOWUP_OUT_OF_SYNC),
                        Group.server_id,
                        shards,
                    )
                )
            ).scalars()
            for followup_id in pending.all():
                self._jobs.schedule(SYNC_JOB, str(followup_id), now)
            unopened = await session.execute(
                queries.on_shards(
                    select(Case.id)
                    .join(Group, Group.id == Case.group_id)
                    .where(
                        Group.archived_at.is_(None),
                        Case.status.in_(WRITABLE_STATUSES),
                        Case.meeting_id.is_not(None),
                        Case.forum_thread_id.is_(None),
                    ),
                    Group.server_id,
                    shards,
                )
            )
            for case_id in unopened.scalars().all():
                self._jobs.schedule(CASE_POST_JOB, str(case_id), now)
            self._jobs.schedule(PLAN_JOB, PLAN_ALL, now)
            settings = await session.execute(
                queries.on_shards(
                    select(Group.id, Group.settings).where(Group.archived_at.is_(None)),
                    Group.server_id,
                    shards,
                )
            )
            for group_id, values in settings.all():
                if GroupSettings.from_dict(values).clear_text_channel:
                    self._jobs.schedule(CLEAR_CHAT_JOB, str(group_id), now)

    def case_presented(self, case_id: int) -> None:
        self._jobs.schedule(CASE_POST_JOB, str(case_id), self._clock.now())

    def schedule_changed(self, group_id: int) -> None:
        self._jobs.schedule(PLAN_JOB, str(group_id), self._clock.now())

    async def meeting_ended(self, meeting_id: int) -> None:
        """Plan the next cycle's prompts, and clear the chat if the group chose it."""
        async with self._session_factory() as session:
            meeting = await session.get(Meeting, meeting_id)
            group = await session.get(Group, meeting.group_id) if meeting else None
        if group is None:
            return
        now = self._clock.now()
        self._jobs.schedule(PLAN_JOB, str(group.id), now)
        if GroupSettings.from_dict(group.settings).clear_text_channel:
            self._jobs.schedule(CLEAR_CHAT_JOB, str(group.id), now)

    # The case's forum post ------------------------------------------------------------------

    async def _on_case_post(self, key: str) -> None:
        await self._remove_unpresented_posts(int(key))
        try:
            await self.ensure_case_post(int(key))
        except PostProblem:
            self._jobs.schedule(CASE_POST_JOB, key, self._clock.now() + CASE_POST_RETRY)

    async def _remove_unpresented_posts(self, case_id: int) -> None:
        """A leader who changed the presenter leaves a post for a case not presented: remove it."""
        async with self._session_factory() as session:
            stray = (
                (
                    await session.execute(
                        select(Case).where(
                            Case.group_id.in_(select(Case.group_id).where(Case.id == case_id)),
                            Case.status.in_((CaseStatus.OFFERED, CaseStatus.WITHDRAWN)),
                            Case.forum_thread_id.is_not(None),
                        )
                    )
                )
                .scalars()
                .all()
            )
        for case in stray:
            await self.delete_case_post(case)

    async def ensure_case_post(self, case_id: int) -> int:
        """The id of the case's forum post, opening it first if needed (once, even if raced)."""
        async with self._case_locks.setdefault(case_id, asyncio.Lock()):
            async with self._session_factory() as session:
                case = await session.get(Case, case_id)
                if case is None:
                    raise PostProblem("the case no longer exists")
                if case.forum_thread_id is not None:
                    return case.forum_thread_id
                group = await session.get(Group, case.group_id)
                meeting = await session.get(Meeting, case.meeting_id) if case.meeting_id else None
            assert group is not None
            forum = self._client.get_channel(group.forum_channel_id or 0)
            if not isinstance(forum, discord.ForumChannel):
                raise PostProblem("the group's follow-up forum is missing")
            when = (meeting.started_at or meeting.scheduled_start) if meeting else case.offered_at
            date = meeting_date(when, group.timezone)
            try:
                tags = await self._case_tags(forum)
                created = await forum.create_thread(
                    name=case_post_title(case.label, date),
                    content=f"**{case.label}**, presented at the meeting of {date}.\n"
                    "Follow-ups on this case gather here, and everyone in the group can reply "
                    "at any time. What is said in the group stays in the group.",
                    allowed_mentions=discord.AllowedMentions.none(),
                    applied_tags=tags,
                    reason="Balint case post",
                )
            except discord.HTTPException as error:
                log.warning("could not open the post of case %s: HTTP %s", case_id, error.status)
                raise PostProblem(_problem(error)) from error
            thread_id = created.thread.id
            async with self._session_factory() as session:
                stored = await session.execute(
                    update(Case)
                    .where(Case.id == case_id, Case.forum_thread_id.is_(None))
                    .values(forum_thread_id=thread_id)
                )
                await session.commit()
                if stored.rowcount == 1:  # type: ignore[attr-defined]
                    return thread_id
                # Another process opened one first: keep theirs, remove ours.
                winner = await session.get(Case, case_id)
            await self._delete_thread(thread_id)
            assert winner is not None
            assert winner.forum_thread_id is not None
            return winner.forum_thread_id

    async def _case_tags(self, forum: discord.ForumChannel) -> list[discord.ForumTag]:
        """The "case" tag when the forum has one; in a forum that requires a tag on every
        post, created first if missing (Manage Channels), else a problem saying what to do."""
        tag = case_tag(forum)
        if tag is not None or not forum.flags.require_tag:
            return [] if tag is None else [tag]
        problem = untaggable(forum)
        if problem is not None:
            raise PostProblem(problem)
        return [await forum.create_tag(name=CASE_TAG, reason="Balint case posts need a tag")]

    async def delete_case_post(self, case: Case) -> bool:
        """Remove a case's forum post; False if Discord refused (try again later)."""
        if case.forum_thread_id is None:
            return True
        if not await self._delete_thread(case.forum_thread_id):
            return False
        async with self._session_factory() as session:
            await session.execute(
                update(Case).where(Case.id == case.id).values(forum_thread_id=None)
            )
            await session.commit()
        return True

    async def _delete_thread(self, thread_id: int) -> bool:
        try:
            await self._client.http.delete_channel(thread_id, reason="Balint case post removed")
        except discord.NotFound:
            return True
        except discord.HTTPException as error:
            log.warning("could not delete a case post: HTTP %s", error.status)
            return False
        return True

    # Who may write about what ---------------------------------------------------------------

    async def writable_cases(
        self, user_id: int, guild_id: int, group_id: int | None
    ) -> list[CaseChoice]:
        """Cases the member presented or was present for, their own first, newest first."""
        async with self._session_factory() as session:
            query = (
                select(Case, Group)
                .join(Group, Group.id == Case.group_id)
                .where(
                    Group.server_id == guild_id,
                    Group.archived_at.is_(None),
                    Case.status.in_(WRITABLE_STATUSES),
                    Case.meeting_id.is_not(None),
                    or_(
                        Case.presenter_id == user_id,
                        Case.meeting_id.in_(
                            select(Attendance.meeting_id).where(Attendance.user_id == user_id)
                        ),
                    ),
                    Case.group_id.in_(
                        select(Membership.group_id).where(
                            Membership.user_id == user_id,
                            Membership.status == MembershipStatus.ACTIVE,
                        )
                    ),
                )
                .order_by(Case.presented_at.desc())
            )
            if group_id is not None:
                query = query.where(Group.id == group_id)
            rows = (await session.execute(query)).all()
        choices = [CaseChoice(case, group, case.presenter_id == user_id) for case, group in rows]
        return sorted(choices, key=lambda choice: not choice.own)

    async def writable_case(self, case_id: int, user_id: int) -> tuple[Case, Group]:
        """The case, if this member may write a follow-up on it; a clear refusal otherwise."""
        async with self._session_factory() as session:
            case = await session.get(Case, case_id)
            group = await session.get(Group, case.group_id) if case else None
            if (
                case is None
                or group is None
                or case.meeting_id is None
                or case.status not in WRITABLE_STATUSES
            ):
                raise UserFacingError("I can't find that case: pick one from the list.")
            if group.archived_at is not None:
                raise UserFacingError(f"**{group.name}** is archived: it takes no new follow-ups.")
            membership = await queries.membership(session, group.id, user_id)
            if membership is None or membership.status != MembershipStatus.ACTIVE:
                raise UserFacingError(f"Only members of **{group.name}** can write follow-ups.")
            if case.presenter_id != user_id:
                present = await session.execute(
                    select(Attendance.id).where(
                        Attendance.meeting_id == case.meeting_id, Attendance.user_id == user_id
                    )
                )
                if present.first() is None:
                    raise UserFacingError(
                        "You can write follow-ups on your own cases and on cases discussed at "
                        "meetings you were at."
                    )
        return case, group

    async def own_followup(self, followup_id: int, user_id: int) -> tuple[FollowUp, Case]:
        async with self._session_factory() as session:
            followup = await session.get(FollowUp, followup_id)
            case = await session.get(Case, followup.case_id) if followup else None
        if (
            followup is None
            or case is None
            or followup.deleted_at is not None
            or followup.author_id != user_id
        ):
            raise UserFacingError("That isn't one of your follow-ups: pick one from the list.")
        return followup, case

    async def editable_followup(self, followup_id: int, user_id: int) -> tuple[FollowUp, Case]:
        """One's own follow-up, while one is still a member of its group.

        Someone removed from the group, or who left or declined, no longer writes in it;
        they may still delete what they wrote (and all their data with /privacy delete).
        """
        followup, case = await self.own_followup(followup_id, user_id)
        async with self._session_factory() as session:
            membership = await queries.membership(session, case.group_id, user_id)
        if membership is None or membership.status != MembershipStatus.ACTIVE:
            raise UserFacingError(
                "You are no longer a member of this group, so your follow-ups there can't be "
                "changed. You can still delete them, or all your data with `/privacy delete`."
            )
        return followup, case

    async def followups_of(
        self, guild_id: int, *, author_id: int | None = None, leader_id: int | None = None
    ) -> Sequence[tuple[FollowUp, Case]]:
        """Follow-ups still shown: an author's own, or those of the groups a leader leads."""
        query = (
            select(FollowUp, Case)
            .join(Case, Case.id == FollowUp.case_id)
            .join(Group, Group.id == Case.group_id)
            .where(Group.server_id == guild_id, FollowUp.deleted_at.is_(None))
            .order_by(FollowUp.created_at.desc())
            .limit(25)
        )
        if author_id is not None:
            query = query.where(FollowUp.author_id == author_id)
        if leader_id is not None:
            query = query.where(
                Case.group_id.in_(
                    select(Membership.group_id).where(
                        Membership.user_id == leader_id,
                        Membership.status == MembershipStatus.ACTIVE,
                        Membership.role.in_(queries.LEADER_ROLES),
                    )
                )
            )
        async with self._session_factory() as session:
            return [(row[0], row[1]) for row in (await session.execute(query)).all()]

    # Writing, editing, deleting -------------------------------------------------------------

    async def write(
        self, case_id: int, author_id: int, text: str, submission_key: str
    ) -> tuple[FollowUp, bool]:
        """Store the follow-up, once per submission; True if this call stored it."""
        cleaned = _validate_text(text)
        case, _ = await self.writable_case(case_id, author_id)
        async with self._session_factory() as session:
            followup = FollowUp(
                case_id=case.id,
                author_id=author_id,
                text=cleaned,
                submission_key=submission_key,
                created_at=self._clock.now(),
                post_attempts=0,
            )
            session.add(followup)
            try:
                await session.commit()
            except IntegrityError:
                await session.rollback()
                existing = (
                    await session.execute(
                        select(FollowUp).where(FollowUp.submission_key == submission_key)
                    )
                ).scalar_one()
                return existing, False
        return followup, True

    async def edit(self, followup_id: int, user_id: int, text: str) -> None:
        cleaned = _validate_text(text)
        followup, _ = await self.editable_followup(followup_id, user_id)
        async with self._session_factory() as session:
            await session.execute(
                update(FollowUp)
                .where(FollowUp.id == followup.id)
                .values(text=cleaned, edited_at=self._clock.now(), posted_at=None)
            )
            await session.commit()

    async def delete(self, followup_id: int, user_id: int) -> Case:
        followup, case = await self.own_followup(followup_id, user_id)
        await self._mark_deleted(followup.id, None)
        return case

    async def remove(self, followup_id: int, leader_id: int) -> tuple[FollowUp, Case]:
        """A leader takes a follow-up down; its author is told."""
        async with self._session_factory() as session:
            followup = await session.get(FollowUp, followup_id)
            case = await session.get(Case, followup.case_id) if followup else None
            if followup is None or case is None or followup.deleted_at is not None:
                raise UserFacingError("I can't find that follow-up: pick one from the list.")
            if leader_id not in await queries.leader_ids(session, case.group_id):
                raise UserFacingError("Only the group's leaders can remove a follow-up.")
        await self._mark_deleted(followup.id, leader_id)
        await self._dm(
            followup.author_id,
            f"A leader removed your follow-up on **{case.label}** from its case post.",
        )
        return followup, case

    async def _mark_deleted(self, followup_id: int, removed_by: int | None) -> None:
        """Forget the text at once; the forum message follows."""
        async with self._session_factory() as session:
            await session.execute(
                update(FollowUp)
                .where(FollowUp.id == followup_id)
                .values(text="", deleted_at=self._clock.now(), removed_by=removed_by)
            )
            await session.commit()
        await self.sync(followup_id)

    async def publish(self, followup_id: int) -> Saved:
        """Make the forum show the saved follow-up; slow when Discord is, so defer first."""
        outcome = await self.sync(followup_id)
        async with self._session_factory() as session:
            followup = await session.get(FollowUp, followup_id)
            case = await session.get(Case, followup.case_id) if followup else None
            group = await session.get(Group, case.group_id) if case else None
        assert followup is not None
        assert case is not None
        assert group is not None
        jump = (
            f"https://discord.com/channels/{group.server_id}/{case.forum_thread_id}/"
            f"{followup.posted_message_id}"
            if followup.posted_message_id and case.forum_thread_id
            else None
        )
        return Saved(followup, case, outcome, jump)

    # Making the forum match -----------------------------------------------------------------

    async def _on_sync(self, key: str) -> None:
        await self.sync(int(key))

    async def sync(self, followup_id: int) -> SyncOutcome:
        """Post, edit or delete the follow-up's forum message so it matches the database."""
        now = self._clock.now()
        async with self._session_factory() as session:
            claimed = await session.execute(
                update(FollowUp)
                .where(
                    FollowUp.id == followup_id,
                    or_(
                        FollowUp.sync_claimed_at.is_(None),
                        FollowUp.sync_claimed_at < now - SYNC_LEASE,
                    ),
                )
                .values(sync_claimed_at=now)
            )
            await session.commit()
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                self._jobs.schedule(SYNC_JOB, str(followup_id), now + RETRY_FIRST)
                return SyncOutcome(SyncResult.BUSY)
            followup = await session.get(FollowUp, followup_id)
            case = await session.get(Case, followup.case_id) if followup else None
            group = await session.get(Group, case.group_id) if case else None
        assert followup is not None
        assert case is not None
        assert group is not None
        try:
            announce = await self._apply(followup, case, group)
        except (discord.HTTPException, PostProblem) as error:
            reason = _problem(error) if isinstance(error, discord.HTTPException) else str(error)
            attempts = followup.post_attempts + 1
            log.warning("follow-up %s not synced (attempt %d)", followup_id, attempts)
            async with self._session_factory() as session:
                await session.execute(
                    update(FollowUp)
                    .where(FollowUp.id == followup_id)
                    .values(sync_claimed_at=None, post_attempts=attempts)
                )
                await session.commit()
            self._jobs.schedule(SYNC_JOB, str(followup_id), now + retry_delay(attempts))
            return SyncOutcome(SyncResult.FAILED, reason)
        if announce is not None:
            await self._dm(
                followup.author_id,
                f"Your follow-up on **{case.label}** is posted now, after a delay: {announce}",
            )
        return SyncOutcome(SyncResult.DONE)

    async def _apply(self, followup: FollowUp, case: Case, group: Group) -> str | None:
        """Do the one Discord change needed; returns a link when a delayed post got through."""
        if followup.deleted_at is not None:
            if followup.posted_message_id is not None and case.forum_thread_id is not None:
                with contextlib.suppress(discord.NotFound):
                    await (
                        self._thread(case.forum_thread_id)
                        .get_partial_message(followup.posted_message_id)
                        .delete()
                    )
            await self._finish(followup.id, posted_message_id=None, text=None)
            return None
        thread_id = await self.ensure_case_post(case.id)
        thread = self._thread(thread_id)
        embed = await self._render(followup, group.server_id)
        if followup.posted_message_id is not None:
            try:
                await self._edit_in_post(
                    thread_id, thread.get_partial_message(followup.posted_message_id), embed
                )
                await self._finish(
                    followup.id, posted_message_id=followup.posted_message_id, text=followup.text
                )
                return None
            except discord.NotFound:
                pass  # Someone deleted the message or the post: post it again below.
        try:
            message = await thread.send(
                embed=embed, allowed_mentions=discord.AllowedMentions.none()
            )
        except discord.NotFound:
            # The case's post is gone: forget it so the next attempt opens a new one.
            async with self._session_factory() as session:
                await session.execute(
                    update(Case)
                    .where(Case.id == case.id, Case.forum_thread_id == thread_id)
                    .values(forum_thread_id=None)
                )
                await session.commit()
            raise PostProblem("the case's post was deleted; I'm opening a new one") from None
        await self._finish(followup.id, posted_message_id=message.id, text=followup.text)
        return message.jump_url if followup.post_attempts > 0 else None

    async def _edit_in_post(
        self, thread_id: int, message: discord.PartialMessage, embed: discord.Embed
    ) -> None:
        """Edit a message in a case post, reopening the post first when Discord archived it
        for inactivity: an archived post refuses edits (50083) on every retry otherwise."""
        try:
            await message.edit(embed=embed)
            return
        except discord.HTTPException as error:
            if error.code != THREAD_ARCHIVED:
                raise
        try:
            await self._client.http.edit_channel(
                thread_id, archived=False, reason="Balint follow-up edited"
            )
        except discord.HTTPException as error:
            log.warning("could not reopen an archived case post: HTTP %s", error.status)
            raise PostProblem(
                "the case's post is archived and I can't reopen it. "
                + describe_missing(["send_messages", "manage_threads"])
            ) from error
        await message.edit(embed=embed)

    async def _finish(
        self, followup_id: int, *, posted_message_id: int | None, text: str | None
    ) -> None:
        """Record what the forum shows, unless the text changed while we were posting."""
        async with self._session_factory() as session:
            await session.execute(
                update(FollowUp)
                .where(FollowUp.id == followup_id)
                .values(posted_message_id=posted_message_id, sync_claimed_at=None, post_attempts=0)
            )
            if text is not None:
                await session.execute(
                    update(FollowUp)
                    .where(
                        FollowUp.id == followup_id,
                        FollowUp.text == text,
                        FollowUp.deleted_at.is_(None),
                    )
                    .values(posted_at=self._clock.now())
                )
            await session.commit()
            again = await session.execute(
                select(FollowUp.id).where(FollowUp.id == followup_id, FOLLOWUP_OUT_OF_SYNC)
            )
            if again.first() is not None:
                self._jobs.schedule(SYNC_JOB, str(followup_id), self._clock.now())

    def _thread(self, thread_id: int) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(
            thread_id, type=discord.ChannelType.public_thread
        )

    async def _render(self, followup: FollowUp, guild_id: int) -> discord.Embed:
        """The follow-up under its author's name: an embed, so nothing in it can ping."""
        name = "A member of the group"
        guild = self._client.get_guild(guild_id)
        if guild is not None:
            member = guild.get_member(followup.author_id)
            if member is None:
                try:
                    member = await guild.fetch_member(followup.author_id)
                except discord.HTTPException:
                    member = None
            if member is not None:
                name = member.display_name
        embed = discord.Embed(
            description=followup.text, colour=discord.Colour.teal(), timestamp=followup.created_at
        )
        embed.set_author(name=clip(f"Follow-up by {name}", AUTHOR))
        if followup.edited_at is not None:
            embed.set_footer(text="edited")
        return embed

    async def _dm(self, user_id: int, content: str) -> bool:
        try:
            channel = await self._client.create_dm(discord.Object(id=user_id))
            await channel.send(content)
        except discord.HTTPException as error:
            log.info("could not DM a member: HTTP %s", error.status)
            return False
        return True

    # Closing a case and prompting -----------------------------------------------------------

    async def close_case(self, case_id: int, user_id: int) -> Case:
        """The presenter says the case needs no more follow-ups: prompts stop."""
        async with self._session_factory() as session:
            case = await session.get(Case, case_id)
            if case is None or case.presenter_id != user_id:
                raise UserFacingError("You can only close cases you presented.")
            if case.status == CaseStatus.CLOSED:
                raise UserFacingError(f"**{case.label}** is already closed.")
            if case.status != CaseStatus.PRESENTED:
                raise UserFacingError("A case can be closed once its meeting has ended.")
            case.status = CaseStatus.CLOSED
            case.closed_at = self._clock.now()
            unsent = (
                (
                    await session.execute(
                        select(FollowUpPrompt.id).where(
                            FollowUpPrompt.case_id == case.id, FollowUpPrompt.sent_at.is_(None)
                        )
                    )
                )
                .scalars()
                .all()
            )
            await session.execute(delete(FollowUpPrompt).where(FollowUpPrompt.id.in_(unsent)))
            await session.commit()
        for prompt_id in unsent:
            self._jobs.cancel(PROMPT_JOB, str(prompt_id))
        return case

    def cancel_prompt(self, prompt_id: int) -> None:
        self._jobs.cancel(PROMPT_JOB, str(prompt_id))

    async def _on_plan(self, key: str) -> None:
        if key == PLAN_ALL:
            await self.plan_all()
        else:
            await self.plan_prompts(int(key))

    async def plan_all(self) -> None:
        """After a start: re-plan every group with prompts to plan or re-plan, a few hundred
        groups per transaction (one job, not one per group: a society has thousands)."""
        async with self._session_factory() as session:
            group_ids: Sequence[int] = (
                (await session.execute(_groups_to_plan(self._jobs.shards))).scalars().all()
            )
        for start in range(0, len(group_ids), GROUPS_PER_PLAN):
            await self._plan(group_ids[start : start + GROUPS_PER_PLAN])

    async def plan_prompts(self, group_id: int) -> None:
        """Prompts due before the group's next scheduled meeting; others not yet sent go."""
        await self._plan([group_id])

    async def _plan(self, group_ids: Sequence[int]) -> None:
        """Plan the groups' prompts with a handful of statements whatever their number."""
        now = self._clock.now()
        # One plan at a time: two at once could both add a group's prompt.
        async with self._planning, self._session_factory() as session:
            groups = (
                (await session.execute(select(Group).where(Group.id.in_(group_ids))))
                .scalars()
                .all()
            )
            active = [group.id for group in groups if group.archived_at is None]
            meetings = await queries.next_meetings(session, active, now)
            unsent = await _unsent_prompts(session, group_ids)
            sent = {
                (case_id, meeting_id)
                for case_id, meeting_id in await session.execute(
                    select(FollowUpPrompt.case_id, FollowUpPrompt.before_meeting_id).where(
                        FollowUpPrompt.before_meeting_id.in_(
                            [meeting.id for meeting in meetings.values()]
                        ),
                        FollowUpPrompt.sent_at.is_not(None),
                    )
                )
            }
            presented = (
                (
                    await session.execute(
                        select(Case).where(
                            Case.group_id.in_(list(meetings)),
                            Case.status == CaseStatus.PRESENTED,
                            Case.presented_at.is_not(None),
                        )
                    )
                )
                .scalars()
                .all()
            )
            cycles = await _cycles(session, presented)
            # By group first: a plan of 500 groups would otherwise go through every case
            # of all 500 for each one.
            presented_in: dict[int, list[Case]] = {}
            for case in presented:
                presented_in.setdefault(case.group_id, []).append(case)
            changed = False
            for group in groups:
                settings = GroupSettings.from_dict(group.settings)
                meeting = meetings.get(group.id)
                promptable = [
                    case
                    for case in presented_in.get(group.id, [])
                    if cycles[case.id] <= settings.followup_prompt_cycles
                    and meeting is not None
                    and (case.id, meeting.id) not in sent
                ]
                changed |= await self._plan_group(
                    session, group.id, meeting, settings, unsent.get(group.id, []), promptable
                )
            # Start-up re-plans every group with prompts: most find them as they were.
            scheduled = [prompt for prompts in unsent.values() for prompt in prompts]
            if changed:
                await session.commit()
                scheduled = [
                    prompt
                    for prompts in (await _unsent_prompts(session, group_ids)).values()
                    for prompt in prompts
                ]
        for prompt in scheduled:
            self._jobs.schedule(PROMPT_JOB, str(prompt.id), prompt.due_at)

    async def _plan_group(
        self,
        session: AsyncSession,
        group_id: int,
        meeting: Meeting | None,
        settings: GroupSettings,
        unsent: Sequence[FollowUpPrompt],
        promptable: Sequence[Case],
    ) -> bool:
        """Bring one group's unsent prompts in line with its next meeting (in `session`,
        not committed); whether anything changed."""
        keep: dict[int, FollowUpPrompt] = {}
        stale: list[FollowUpPrompt] = []
        for prompt in unsent:
            if meeting is not None and prompt.before_meeting_id == meeting.id:
                keep[prompt.case_id] = prompt
            else:
                stale.append(prompt)
        changed = False
        if meeting is not None:
            due = meeting.scheduled_start - timedelta(days=settings.followup_prompt_days)
            for case in promptable:
                kept = keep.pop(case.id, None)
                if kept is None:
                    session.add(
                        FollowUpPrompt(case_id=case.id, before_meeting_id=meeting.id, due_at=due)
                    )
                    changed = True
                elif kept.due_at != due:
                    kept.due_at = due
                    changed = True
        for prompt in [*stale, *keep.values()]:
            self._jobs.cancel(PROMPT_JOB, str(prompt.id))
            await session.delete(prompt)
            changed = True
        return changed

    async def _on_prompt(self, key: str) -> None:
        now = self._clock.now()
        async with self._session_factory() as session:
            prompt = await session.get(FollowUpPrompt, int(key))
            if prompt is None or prompt.sent_at is not None or prompt.due_at > now:
                return
            case = await session.get(Case, prompt.case_id)
            meeting = await session.get(Meeting, prompt.before_meeting_id)
            group = await session.get(Group, case.group_id) if case else None
            if case is None or meeting is None or group is None:
                return
            if not await self._still_wanted(session, case, meeting, group, now):
                return
            claimed = await session.execute(
                update(FollowUpPrompt)
                .where(FollowUpPrompt.id == prompt.id, FollowUpPrompt.sent_at.is_(None))
                .values(sent_at=now)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                await session.rollback()
                return
            await session.execute(
                update(Case).where(Case.id == case.id).values(prompts_sent=Case.prompts_sent + 1)
            )
            await session.commit()
        # The cog owns the "Write follow-up" button, so it sends the DM.
        self._client.dispatch(
            "followup_prompt",
            case.presenter_id,
            case.id,
            f"**{group.name}** meets next {timestamp(meeting.scheduled_start)}. How has it gone "
            f"with the patient in your case **{case.label}** since the group discussed it? "
            "A few lines in its case post help the group carry the case on.\n"
            "-# If there is nothing more to say, `/followup close` stops these reminders.",
        )

    async def _still_wanted(
        self, session: AsyncSession, case: Case, meeting: Meeting, group: Group, now: datetime
    ) -> bool:
        """Checked when the prompt is due: things may have changed since it was planned."""
        if group.archived_at is not None or case.status != CaseStatus.PRESENTED:
            return False
        if meeting.status != MeetingStatus.SCHEDULED or meeting.scheduled_start <= now:
            return False
        settings = GroupSettings.from_dict(group.settings)
        if (await _cycles(session, [case]))[case.id] > settings.followup_prompt_cycles:
            return False
        membership = await queries.membership(session, group.id, case.presenter_id)
        if membership is None or membership.status != MembershipStatus.ACTIVE:
            return False
        since = await _previous_end(session, group.id, None)
        written = select(FollowUp.id).where(
            FollowUp.case_id == case.id,
            FollowUp.author_id == case.presenter_id,
            FollowUp.deleted_at.is_(None),
        )
        if since is not None:
            written = written.where(FollowUp.created_at >= since)
        return (await session.execute(written)).first() is None

    # At the next meeting ----------------------------------------------------------------------

    async def new_since_previous_meeting(
        self, group_id: int, meeting_id: int
    ) -> list[FollowUpDigest]:
        """Cases with follow-ups written since the group's previous meeting ended, newest first."""
        async with self._session_factory() as session:
            since = await _previous_end(session, group_id, meeting_id)
            latest = func.max(FollowUp.created_at)
            query = (
                select(Case.id, Case.label, Case.forum_thread_id, func.count(FollowUp.id), latest)
                .join(FollowUp, FollowUp.case_id == Case.id)
                .where(Case.group_id == group_id, FollowUp.deleted_at.is_(None))
                .group_by(Case.id, Case.label, Case.forum_thread_id)
                .order_by(latest.desc())
            )
            if since is not None:
                query = query.where(FollowUp.created_at >= since)
            rows = (await session.execute(query)).all()
        return [FollowUpDigest(row[0], row[1], row[2], row[3], row[4]) for row in rows]

    # The session chat ---------------------------------------------------------------------------

    async def _on_clear_chat(self, key: str) -> None:
        await self.clear_chat(int(key))

    async def clear_chat(self, group_id: int) -> int:
        """Delete the chat's messages up to the end of the group's last meeting."""
        async with self._session_factory() as session:
            group = await session.get(Group, group_id)
            ended = await _previous_end(session, group_id, None)
        if group is None or ended is None:
            return 0
        if not GroupSettings.from_dict(group.settings).clear_text_channel:
            return 0
        channel = self._client.get_channel(group.text_channel_id or 0)
        if not isinstance(channel, discord.TextChannel):
            return 0
        cutoff = discord.utils.time_snowflake(self._clock.now() - BULK_DELETE_AGE)
        deleted = 0
        try:
            messages = [m async for m in channel.history(limit=None, before=ended)]
            recent = [m for m in messages if m.id > cutoff]
            for start in range(0, len(recent), 100):
                chunk = recent[start : start + 100]
                await channel.delete_messages(chunk, reason="Balint group: chat cleared")
                deleted += len(chunk)
            for message in messages:
                if message.id <= cutoff:
                    await message.delete()
                    deleted += 1
        except discord.HTTPException as error:
            log.warning("could not clear the chat of group %s: HTTP %s", group_id, error.status)
        return deleted


# Helpers ------------------------------------------------------------------------------------


def _validate_text(text: str) -> str:
    cleaned = text.strip()
    if not cleaned:
        raise UserFacingError("A follow-up needs some text.")
    if len(cleaned) > MAX_TEXT:
        raise UserFacingError(f"A follow-up can be at most {MAX_TEXT:,} characters.")
    return cleaned


async def _previous_end(
    session: AsyncSession, group_id: int, excluding_meeting_id: int | None
) -> datetime | None:
    """When the group's most recent ended meeting (other than the one given) ended."""
    query = select(func.max(Meeting.ended_at)).where(
        Meeting.group_id == group_id, Meeting.status == MeetingStatus.ENDED
    )
    if excluding_meeting_id is not None:
        query = query.where(Meeting.id != excluding_meeting_id)
    return (await session.execute(query)).scalar_one_or_none()


async def _cycles(session: AsyncSession, cases: Sequence[Case]) -> dict[int, int]:
    """Which meeting after each presented case the group's next one is: 1 for the first
    meeting after it (the meetings its group has ended since it was presented, plus one)."""
    if not cases:
        return {}
    # Counted per case through (group, status, start): a join would let the planner read
    # every ended meeting of the society first, years of them, once the cases are many.
    held_since = (
        select(func.count(Meeting.id))
        .where(
            Meeting.group_id == Case.group_id,
            Meeting.status == MeetingStatus.ENDED,
            Meeting.started_at > Case.presented_at,
        )
        .scalar_subquery()
    )
    held = await session.execute(
        select(Case.id, held_since).where(Case.id.in_([case.id for case in cases]))
    )
    counts = {case_id: count for case_id, count in held}
    return {case.id: counts[case.id] + 1 for case in cases}


async def _unsent_prompts(
    session: AsyncSession, group_ids: Sequence[int]
) -> dict[int, list[FollowUpPrompt]]:
    """The groups' prompts not sent yet, whatever meeting they were planned for, by group."""
    result = await session.execute(
        select(FollowUpPrompt, Case.group_id)
        .join(Case, Case.id == FollowUpPrompt.case_id)
        .where(Case.group_id.in_(group_ids), FollowUpPrompt.sent_at.is_(None))
    )
    by_group: dict[int, list[FollowUpPrompt]] = {}
    for prompt, group_id in result:
        by_group.setdefault(group_id, []).append(prompt)
    return by_group


def _groups_to_plan(shards: Shards) -> CompoundSelect[int]:
    """This process's groups with prompts to plan or re-plan: planning the others changes
    nothing, and a society has thousands of them."""
    return queries.on_shards(
        select(Case.group_id)
        .join(Group, Group.id == Case.group_id)
        .where(
            Group.archived_at.is_(None),
            Case.status == CaseStatus.PRESENTED,
            Case.presented_at.is_not(None),
        ),
        Group.server_id,
        shards,
    ).union(
        queries.on_shards(
            select(Case.group_id)
            .join(FollowUpPrompt, FollowUpPrompt.case_id == Case.id)
            .join(Group, Group.id == Case.group_id)
            .where(Group.archived_at.is_(None), FollowUpPrompt.sent_at.is_(None)),
            Group.server_id,
            shards,
        )
    )
