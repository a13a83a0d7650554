"""Alembic environment: async, reading the database URL from the bot's settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.config import Settings
from bot.db.engine import create_engine
from bot.db.models import Base

target_metadata = Base.metadata
# Several bot processes may start together, each running `balint-bot run` (README, "More
# than one process"): on PostgreSQL the first to take this lock migrates, the others wait
# for it and then find the database at the newest revision.
MIGRATION_LOCK = 0x62616C69


def _database_url() -> str:
    # A caller (the CLI, the tests) may hand over a URL; otherwise read the settings.
    configured = context.config.attributes.get("database_url")
    return str(configured) if configured else Settings.load().database_url


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def _run_async_migrations() -> None:
    engine = create_engine(_database_url())
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run_migrations)
            await conn.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async_migrations())
