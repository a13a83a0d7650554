"""SQLite through aiosqlite, one trip to its worker thread per statement.

SQLAlchemy's aiosqlite adapter makes four trips to aiosqlite's thread per statement
(open a cursor, execute, fetch the rows, close the cursor). Each trip is a thread woken
and the event loop woken back, about 0.2 ms on a small machine: most of what a
statement costs, and a phase change runs five. Here the whole statement runs in one
trip and comes back finished: its rows, description, row count and last row id.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT, await_


@dataclass
class _Finished:
    """What a statement left behind, read in the worker thread before its cursor closed."""

    description: Any = None
    rows: list[Any] = field(default_factory=list)
    rowcount: int = -1
    lastrowid: int | None = None
    arraysize: int = 1

    def close(self) -> None:
        """Nothing is open: the cursor was closed in the worker thread."""


def _run(
    connection: sqlite3.Connection, call: Callable[[sqlite3.Cursor], object]
) -> _Finished:
    """In aiosqlite's thread: run the statement and read everything it gives back."""
    cursor = connection.cursor()
    try:
        call(cursor)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return _Finished(description, rows, cursor.rowcount, cursor.lastrowid)
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement runs in one trip; its rows are then read in memory, as
    SQLAlchemy's adapter already does after fetching them all."""

    __slots__ = ()
    # `close` has nothing to wait for: the cursor was closed in the worker thread.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = _Finished()  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        if parameters is None:
            await self._trip(lambda cursor: cursor.execute(operation))
        else:
            await self._trip(lambda cursor: cursor.execute(operation, parameters))

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._trip(lambda cursor: cursor.executemany(operation, seq_of_parameters))

    async def _trip(self, call: Callable[[sqlite3.Cursor], object]) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            finished: _Finished = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, call
            )
        self._cursor = finished  # type: ignore[assignment]
        self._rows = collections.deque(finished.rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """No trip at all to end a transaction SQLite never began: Python's sqlite3 begins
    one only before a write, so a session that only read closes without waiting."""

    __slots__ = ()
    _cursor_cls = OneTripCursor  # type: ignore[assignment]

    def rollback(self) -> None:
        if self._began():
            super().rollback()

    def commit(self) -> None:
        if self._began():
            super().commit()

    def _began(self) -> bool:
        # Read from the loop's thread: sqlite3's same-thread check does not cover it.
        sqlite: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        return sqlite._connection is not None and sqlite._connection.in_transaction


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite as SQLAlchemy sees it, with the one-trip cursor; passed to the engine as
    its `module`."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = aiosqlite.connect(*arg, **kw)
        # A daemon, as in SQLAlchemy's adapter: a connection never closed must not keep
        # the process alive.
        connection._thread.daemon = True
        try:
            connected = await_(connection)
        except BaseException:
            # aiosqlite stops its thread after a failed connect, which then answers on the
            # event loop; closed meanwhile (`asyncio.run` ending on the error), the thread
            # dies with "Event loop is closed". The stop is quick: wait for it here.
            if connection._thread.is_alive():
                connection._thread.join()
            raise
        return OneTripConnection(self, connected)  # type: ignore[arg-type]


def one_trip_dbapi() -> OneTripDBAPI:
    """The DBAPI module the SQLite engine is built with."""
    return OneTripDBAPI(aiosqlite, sqlite3)
