"""Timed jobs: a cache over the database, rebuilt from it at start-up.

Features register a handler per job kind and schedule `(kind, key)` at a time.
The handler is given the key and must itself check the database (a `sent_at`
column, a status) before acting, so a job that fires twice, late, or in two
processes at once does its work only once. In production APScheduler wakes the
jobs; under a `ManualClock` the clock's moves run whatever has come due.

Jobs that fall due together (every group's planning at start-up, a thousand
reminders in one minute) wait in a queue per priority and run a few at a time:
thousands of tasks at once would only queue on the database pool and time out.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock, ManualClock
from bot.db.engine import database_unavailable
from bot.domain.shards import EVERY_GUILD, Shards
from bot.ratelimit import Priority, priority

log = logging.getLogger(__name__)

# A database outage is usually seconds long (a restart, a fail-over).
DATABASE_RETRY_DELAY = timedelta(seconds=15)

JobHandler = Callable[[str], Awaitable[None]]

# APScheduler is given only the jobs due within this window (the rest wait in the
# scheduler's own table and are handed over as they come near): a society's ten
# thousand reminder jobs would cost a second of start-up and megabytes in APScheduler.
NEAR = timedelta(minutes=30)
NEAR_CHECK = 600  # seconds between hand-overs; jobs due within NEAR + this are handed

# Jobs of one priority running at once. Together they stay below the database pool
# (15 connections), leaving room for people's commands.
CONCURRENCY = {Priority.PEOPLE: 4, Priority.TIMED: 6, Priority.BACKGROUND: 3}


@dataclass(frozen=True)
class ScheduledJob:
    kind: str
    key: str
    when: datetime

    @property
    def job_id(self) -> str:
        return f"{self.kind}:{self.key}"


class JobScheduler:
    """Keyed timed jobs whose handlers are looked up by kind when they fire.

    `shards` says whose jobs this process holds: services rebuild from the database
    only the work of the guilds it owns (see `bot.db.queries.on_shards`)."""

    def __init__(self, clock: Clock, shards: Shards = EVERY_GUILD) -> None:
        self._clock = clock
        self.shards = shards
        self._handlers: dict[str, JobHandler] = {}
        self._priorities: dict[str, Priority] = {}
        self._jobs: dict[str, ScheduledJob] = {}
        self._due: dict[Priority, deque[ScheduledJob]] = {level: deque() for level in Priority}
        self._workers: dict[Priority, int] = dict.fromkeys(Priority, 0)
        self._running: set[asyncio.Task[None]] = set()
        self._apscheduler: AsyncIOScheduler | None = None
        self._handed: set[str] = set()  # ids of jobs APScheduler holds
        self._started = False

    def register(
        self, kind: str, handler: JobHandler, level: Priority = Priority.BACKGROUND
    ) -> None:
        """Name the coroutine that does the work of every job of `kind`, and how urgent
        its work is (its REST requests and its turn among due jobs)."""
        self._handlers[kind] = handler
        self._priorities[kind] = level

    def start(self) -> None:
        """Start firing jobs; a manual clock drives them instead of APScheduler."""
        if self._started:
            return
        self._started = True
        if isinstance(self._clock, ManualClock):
            self._clock.subscribe(self.run_due)
        else:
            # Late jobs must still run (the handler decides if it is too late):
            # APScheduler's default grace of one second would drop them silently.
            self._apscheduler = AsyncIOScheduler(
                timezone=UTC,
                job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1},
            )
            self._apscheduler.start()
            self._apscheduler.add_job(self._wake_near, IntervalTrigger(seconds=NEAR_CHECK))
            self._hand_over_near()
        for job in list(self._jobs.values()):
            if job.when <= self._clock.now():
                self._spawn(job)

    def shutdown(self) -> None:
        if not self._started:
            return
        self._started = False
        if isinstance(self._clock, ManualClock):
            self._clock.unsubscribe(self.run_due)
        if self._apscheduler is not None:
            self._apscheduler.shutdown(wait=False)
            self._apscheduler = None
            self._handed.clear()
        for task in self._running:
            task.cancel()
        for queue in self._due.values():
            queue.clear()

    def schedule(self, kind: str, key: str, when: datetime) -> None:
        """Run `kind`'s handler with `key` at `when`, replacing an earlier time for it."""
        if when.tzinfo is None:
            raise ValueError("job times must be timezone-aware")
        job = ScheduledJob(kind, key, when.astimezone(UTC))
        self._jobs[job.job_id] = job
        if not self._started:
            return
        now = self._clock.now()
        if job.when <= now:
            self._take_back(job.job_id)
            self._spawn(job)
        elif self._apscheduler is not None:
            if job.when <= now + NEAR:
                self._add_to_apscheduler(job)
            else:
                self._take_back(job.job_id)

    def cancel(self, kind: str, key: str) -> None:
        if self._jobs.pop(f"{kind}:{key}", None) is not None:
            self._take_back(f"{kind}:{key}")

    def pending(self, kind: str | None = None) -> list[ScheduledJob]:
        """Jobs not yet fired, earliest first."""
        jobs = (job for job in self._jobs.values() if kind is None or job.kind == kind)
        return sorted(jobs, key=lambda job: job.when)

    async def run_due(self, now: datetime) -> None:
        """Run every job due by `now` and wait for them, in time order."""
        for job in self.pending():
            if job.when > now:
                break
            await self._fire(job.job_id)

    async def wait_idle(self) -> None:
        """Wait for jobs already running; tests use this to observe their effects."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _wake_near(self) -> None:
        """APScheduler runs a coroutine in the event loop (a plain function in a thread)."""
        self._hand_over_near()

    def _hand_over_near(self) -> None:
        """Give APScheduler the jobs that come due within `NEAR`."""
        horizon = self._clock.now() + NEAR + timedelta(seconds=NEAR_CHECK)
        for job in self._jobs.values():
            if job.when <= horizon and job.job_id not in self._handed:
                self._add_to_apscheduler(job)

    def _add_to_apscheduler(self, job: ScheduledJob) -> None:
        assert self._apscheduler is not None
        self._apscheduler.add_job(
            self._wake,
            DateTrigger(run_date=job.when),
            args=[job.job_id],
            id=job.job_id,
            replace_existing=True,
        )
        self._handed.add(job.job_id)

    def _take_back(self, job_id: str) -> None:
        """Remove a job from APScheduler (cancelled, or moved beyond `NEAR`)."""
        if job_id in self._handed and self._apscheduler is not None:
            self._handed.discard(job_id)
            if self._apscheduler.get_job(job_id):
                self._apscheduler.remove_job(job_id)

    async def _wake(self, job_id: str) -> None:
        self._handed.discard(job_id)
        job = self._jobs.get(job_id)
        if job is None:
            return
        if job.when <= self._clock.now():
            self._spawn(job)
        elif job.when <= self._clock.now() + NEAR:  # moved since it was handed over
            self._add_to_apscheduler(job)

    def _spawn(self, job: ScheduledJob) -> None:
        """Queue a due job; start a worker for its priority if fewer than allowed run."""
        level = self._priorities.get(job.kind, Priority.BACKGROUND)
        self._due[level].append(job)
        if self._workers[level] >= CONCURRENCY[level]:
            return
        self._workers[level] += 1
        task = asyncio.get_running_loop().create_task(self._work(level))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _work(self, level: Priority) -> None:
        queue = self._due[level]
        try:
            while queue:
                job = queue.popleft()
                # Skip a job moved to a later time (or cancelled) while it waited.
                if self._jobs.get(job.job_id) == job:
                    await self._fire(job.job_id)
        finally:
            self._workers[level] -= 1

    async def _fire(self, job_id: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        handler = self._handlers.get(job.kind)
        if handler is None:
            log.error("no handler registered for job kind %s", job.kind)
            return
        try:
            with priority(self._priorities[job.kind]):
                await handler(job.key)
        except Exception as error:
            if not database_unavailable(error):
                log.exception("job %s failed", job.job_id)
                return
            # The handler checks the database before acting, so running it again is
            # safe; it decides itself when the job is no longer due.
            log.warning("job %s could not reach the database; retrying", job.job_id)
            if job.job_id not in self._jobs:
                self.schedule(job.kind, job.key, self._clock.now() + DATABASE_RETRY_DELAY)
