"""Timed jobs fire once, in order, and a restart rebuilds them from scratch."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import OperationalError

from bot.clock import ManualClock, SystemClock
from bot.ratelimit import Priority, work_priority
from bot.scheduler import CONCURRENCY, DATABASE_RETRY_DELAY, NEAR, JobScheduler

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


async def test_due_jobs_run_a_few_at_a_time_with_their_priority() -> None:
    """Thousands of jobs due at start-up do not all start at once (they would only queue
    on the database pool and time out); each runs at its kind's priority."""
    clock = ManualClock(START)
    jobs = JobScheduler(clock)
    running = 0
    most = 0
    seen: set[Priority] = set()

    async def handler(_key: str) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        seen.add(work_priority.get())
        await asyncio.sleep(0)
        running -= 1

    jobs.register("plan", handler)
    for index in range(200):
        jobs.schedule("plan", str(index), START)
    jobs.start()
    assert sum(1 for task in asyncio.all_tasks() if "_work" in repr(task.get_coro())) == (
        CONCURRENCY[Priority.BACKGROUND]
    )
    await jobs.wait_idle()
    assert jobs.pending() == []
    assert most == CONCURRENCY[Priority.BACKGROUND]
    assert seen == {Priority.BACKGROUND}


async def test_a_queued_job_moved_later_waits_for_its_new_time() -> None:
    clock = ManualClock(START)
    jobs = JobScheduler(clock)
    fired: list[str] = []

    async def handler(key: str) -> None:
        fired.append(key)

    jobs.register("remind", handler, Priority.TIMED)
    jobs.start()
    jobs.schedule("remind", "a", START)  # queued for a worker
    jobs.schedule("remind", "a", START + timedelta(hours=1))
    await jobs.wait_idle()
    assert fired == []
    await clock.advance(timedelta(hours=1))
    assert fired == ["a"]


async def test_apscheduler_holds_only_the_jobs_that_come_near() -> None:
    """Ten thousand reminder jobs days ahead stay in the scheduler's own table; a job
    moved near is handed to APScheduler and fires, one moved away is taken back."""
    jobs = JobScheduler(SystemClock())
    fired: list[str] = []
    done = asyncio.Event()

    async def handler(key: str) -> None:
        fired.append(key)
        done.set()

    jobs.register("remind", handler)
    now = datetime.now(UTC)
    for index in range(1000):
        jobs.schedule("remind", f"far-{index}", now + NEAR + timedelta(hours=1, seconds=index))
    jobs.schedule("remind", "near", now + timedelta(minutes=5))
    jobs.start()
    held = jobs._apscheduler
    assert held is not None

    def holds() -> set[str]:
        return {job.id for job in held.get_jobs() if job.id.startswith("remind:")}

    assert holds() == {"remind:near"}
    jobs.schedule("remind", "near", now + NEAR + timedelta(hours=2))
    jobs.schedule("remind", "far-0", datetime.now(UTC) + timedelta(milliseconds=50))
    assert holds() == {"remind:far-0"}
    await asyncio.wait_for(done.wait(), timeout=5)
    jobs.shutdown()
    assert fired == ["far-0"]
    assert len(jobs.pending()) == 1000
