"""Queries more than one service needs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    ClaimedInteraction,
    Group,
    Meeting,
    MeetingStatus,
    MemberRole,
    Membership,
    MembershipStatus,
    Server,
)

LEADER_ROLES = (MemberRole.LEADER, MemberRole.CO_LEADER)
# Discord gives an interaction 15 minutes of life; claims older than that serve nothing.
CLAIMS_KEPT_FOR = timedelta(hours=1)


async def ensure_server(session: AsyncSession, server_id: int, now: datetime) -> Server:
    """The server's row, created on first use."""
    server = await session.get(Server, server_id)
    if server is None:
        server = Server(id=server_id, created_at=now)
        session.add(server)
        await session.flush()
    return server


async def group_by_name(session: AsyncSession, server_id: int, name: str) -> Group | None:
    result = await session.execute(
        select(Group).where(Group.server_id == server_id, Group.name == name)
    )
    return result.scalar_one_or_none()


async def group_by_channel(
    session: AsyncSession, server_id: int, channel_ids: Sequence[int]
) -> Group | None:
    """The group that owns any of these channels (a channel, its category, its forum)."""
    ids = [channel_id for channel_id in channel_ids if channel_id]
    if not ids:
        return None
    result = await session.execute(
        select(Group).where(
            Group.server_id == server_id,
            Group.archived_at.is_(None),
            or_(
                Group.text_channel_id.in_(ids),
                Group.category_id.in_(ids),
                Group.voice_channel_id.in_(ids),
                Group.forum_channel_id.in_(ids),
            ),
        )
    )
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


async def all_memberships(session: AsyncSession, group_id: int) -> Sequence[Membership]:
    result = await session.execute(
        select(Membership)
        .where(Membership.group_id == group_id)
        .order_by(Membership.role, Membership.invited_at, Membership.user_id)
    )
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


async def live_meeting(session: AsyncSession, group_id: int) -> Meeting | None:
    result = await session.execute(
        select(Meeting).where(Meeting.group_id == group_id, Meeting.status == MeetingStatus.LIVE)
    )
    return result.scalars().first()


async def next_meeting(session: AsyncSession, group_id: int, now: datetime) -> Meeting | None:
    result = await session.execute(
        select(Meeting)
        .where(
            Meeting.group_id == group_id,
            Meeting.status == MeetingStatus.SCHEDULED,
            Meeting.scheduled_start >= now,
        )
        .order_by(Meeting.scheduled_start)
        .limit(1)
    )
    return result.scalar_one_or_none()


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


async def claim_interaction(session: AsyncSession, interaction_id: int, now: datetime) -> bool:
    """True if this process is the first to take the interaction on (the row's primary
    key decides between two processes on one database); old claims are pruned."""
    await session.execute(
        delete(ClaimedInteraction).where(ClaimedInteraction.claimed_at < now - CLAIMS_KEPT_FOR)
    )
    session.add(ClaimedInteraction(id=interaction_id, claimed_at=now))
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return False
    return True
