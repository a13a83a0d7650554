"""Timed jobs fire once, in order, and a restart rebuilds them from scratch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import OperationalError

from bot.clock import ManualClock, SystemClock
from bot.scheduler import DATABASE_RETRY_DELAY, JobScheduler

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def test_manual_clock_runs_due_jobs_in_time_order() -> None:
    clock = ManualClock(START)
    jobs = JobScheduler(clock)
    fired: list[str] = []

    async def handler(key: str) -> None:
        fired.append(key)

    jobs.register("remind", handler)
    jobs.start()
    jobs.schedule("remind", "late", START + timedelta(hours=2))
    jobs.schedule("remind", "early", START + timedelta(hours=1))
    jobs.schedule("remind", "next-day", START + timedelta(days=1))
    await clock.advance(timedelta(hours=3))
    assert fired == ["early", "late"]
    assert [job.key for job in jobs.pending()] == ["next-day"]


async def test_rescheduling_replaces_and_cancel_removes() -> None:
    clock = ManualClock(START)
    jobs = JobScheduler(clock)
    fired: list[str] = []

    async def handler(key: str) -> None:
        fired.append(key)

    jobs.register("cue", handler)
    jobs.start()
    jobs.schedule("cue", "a", START + timedelta(minutes=5))
    jobs.schedule("cue", "a", START + timedelta(minutes=50))
    jobs.schedule("cue", "b", START + timedelta(minutes=5))
    jobs.cancel("cue", "b")
    await clock.advance(timedelta(minutes=10))
    assert fired == []
    await clock.advance(timedelta(minutes=40))
    assert fired == ["a"]


async def test_overdue_job_runs_at_start() -> None:
    """A job due before start-up (the bot was down) runs as soon as the scheduler starts."""
    clock = ManualClock(START)
    jobs = JobScheduler(clock)
    fired: list[str] = []

    async def handler(key: str) -> None:
        fired.append(key)

    jobs.register("remind", handler)
    jobs.schedule("remind", "missed", START - timedelta(minutes=30))
    jobs.start()
    await jobs.wait_idle()
    assert fired == ["missed"]


async def test_failing_handler_does_not_stop_others() -> None:
    clock = ManualClock(START)
    jobs = JobScheduler(clock)
    fired: list[str] = []

    async def broken(key: str) -> None:
        raise RuntimeError(key)

    async def handler(key: str) -> None:
        fired.append(key)

    jobs.register("broken", broken)
    jobs.register("ok", handler)
    jobs.start()
    jobs.schedule("broken", "x", START + timedelta(seconds=1))
    jobs.schedule("ok", "y", START + timedelta(seconds=2))
    await clock.advance(timedelta(seconds=5))
    assert fired == ["y"]


async def test_apscheduler_fires_on_the_real_clock() -> None:
    """With the system clock, APScheduler wakes the job at its time."""
    jobs = JobScheduler(SystemClock())
    done = asyncio.Event()

    async def handler(key: str) -> None:
        done.set()

    jobs.register("tick", handler)
    jobs.start()
    jobs.schedule("tick", "soon", datetime.now(UTC) + timedelta(milliseconds=50))
    await asyncio.wait_for(done.wait(), timeout=5)
    jobs.shutdown()
    assert jobs.pending() == []


async def test_job_failing_on_the_database_is_retried_until_it_succeeds() -> None:
    """A reminder due while the database is away is not dropped: it runs once it is back."""
    clock = ManualClock(START)
    jobs = JobScheduler(clock)
    attempts: list[str] = []

    async def handler(key: str) -> None:
        attempts.append(key)
        if len(attempts) < 3:
            raise OperationalError("SELECT 1", None, ConnectionRefusedError("database down"))

    jobs.register("remind", handler)
    jobs.start()
    jobs.schedule("remind", "r1", START + timedelta(minutes=1))
    await clock.advance(timedelta(minutes=1))
    assert attempts == ["r1"]
    assert [job.key for job in jobs.pending("remind")] == ["r1"]
    await clock.advance(DATABASE_RETRY_DELAY)
    await clock.advance(DATABASE_RETRY_DELAY)
    assert attempts == ["r1", "r1", "r1"]
    assert jobs.pending("remind") == []


async def test_job_failing_otherwise_is_not_retried() -> None:
    """A bug is not retried forever: only a database that could not be reached is."""
    clock = ManualClock(START)
    jobs = JobScheduler(clock)
    attempts: list[str] = []

    async def handler(key: str) -> None:
        attempts.append(key)
        raise ValueError("a bug")

    jobs.register("cue", handler)
    jobs.start()
    jobs.schedule("cue", "c1", START)
    await clock.advance(DATABASE_RETRY_DELAY * 3)
    await jobs.wait_idle()
    assert attempts == ["c1"]
    assert jobs.pending() == []
