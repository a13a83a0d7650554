"""The SQLite driver: one trip to aiosqlite's thread per statement, none to end a
transaction SQLite never began, and otherwise what SQLAlchemy's own adapter does."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.engine import create_engine, create_session_factory
from bot.db.models import Base, ClaimedInteraction
from tests.conftest import sqlite_url

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url(tmp_path))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every call sent to aiosqlite's worker thread, as it is sent."""
    sent: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *a: Any, **k: Any) -> Any:
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *a, **k)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent


def _factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


async def test_a_read_is_one_trip_and_closing_it_none(
    sqlite_engine: AsyncEngine, trips: list[str]
) -> None:
    async with _factory(sqlite_engine)() as session:
        await session.execute(select(ClaimedInteraction))  # the connection is opened
    trips.clear()
    async with _factory(sqlite_engine)() as session:
        rows = (await session.execute(text("SELECT 1, 'two' UNION ALL SELECT 3, 'four'"))).all()
    assert [tuple(r) for r in rows] == [(1, "two"), (3, "four")]
    assert trips == ["_run"]  # SQLAlchemy's adapter: cursor, execute, fetchall, close


async def test_a_write_is_one_trip_per_statement_and_one_to_commit(
    sqlite_engine: AsyncEngine, trips: list[str]
) -> None:
    factory = _factory(sqlite_engine)
    async with factory() as session:
        await session.execute(select(ClaimedInteraction))
    trips.clear()
    async with factory() as session:
        await session.execute(insert(ClaimedInteraction).values(id=1, claimed_at=NOW))
        await session.execute(
            insert(ClaimedInteraction), [{"id": 2, "claimed_at": NOW}, {"id": 3, "claimed_at": NOW}]
        )
        moved = await session.execute(
            update(ClaimedInteraction).where(ClaimedInteraction.id > 1).values(claimed_at=NOW)
        )
        assert moved.rowcount == 2  # type: ignore[attr-defined]
        await session.commit()
    assert trips == ["_run", "_run", "_run", "commit"]
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(ClaimedInteraction)) == 3


async def test_a_write_rolled_back_is_undone(sqlite_engine: AsyncEngine, trips: list[str]) -> None:
    factory = _factory(sqlite_engine)
    async with factory() as session:
        await session.execute(insert(ClaimedInteraction).values(id=7, claimed_at=NOW))
        await session.rollback()
    assert trips[-1] == "rollback"
    async with factory() as session:
        assert await session.scalar(select(func.count()).select_from(ClaimedInteraction)) == 0


async def test_an_error_is_sqlalchemys_and_the_session_goes_on(sqlite_engine: AsyncEngine) -> None:
    factory = _factory(sqlite_engine)
    async with factory() as session:
        session.add(ClaimedInteraction(id=5, claimed_at=NOW))
        await session.commit()
    async with factory() as session:
        session.add(ClaimedInteraction(id=5, claimed_at=NOW))
        with pytest.raises(IntegrityError):
            await session.commit()
        await session.rollback()
        stored = await session.get(ClaimedInteraction, 5)
        assert stored is not None
        assert stored.claimed_at == NOW


async def test_a_failed_connect_has_stopped_its_thread_when_it_raises(tmp_path: Path) -> None:
    """aiosqlite stops its thread after a failed connect and answers on the event loop;
    still running when `asyncio.run` closes the loop on the error, the thread dies with
    "Event loop is closed". The error comes only once the thread is done."""
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'no-such-folder' / 'x.db'}")
    before = set(threading.enumerate())
    try:
        with pytest.raises(OperationalError, match="unable to open database file"):
            async with engine.connect():
                pass
        started = set(threading.enumerate()) - before
        assert not [t for t in started if "_connection_worker_thread" in t.name]
    finally:
        await engine.dispose()
