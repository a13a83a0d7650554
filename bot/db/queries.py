"""Queries more than one service needs."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import TypeVarTuple

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from bot.db.models import (
    ClaimedInteraction,
    FrameEvent,
    FrameEventKind,
    Group,
    Meeting,
    MeetingStatus,
    MemberRole,
    Membership,
    MembershipStatus,
    OverwriteChange,
    RoundTurn,
    Server,
)
from bot.domain.rounds import Turn, TurnStatus
from bot.domain.shards import Shards

Columns = TypeVarTuple("Columns")

LEADER_ROLES = (MemberRole.LEADER, MemberRole.CO_LEADER)
# Discord gives an interaction 15 minutes of life; claims older than that serve nothing.
CLAIMS_KEPT_FOR = timedelta(hours=1)
# How often a process prunes the claims older than that.
CLAIMS_PRUNED_EVERY = timedelta(minutes=10)


async def ensure_server(session: AsyncSession, server_id: int, now: datetime) -> Server:
    """The server's row, created on first use."""
    server = await session.get(Server, server_id)
    if server is None:
        server = Server(id=server_id, created_at=now)
        session.add(server)
        await session.flush()
    return server


def on_shards(
    query: Select[*Columns],
    server_id: QueryableAttribute[int],
    shards: Shards,
    only: int | None = None,
) -> Select[*Columns]:
    """Only the rows of the guilds this process owns (and of the server `only`, if
    given); unchanged when it owns every one."""
    if only is not None:
        query = query.where(server_id == only)
    subset = shards.subset
    if subset is None:
        return query
    count, ids = subset
    # PostgreSQL shifts a bigint by an integer only (no bigint >> bigint).
    shifted = server_id.op(">>", return_type=BigInteger)(literal_column("22", Integer))
    return query.where((shifted % count).in_(ids))


async def live_meetings(
    session: AsyncSession, shards: Shards, server_id: int | None = None
) -> list[tuple[Meeting, Group]]:
    """The live meetings of this process's guilds (of the server `server_id`, if given),
    each with its group, in one statement."""
    query = select(Meeting, Group).join(Group, Group.id == Meeting.group_id)
    query = query.where(Meeting.status == MeetingStatus.LIVE)
    result = await session.execute(on_shards(query, Group.server_id, shards, server_id))
    return [(meeting, group) for meeting, group in result.all()]


async def changes_in_force_outside(
    session: AsyncSession,
    meeting_ids: Collection[int],
    shards: Shards,
    server_id: int | None = None,
) -> Sequence[OverwriteChange]:
    """The overwrite changes still in force of any meeting but these, oldest first: what a
    reconciliation lifts. Found through the index of changes in force, not the history."""
    query = (
        select(OverwriteChange)
        .join(Meeting, Meeting.id == OverwriteChange.meeting_id)
        .join(Group, Group.id == Meeting.group_id)
        .where(
            OverwriteChange.restored_at.is_(None),
            OverwriteChange.meeting_id.not_in(meeting_ids),
        )
        .order_by(OverwriteChange.id)
    )
    result = await session.execute(on_shards(query, Group.server_id, shards, server_id))
    return result.scalars().all()


async def group_by_name(session: AsyncSession, server_id: int, name: str) -> Group | None:
    result = await session.execute(
        select(Group).where(Group.server_id == server_id, Group.name == name)
    )
    return result.scalar_one_or_none()


_CHANNEL_IDS: BindParameter[int] = bindparam("channel_ids", expanding=True)
# The active group of the server bound as `server_id` that owns any of the channels bound
# as `channel_ids` (a channel, its category, its forum): values from `owning_values`.
# Statements are built on it once: building one per command cost about as much as
# running it (issue 13).
OWNS_CHANNEL = and_(
    Group.server_id == bindparam("server_id"),
    Group.archived_at.is_(None),
    or_(
        Group.text_channel_id.in_(_CHANNEL_IDS),
        Group.category_id.in_(_CHANNEL_IDS),
        Group.voice_channel_id.in_(_CHANNEL_IDS),
        Group.forum_channel_id.in_(_CHANNEL_IDS),
    ),
)
_GROUP_BY_CHANNEL = select(Group).where(OWNS_CHANNEL)


def owning_values(server_id: int, channel_ids: Sequence[int]) -> dict[str, object]:
    """The values `OWNS_CHANNEL` binds (a channel may have no category or forum: 0)."""
    return {
        "server_id": server_id,
        "channel_ids": [channel_id for channel_id in channel_ids if channel_id],
    }


async def group_by_channel(
    session: AsyncSession, server_id: int, channel_ids: Sequence[int]
) -> Group | None:
    """The group that owns any of these channels (a channel, its category, its forum)."""
    if not any(channel_ids):
        return None
    result = await session.execute(_GROUP_BY_CHANNEL, owning_values(server_id, channel_ids))
    return result.scalars().first()


async def groups_of_server(
    session: AsyncSession, server_id: int, *, include_archived: bool = False
) -> Sequence[Group]:
    query = select(Group).where(Group.server_id == server_id).order_by(Group.name)
    if not include_archived:
        query = query.where(Group.archived_at.is_(None))
    return (await session.execute(query)).scalars().all()


async def membership(session: AsyncSession, group_id: int, user_id: int) -> Membership | None:
    result = await session.execute(
        select(Membership).where(Membership.group_id == group_id, Membership.user_id == user_id)
    )
    return result.scalar_one_or_none()


async def active_memberships(session: AsyncSession, group_id: int) -> Sequence[Membership]:
    """Members and leaders who accepted the agreement and have not left, leaders first."""
    result = await session.execute(
        select(Membership)
        .where(Membership.group_id == group_id, Membership.status == MembershipStatus.ACTIVE)
        .order_by(Membership.role, Membership.joined_at, Membership.user_id)
    )
    return result.scalars().all()


_ALL_MEMBERSHIPS = (
    select(Membership)
    .where(Membership.group_id == bindparam("group_id"))
    .order_by(Membership.role, Membership.invited_at, Membership.user_id)
)


async def all_memberships(session: AsyncSession, group_id: int) -> Sequence[Membership]:
    result = await session.execute(_ALL_MEMBERSHIPS, {"group_id": group_id})
    return result.scalars().all()


async def leader_ids(session: AsyncSession, group_id: int) -> list[int]:
    result = await session.execute(
        select(Membership.user_id).where(
            Membership.group_id == group_id,
            Membership.status == MembershipStatus.ACTIVE,
            Membership.role.in_(LEADER_ROLES),
        )
    )
    return list(result.scalars().all())


_LIVE = and_(Meeting.group_id == bindparam("group_id"), Meeting.status == MeetingStatus.LIVE)
_COMING = and_(
    Meeting.group_id == bindparam("group_id"),
    Meeting.status == MeetingStatus.SCHEDULED,
    Meeting.scheduled_start >= bindparam("now"),
)
_LIVE_MEETING = select(Meeting).where(_LIVE)
_NEXT_MEETING = select(Meeting).where(_COMING).order_by(Meeting.scheduled_start).limit(1)
# The live meeting first, if any, then the next scheduled one.
_LIVE_THEN_NEXT = (
    select(Meeting)
    .where(or_(_LIVE, _COMING))
    .order_by(case((Meeting.status == MeetingStatus.LIVE, 0), else_=1), Meeting.scheduled_start)
    .limit(2)
)


async def live_meeting(session: AsyncSession, group_id: int) -> Meeting | None:
    result = await session.execute(_LIVE_MEETING, {"group_id": group_id})
    return result.scalars().first()


async def next_meeting(session: AsyncSession, group_id: int, now: datetime) -> Meeting | None:
    result = await session.execute(_NEXT_MEETING, {"group_id": group_id, "now": now})
    return result.scalar_one_or_none()


async def live_and_next_meeting(
    session: AsyncSession, group_id: int, now: datetime
) -> tuple[Meeting | None, Meeting | None]:
    """`live_meeting` and `next_meeting` in one statement."""
    found = (
        await session.execute(_LIVE_THEN_NEXT, {"group_id": group_id, "now": now})
    ).scalars().all()
    live = next((m for m in found if m.status == MeetingStatus.LIVE), None)
    coming = next((m for m in found if m.status == MeetingStatus.SCHEDULED), None)
    return live, coming


async def next_meetings(
    session: AsyncSession, group_ids: Sequence[int], now: datetime
) -> dict[int, Meeting]:
    """`next_meeting` of many groups in one statement, by group (groups with none left out)."""
    if not group_ids:
        return {}
    upcoming = and_(
        Meeting.group_id.in_(group_ids),
        Meeting.status == MeetingStatus.SCHEDULED,
        Meeting.scheduled_start >= now,
    )
    firsts = (
        select(Meeting.group_id, func.min(Meeting.scheduled_start).label("start"))
        .where(upcoming)
        .group_by(Meeting.group_id)
        .subquery()
    )
    result = await session.execute(
        select(Meeting)
        .join(
            firsts,
            and_(Meeting.group_id == firsts.c.group_id, Meeting.scheduled_start == firsts.c.start),
        )
        .where(upcoming)
        .order_by(Meeting.id)
    )
    found: dict[int, Meeting] = {}
    for meeting in result.scalars():
        found.setdefault(meeting.group_id, meeting)
    return found


async def user_groups(
    session: AsyncSession, server_id: int, user_id: int, *, leaders_only: bool = False
) -> Sequence[Group]:
    """The active groups in this server where the user is an active member (or leader)."""
    query = (
        select(Group)
        .join(Membership, Membership.group_id == Group.id)
        .where(
            Group.server_id == server_id,
            Group.archived_at.is_(None),
            Membership.user_id == user_id,
            Membership.status == MembershipStatus.ACTIVE,
        )
        .order_by(Group.name)
    )
    if leaders_only:
        query = query.where(Membership.role.in_(LEADER_ROLES))
    return (await session.execute(query)).scalars().all()


async def claim_interactions(
    session: AsyncSession, interaction_ids: Sequence[int], now: datetime, *, prune: bool = True
) -> set[int]:
    """The interactions this process is the first to take on (the row's primary key
    decides between two processes on one database), in one statement however many
    arrived together; old claims are pruned if asked (not on every claim: it is a
    statement on the way to every answer)."""
    if prune:
        await session.execute(
            delete(ClaimedInteraction).where(ClaimedInteraction.claimed_at < now - CLAIMS_KEPT_FOR)
        )
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    claimed = await session.execute(
        insert(ClaimedInteraction)
        .values([{"id": i, "claimed_at": now} for i in interaction_ids])
        .on_conflict_do_nothing(index_elements=[ClaimedInteraction.id])
        .returning(ClaimedInteraction.id)
    )
    taken = set(claimed.scalars())
    await session.commit()
    return taken


async def round_turns(session: AsyncSession, meeting_id: int) -> tuple[list[Turn], bool]:
    """A meeting's check-in round as stored (in speaking order), and whether it runs
    "one voice at a time"; no turns means no round."""
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
    return [Turn(r.user_id, TurnStatus(r.status)) for r in rows], any(r.one_voice for r in rows)


async def stand_in_id(session: AsyncSession, group_id: int) -> int | None:
    """Who holds the group's live meeting in place of its leader, if anyone."""
    result = await session.execute(
        select(FrameEvent.user_id)
        .join(Meeting, Meeting.id == FrameEvent.meeting_id)
        .where(
            Meeting.group_id == group_id,
            Meeting.status == MeetingStatus.LIVE,
            FrameEvent.kind == FrameEventKind.STAND_IN,
            FrameEvent.ended_at.is_(None),
        )
    )
    return result.scalars().first()
