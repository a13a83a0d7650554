"""The bot's own pacing keeps it under Discord's global limit."""

from __future__ import annotations

import asyncio

from bot.ratelimit import SlidingWindowLimiter


async def test_no_more_than_the_limit_in_any_window() -> None:
    """60 acquisitions with a limit of 20 per 0.1 s take at least two more windows."""
    limiter = SlidingWindowLimiter(20, window=0.1)
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def one() -> None:
        await limiter.acquire()
        times.append(loop.time())

    await asyncio.gather(*(one() for _ in range(60)))
    times.sort()
    assert len(times) == 60
    for index in range(len(times) - 20):
        assert times[index + 20] - times[index] >= 0.1 - 1e-3
    assert times[-1] - times[0] >= 0.2 - 1e-3


async def test_under_the_limit_nobody_waits() -> None:
    limiter = SlidingWindowLimiter(50, window=1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(limiter.acquire() for _ in range(50)))
    assert loop.time() - started < 0.05
