"""Fixtures shared by every layer of tests.

Database tests run once per database named in TEST_DATABASES (default: both
SQLite and PostgreSQL). PostgreSQL tests each get a schema of their own in the
TEST_DATABASE_URL database, so they never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.engine import create_engine, create_session_factory
from bot.db.models import Base

pytest_plugins = ["tests.emulator.fixtures"]

POSTGRES_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
DATABASE_KINDS = [
    kind.strip()
    for kind in os.environ.get("TEST_DATABASES", "sqlite,postgresql").split(",")
    if kind.strip()
]


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'balint-test.db'}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Check PostgreSQL once, up front: a missing server or database is one line, not
    a traceback per test."""
    if "postgresql" not in DATABASE_KINDS:
        return
    url = make_url(POSTGRES_URL)

    async def probe() -> None:
        engine = create_engine(POSTGRES_URL)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(probe())
    except Exception as error:  # drivers raise many types; each means "cannot use it"
        detail = str(getattr(error, "orig", None) or error)
        if "does not exist" in detail and "database" in detail:
            reason = (
                f"PostgreSQL has no database {url.database!r}: create it with "
                f"`createdb -h {url.host} -p {url.port or 5432} -U {url.username} "
                f"{url.database}`"
            )
        else:
            reason = f"PostgreSQL at {url.host}:{url.port or 5432} cannot be used ({detail})"
        pytest.exit(
            f"{reason}, set TEST_DATABASE_URL, or run on SQLite only with "
            "TEST_DATABASES=sqlite.",
            returncode=2,
        )


@pytest.fixture(params=DATABASE_KINDS)
def database_kind(request: pytest.FixtureRequest) -> str:
    kind = str(request.param)
    if kind not in {"sqlite", "postgresql"}:
        pytest.fail(f"TEST_DATABASES names '{kind}'; use sqlite and/or postgresql")
    return kind


@asynccontextmanager
async def fresh_database(kind: str, folder: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database with the current schema: a SQLite file in
    `folder`, or a PostgreSQL schema of its own, dropped afterwards."""
    if kind == "sqlite":
        sqlite_engine = create_engine(sqlite_url(folder))
        async with sqlite_engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        try:
            yield sqlite_engine
        finally:
            await sqlite_engine.dispose()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OSError as error:
        await admin.dispose()
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}")
    pg_engine = create_engine(
        POSTGRES_URL, connect_args={"server_settings": {"search_path": schema}}
    )
    try:
        async with pg_engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        yield pg_engine
    finally:
        await pg_engine.dispose()
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


@pytest.fixture
async def engine(database_kind: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine on an empty database with the current schema."""
    async with fresh_database(database_kind, tmp_path) as fresh:
        yield fresh


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)

