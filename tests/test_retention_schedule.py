"""The daily retention sweep after a start: soon, but after the start-up's own work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.clock import ManualClock
from bot.scheduler import JobScheduler
from bot.services.privacy import RETENTION_AFTER_START, RETENTION_JOB, PrivacyService

START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


async def test_retention_runs_soon_after_a_start_and_reconnections_do_not_delay_it() -> None:
    clock = ManualClock(START)
    jobs = JobScheduler(clock)
    unused: Any = None  # the sweep itself is not run here
    privacy = PrivacyService(unused, clock, jobs, unused, unused)
    privacy.start()
    [first] = jobs.pending(RETENTION_JOB)
    assert first.when == START + RETENTION_AFTER_START
    await clock.advance(timedelta(minutes=5))
    privacy.start()  # the gateway reconnected: on_ready again
    assert [job.when for job in jobs.pending(RETENTION_JOB)] == [first.when]
