"""Time as the bot sees it: injected, so tests can move it without sleeping."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time in UTC."""

    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


TimeListener = Callable[[datetime], Awaitable[None]]


class ManualClock:
    """A clock that only moves when a test moves it.

    Listeners (the job scheduler) are awaited after each move, so that work
    due by the new time has run when `advance` returns.
    """

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._listeners: list[TimeListener] = []

    def now(self) -> datetime:
        return self._now

    def subscribe(self, listener: TimeListener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: TimeListener) -> None:
        self._listeners.remove(listener)

    async def advance(self, delta: timedelta) -> None:
        await self.set(self._now + delta)

    async def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware time")
        self._now = when.astimezone(UTC)
        for listener in list(self._listeners):
            await listener(self._now)
