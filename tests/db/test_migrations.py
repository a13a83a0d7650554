"""The migrations build the schema the models describe, and undo it, on both databases."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, make_url

from bot.db import migrate
from bot.db.engine import create_engine
from bot.db.models import Base
from tests.conftest import POSTGRES_URL, fresh_database, sqlite_url


@pytest.fixture
async def empty_database_url(database_kind: str, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to a database with nothing in it (a new PostgreSQL database for each test)."""
    if database_kind == "sqlite":
        yield sqlite_url(tmp_path)
        return
    name = f"balint_mig_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


def _drift(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_upgrade_downgrade_upgrade_round_trip(empty_database_url: str) -> None:
    """upgrade head → downgrade base → upgrade head leaves the full schema in place."""
    await asyncio.to_thread(migrate.upgrade, empty_database_url)
    await asyncio.to_thread(migrate.downgrade, empty_database_url, "base")
    engine = create_engine(empty_database_url)
    async with engine.connect() as conn:
        assert await conn.run_sync(_table_names) == set()
    await asyncio.to_thread(migrate.upgrade, empty_database_url)
    async with engine.connect() as conn:
        assert await conn.run_sync(_table_names) == set(Base.metadata.tables)
    assert await migrate.current_revision(engine) is not None
    await engine.dispose()


async def test_models_and_migrations_agree(empty_database_url: str) -> None:
    """Autogenerate finds nothing to add after the migrations ran: no drift."""
    await asyncio.to_thread(migrate.upgrade, empty_database_url)
    engine = create_engine(empty_database_url)
    async with engine.connect() as conn:
        assert await conn.run_sync(_drift) == []
    await engine.dispose()


def _partial_indexes(connection: Connection) -> dict[str, str]:
    """Each partial index's condition, as the database itself renders it."""
    inspector = inspect(connection)
    return {
        str(index["name"]): str(condition)
        for table in inspector.get_table_names()
        for index in inspector.get_indexes(table)
        for option, condition in index.get("dialect_options", {}).items()
        if option.endswith("_where")
    }


async def test_partial_indexes_have_the_conditions_of_the_models(
    empty_database_url: str, database_kind: str, tmp_path: Path
) -> None:
    """Autogenerate does not compare an index's condition, and a planner uses a partial
    index only for a query whose condition implies it (SQLite: holds it as it is): the
    migrations must build the very conditions the models and their queries use."""
    await asyncio.to_thread(migrate.upgrade, empty_database_url)
    migrated = create_engine(empty_database_url)
    async with migrated.connect() as conn:
        built = await conn.run_sync(_partial_indexes)
    await migrated.dispose()
    (tmp_path / "models").mkdir()
    async with (
        fresh_database(database_kind, tmp_path / "models") as engine,
        engine.connect() as conn,
    ):
        described = await conn.run_sync(_partial_indexes)
    assert {"ix_followups_out_of_sync", "uq_meetings_one_live_per_group"} <= set(described)
    assert built == described


async def test_processes_starting_together_migrate_once(
    empty_database_url: str, database_kind: str
) -> None:
    """Two bot processes started at once on an empty database (as `balint-bot run` does
    with several shards) both end with the schema at head; neither fails half-way."""
    if database_kind == "sqlite":
        pytest.skip("several processes are a PostgreSQL set-up (the README says so); the "
                    "lock that serialises their migrations is PostgreSQL's advisory lock")
    env = {**os.environ, "DATABASE_URL": empty_database_url}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "db", "upgrade", env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.gather(*(p.communicate() for p in processes))
    assert [p.returncode for p in processes] == [0, 0], [out for out, _ in outputs]
    engine = create_engine(empty_database_url)
    assert await migrate.current_revision(engine) == migrate.head_revision()
    async with engine.connect() as conn:
        assert await conn.run_sync(_table_names) == set(Base.metadata.tables)
    await engine.dispose()
