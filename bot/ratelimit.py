"""Keeping under Discord's global rate limit instead of running into it.

Discord allows a bot about 50 requests a second across all routes (interaction
callbacks and webhooks aside). discord.py only reacts to a 429 after the fact and
gives up after five tries, and every 429 counts towards the 10,000 invalid
requests in 10 minutes that get a bot's IP banned. So the bot paces itself.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import discord

# Interaction responses and follow-ups are not counted by Discord's global limit.
EXEMPT_PREFIXES = ("/interactions/", "/webhooks/")
REQUESTS_PER_SECOND = 45


class SlidingWindowLimiter:
    """At most `limit` acquisitions in any `window` seconds, granted in arrival order."""

    def __init__(self, limit: int, window: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._granted: deque[float] = deque()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                while self._granted and self._granted[0] <= now - self._window:
                    self._granted.popleft()
                if len(self._granted) < self._limit:
                    self._granted.append(now)
                    return
                await asyncio.sleep(self._granted[0] + self._window - now)


def pace_requests(http: discord.http.HTTPClient, limiter: SlidingWindowLimiter) -> None:
    """Make every counted REST request of this client wait for the limiter first."""
    send: Callable[..., Awaitable[Any]] = http.request

    async def paced(route: discord.http.Route, **kwargs: Any) -> Any:
        if not route.path.startswith(EXEMPT_PREFIXES):
            await limiter.acquire()
        return await send(route, **kwargs)

    setattr(http, "request", paced)  # noqa: B010 - an instance attribute, by design
