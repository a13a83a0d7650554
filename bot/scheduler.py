"""Timed jobs: a cache over the database, rebuilt from it at start-up.

Features register a handler per job kind and schedule `(kind, key)` at a time.
The handler is given the key and must itself check the database (a `sent_at`
column, a status) before acting, so a job that fires twice, late, or in two
processes at once does its work only once. In production APScheduler wakes the
jobs; under a `ManualClock` the clock's moves run whatever has come due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot.clock import Clock, ManualClock
from bot.db.engine import database_unavailable

log = logging.getLogger(__name__)

# A database outage is usually seconds long (a restart, a fail-over).
DATABASE_RETRY_DELAY = timedelta(seconds=15)

JobHandler = Callable[[str], Awaitable[None]]


@dataclass(frozen=True)
class ScheduledJob:
    kind: str
    key: str
    when: datetime

    @property
    def job_id(self) -> str:
        return f"{self.kind}:{self.key}"


class JobScheduler:
    """Keyed timed jobs whose handlers are looked up by kind when they fire."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._handlers: dict[str, JobHandler] = {}
        self._jobs: dict[str, ScheduledJob] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._apscheduler: AsyncIOScheduler | None = None
        self._started = False

    def register(self, kind: str, handler: JobHandler) -> None:
        """Name the coroutine that does the work of every job of `kind`."""
        self._handlers[kind] = handler

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
            for job in self._jobs.values():
                self._add_to_apscheduler(job)
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
        for task in self._running:
            task.cancel()

    def schedule(self, kind: str, key: str, when: datetime) -> None:
        """Run `kind`'s handler with `key` at `when`, replacing an earlier time for it."""
        if when.tzinfo is None:
            raise ValueError("job times must be timezone-aware")
        job = ScheduledJob(kind, key, when.astimezone(UTC))
        self._jobs[job.job_id] = job
        if not self._started:
            return
        if job.when <= self._clock.now():
            self._spawn(job)
        elif self._apscheduler is not None:
            self._add_to_apscheduler(job)

    def cancel(self, kind: str, key: str) -> None:
        job = self._jobs.pop(f"{kind}:{key}", None)
        apscheduler = self._apscheduler
        if job is not None and apscheduler is not None and apscheduler.get_job(job.job_id):
            apscheduler.remove_job(job.job_id)

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

    def _add_to_apscheduler(self, job: ScheduledJob) -> None:
        assert self._apscheduler is not None
        self._apscheduler.add_job(
            self._fire,
            DateTrigger(run_date=job.when),
            args=[job.job_id],
            id=job.job_id,
            replace_existing=True,
        )

    def _spawn(self, job: ScheduledJob) -> None:
        task = asyncio.get_running_loop().create_task(self._fire(job.job_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _fire(self, job_id: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job is None:
            return
        handler = self._handlers.get(job.kind)
        if handler is None:
            log.error("no handler registered for job kind %s", job.kind)
            return
        try:
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
