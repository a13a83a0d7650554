"""Timestamps are stored in UTC and naive ones never reach the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Group, Server
from bot.db.types import NaiveDatetimeError

SYDNEY_SUMMER = timezone(timedelta(hours=11))


async def test_aware_datetime_comes_back_in_utc(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A time given in +11:00 is read back as the same instant, marked UTC."""
    local = datetime(2026, 1, 5, 19, 30, tzinfo=SYDNEY_SUMMER)
    async with session_factory() as session:
        session.add(Server(id=1, created_at=local))
        await session.commit()
    async with session_factory() as session:
        server = await session.get(Server, 1)
        assert server is not None
        assert server.created_at == local
        assert server.created_at.tzinfo == UTC
        assert server.created_at.hour == 8


async def test_naive_datetime_is_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A naive datetime raises instead of being stored as an unknown local time."""
    async with session_factory() as session:
        session.add(Server(id=2, created_at=datetime(2026, 1, 5, 19, 30)))  # noqa: DTZ001
        with pytest.raises(StatementError) as raised:
            await session.commit()
        assert isinstance(raised.value.orig, NaiveDatetimeError)


async def test_group_names_are_unique_per_server(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """Two groups of one server cannot share a name; another server may reuse it."""
    now = datetime.now(UTC)

    def group(server_id: int) -> Group:
        return Group(
            server_id=server_id,
            name="Tuesday group",
            timezone="Australia/Perth",
            agreement_text="",
            created_at=now,
        )

    async with session_factory() as session:
        session.add_all([Server(id=10, created_at=now), Server(id=11, created_at=now)])
        await session.flush()
        session.add_all([group(10), group(11)])
        await session.commit()
        session.add(group(10))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_foreign_keys_are_enforced(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A group of a server that does not exist is refused, on SQLite too."""
    async with session_factory() as session:
        session.add(
            Group(
                server_id=999,
                name="x",
                timezone="UTC",
                agreement_text="",
                created_at=datetime.now(UTC),
            )
        )
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_database_errors_never_show_the_values(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """An error message (which may reach a log) hides the values, e.g. follow-up text."""
    async with session_factory() as session:
        session.add(Group(server_id=999, name="secret case label", timezone="UTC",
                          agreement_text="", created_at=datetime.now(UTC)))
        with pytest.raises(IntegrityError) as raised:
            await session.commit()
    assert "secret case label" not in str(raised.value)
