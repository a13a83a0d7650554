"""The live meeting and the next one, read together for `/group info`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import queries
from bot.db.models import Group, Meeting, MeetingStatus, Server

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _meeting(group: Group, hours_from_now: float, status: MeetingStatus) -> Meeting:
    start = NOW + timedelta(hours=hours_from_now)
    return Meeting(
        group_id=group.id,
        scheduled_start=start,
        planned_end=start + timedelta(minutes=90),
        status=status,
        created_at=NOW,
    )


async def test_the_live_meeting_and_the_next_one_come_from_one_statement(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        session.add(Server(id=1, created_at=NOW))
        await session.flush()
        group = Group(server_id=1, name="Tuesday group", timezone="UTC", agreement_text="",
                      created_at=NOW)
        other = Group(server_id=1, name="Friday group", timezone="UTC", agreement_text="",
                      created_at=NOW)
        session.add_all([group, other])
        await session.flush()
        assert await queries.live_and_next_meeting(session, group.id, NOW) == (None, None)
        later = _meeting(group, 24 * 14, MeetingStatus.SCHEDULED)
        sooner = _meeting(group, 24 * 7, MeetingStatus.SCHEDULED)
        session.add_all([
            later,
            sooner,
            _meeting(group, -24 * 7, MeetingStatus.SCHEDULED),  # past, never held
            _meeting(group, 24, MeetingStatus.CANCELLED),
            _meeting(other, 1, MeetingStatus.SCHEDULED),
        ])
        await session.flush()
        assert await queries.live_and_next_meeting(session, group.id, NOW) == (None, sooner)
        live = _meeting(group, -0.5, MeetingStatus.LIVE)
        session.add(live)
        await session.flush()
        assert await queries.live_and_next_meeting(session, group.id, NOW) == (live, sooner)
        assert await queries.live_meeting(session, group.id) is live
        assert await queries.next_meeting(session, group.id, NOW) is sooner
