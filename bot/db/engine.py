"""Building the async engine and session factory from a database URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.config import SUPPORTED_DATABASE_SCHEMES
from bot.db.sqlite_driver import one_trip_dbapi

# Seconds; each below the 3 s an interaction has before its token expires.
DATABASE_CONNECT_TIMEOUT = 1.5
DATABASE_COMMAND_TIMEOUT = 2.0


class DatabaseConfigError(ValueError):
    """The database URL cannot be used; the message says why in plain words."""


def parse_database_url(database_url: str) -> URL:
    """Check the URL names a driver the bot ships with, before anything connects."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise DatabaseConfigError(
            "DATABASE_URL is not a database URL; use e.g. sqlite+aiosqlite:///balint.db "
            "or postgresql+asyncpg://user@host/dbname."
        ) from None
    if url.drivername not in SUPPORTED_DATABASE_SCHEMES:
        supported = " or ".join(f"{scheme}://" for scheme in SUPPORTED_DATABASE_SCHEMES)
        raise DatabaseConfigError(
            f"DATABASE_URL uses '{url.drivername}', which balint-bot does not support; "
            f"use {supported}."
        )
    return url


def create_engine(database_url: str, **engine_options: Any) -> AsyncEngine:
    """An engine with SQLite made to honour foreign keys and wait for locks."""
    url = parse_database_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine_options.setdefault("connect_args", {}).setdefault("timeout", 30)
        engine_options.setdefault("module", one_trip_dbapi())
    # Database errors end up in logs: they must never carry follow-up text or labels.
    engine_options.setdefault("hide_parameters", True)
    if url.get_backend_name() == "postgresql":
        # A dead or unreachable server must fail a command well inside Discord's 3 s
        # deadline (so it can still answer "try again"), not hang on TCP timeouts.
        connect_args = engine_options.setdefault("connect_args", {})
        connect_args.setdefault("timeout", DATABASE_CONNECT_TIMEOUT)
        connect_args.setdefault("command_timeout", DATABASE_COMMAND_TIMEOUT)
        engine_options.setdefault("pool_timeout", DATABASE_CONNECT_TIMEOUT)
    engine = create_async_engine(
        url, pool_pre_ping=url.get_backend_name() != "sqlite", **engine_options
    )
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Foreign keys on; WAL so readers never wait for a writer (a second bot process,
    the CLI) and commits need no full fsync, which keeps a phase change in milliseconds."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions whose objects stay readable after commit, as async code needs."""
    return async_sessionmaker(engine, expire_on_commit=False)


def database_unavailable(error: BaseException) -> bool:
    """The database could not be reached or dropped the connection: worth a retry, and
    nothing the person did wrong (a constraint or a bug is not this)."""
    if isinstance(error, OperationalError | InterfaceError | PoolTimeout):
        return True
    if isinstance(error, DBAPIError):
        return error.connection_invalidated
    # asyncpg raises these before SQLAlchemy can wrap them (refused, reset, timed out).
    return isinstance(error, OSError | TimeoutError)
