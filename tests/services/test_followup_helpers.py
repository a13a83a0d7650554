"""The small time rules behind retries, daily retention and case post titles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.services.followups import case_post_title, meeting_date, retry_delay
from bot.services.privacy import add_months, next_daily_run


def test_retries_back_off_from_a_minute_to_at_most_an_hour() -> None:
    assert [retry_delay(n) for n in (1, 2, 3)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    assert retry_delay(30) == timedelta(hours=1)


def test_add_months_keeps_the_day_or_takes_the_months_last() -> None:
    assert add_months(datetime(2026, 5, 10, 21, tzinfo=UTC), 12) == datetime(
        2027, 5, 10, 21, tzinfo=UTC
    )
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2027, 11, 30, tzinfo=UTC), 3) == datetime(2028, 2, 29, tzinfo=UTC)


def test_the_daily_run_is_always_after_now() -> None:
    before = datetime(2026, 5, 10, 2, 59, tzinfo=UTC)
    assert next_daily_run(before) == datetime(2026, 5, 10, 3, tzinfo=UTC)
    at = datetime(2026, 5, 10, 3, tzinfo=UTC)
    assert next_daily_run(at) == datetime(2026, 5, 11, 3, tzinfo=UTC)


def test_case_posts_are_dated_in_the_groups_zone_and_fit_discord() -> None:
    evening_utc = datetime(2026, 5, 10, 21, tzinfo=UTC)
    assert meeting_date(evening_utc, "Australia/Sydney") == "11 May 2026"
    assert meeting_date(evening_utc, "Europe/London") == "10 May 2026"
    assert case_post_title("the quiet shearer", "11 May 2026") == "the quiet shearer · 11 May 2026"
