from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from dateutil import rrule
from dateutil import tz as dateutil_tz
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.recurrence import (
    Adjustment,
    Frequency,
    Occurrence,
    RecurrenceError,
    RecurrenceRule,
    Weekday,
    adjustment_note,
    describe,
    nth_weekday_of_month,
    occurrences,
    parse_clock_time,
    parse_weekday,
)

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)
NINETY = timedelta(minutes=90)
FIRST_SUNDAY_2025 = date(2025, 1, 5)
WEEKS_IN_TWO_AND_A_HALF_YEARS = 130


def rule(
    kind: Frequency = Frequency.WEEKLY,
    at: time = time(19, 30),
    zone: str = "Australia/Sydney",
    first: date = date(2025, 3, 4),
    **extra: object,
) -> RecurrenceRule:
    return RecurrenceRule(kind, at, zone, first, extra.pop("duration", NINETY), **extra)  # type: ignore[arg-type]


# --- Against an independent expansion with dateutil ----------------------------------------


def expected_start(naive: datetime, zone: str) -> tuple[datetime, Adjustment | None]:
    """Localise with dateutil's own tz database reader and gap/overlap helpers."""
    zone_info = dateutil_tz.gettz(zone)
    assert zone_info is not None
    aware = naive.replace(tzinfo=zone_info, fold=0)
    if not dateutil_tz.datetime_exists(aware):
        return dateutil_tz.resolve_imaginary(aware).astimezone(UTC), Adjustment.NONEXISTENT_SHIFTED
    if dateutil_tz.datetime_ambiguous(aware):
        return aware.astimezone(UTC), Adjustment.AMBIGUOUS_FIRST
    return aware.astimezone(UTC), None


def assert_matches_dateutil(ours: RecurrenceRule, naive_starts: list[datetime]) -> list[Occurrence]:
    found = occurrences(ours, start_after=LONG_AGO, limit=len(naive_starts))
    assert [o.local_date for o in found] == [n.date() for n in naive_starts]
    assert [(o.start, o.adjustment) for o in found] == [
        expected_start(n, ours.zone) for n in naive_starts
    ]
    assert all(o.end - o.start == ours.duration for o in found)
    assert [o.index for o in found] == list(range(len(found)))
    return found


# Each zone with the wall-clock times that fall in its gap (clocks forward) and overlap
# (clocks back), on the Sundays it changes; weekly Sunday meetings hit every change.
ZONE_TIMES = {
    "Australia/Sydney": ([time(2, 30)], [time(2, 30)]),
    "Australia/Adelaide": ([time(2, 30)], [time(2, 30)]),
    "Australia/Lord_Howe": ([time(2, 15)], [time(1, 45)]),
    "Australia/Perth": ([], []),
    "Australia/Brisbane": ([], []),
    "Europe/London": ([time(1, 30)], [time(1, 30)]),
    "America/New_York": ([time(2, 30)], [time(1, 30)]),
    "Pacific/Auckland": ([time(2, 30)], [time(2, 30)]),
}
CASES = [
    (zone, at)
    for zone, (gaps, overlaps) in ZONE_TIMES.items()
    for at in {time(19, 30), time(7, 0), time(2, 30), *gaps, *overlaps}
]


@pytest.mark.parametrize(("zone", "at"), CASES)
def test_weekly_matches_dateutil_over_two_years(zone: str, at: time) -> None:
    ours = rule(Frequency.WEEKLY, at, zone, FIRST_SUNDAY_2025)
    naive = list(
        rrule.rrule(
            rrule.WEEKLY,
            dtstart=datetime.combine(FIRST_SUNDAY_2025, at),
            count=WEEKS_IN_TWO_AND_A_HALF_YEARS,
        )
    )
    found = assert_matches_dateutil(ours, naive)
    gaps, overlaps = ZONE_TIMES[zone]
    adjustments = {o.adjustment for o in found}
    assert (Adjustment.NONEXISTENT_SHIFTED in adjustments) == (at in gaps)
    assert (Adjustment.AMBIGUOUS_FIRST in adjustments) == (at in overlaps)


@pytest.mark.parametrize(("zone", "at"), CASES)
def test_fortnightly_matches_dateutil(zone: str, at: time) -> None:
    ours = rule(Frequency.EVERY_N_WEEKS, at, zone, date(2025, 1, 12), interval=2)
    naive = list(
        rrule.rrule(
            rrule.WEEKLY, interval=2, dtstart=datetime.combine(date(2025, 1, 12), at), count=65
        )
    )
    assert_matches_dateutil(ours, naive)


@pytest.mark.parametrize(("zone", "at"), CASES)
@pytest.mark.parametrize("nth", [1, 2, 4, -1])
def test_monthly_nth_sunday_matches_dateutil(zone: str, at: time, nth: int) -> None:
    first = nth_weekday_of_month(2025, 1, Weekday.SUNDAY, nth)
    ours = rule(Frequency.MONTHLY_NTH_WEEKDAY, at, zone, first, nth=nth)
    naive = list(
        rrule.rrule(
            rrule.MONTHLY,
            byweekday=rrule.SU(nth),
            dtstart=datetime.combine(first, at),
            count=30,
        )
    )
    assert_matches_dateutil(ours, naive)


@pytest.mark.parametrize(
    ("zone", "local_day", "at", "utc", "adjustment"),
    [
        # Clocks forward: shifted by the gap.
        ("Australia/Sydney", date(2025, 10, 5), time(2, 30), "2025-10-04T16:30", "gap"),
        ("Australia/Adelaide", date(2025, 10, 5), time(2, 30), "2025-10-04T17:00", "gap"),
        ("Australia/Lord_Howe", date(2025, 10, 5), time(2, 15), "2025-10-04T15:45", "gap"),
        ("America/New_York", date(2025, 3, 9), time(2, 30), "2025-03-09T07:30", "gap"),
        ("Europe/London", date(2025, 3, 30), time(1, 30), "2025-03-30T01:30", "gap"),
        ("Pacific/Auckland", date(2025, 9, 28), time(2, 30), "2025-09-27T14:30", "gap"),
        # Clocks back: the first of the two, still on daylight time.
        ("Australia/Sydney", date(2025, 4, 6), time(2, 30), "2025-04-05T15:30", "twice"),
        ("Australia/Lord_Howe", date(2025, 4, 6), time(1, 45), "2025-04-05T14:45", "twice"),
        ("America/New_York", date(2025, 11, 2), time(1, 30), "2025-11-02T05:30", "twice"),
        ("Europe/London", date(2025, 10, 26), time(1, 30), "2025-10-26T00:30", "twice"),
        # No daylight saving.
        ("Australia/Brisbane", date(2025, 10, 5), time(2, 30), "2025-10-04T16:30", None),
        ("Australia/Perth", date(2025, 10, 5), time(2, 30), "2025-10-04T18:30", None),
    ],
)
def test_known_transition_days(
    zone: str, local_day: date, at: time, utc: str, adjustment: str | None
) -> None:
    expected = {
        "gap": Adjustment.NONEXISTENT_SHIFTED,
        "twice": Adjustment.AMBIGUOUS_FIRST,
        None: None,
    }[adjustment]
    [found] = occurrences(rule(at=at, zone=zone, first=local_day), start_after=LONG_AGO, limit=1)
    assert found.start == datetime.fromisoformat(utc).replace(tzinfo=UTC)
    assert found.adjustment is expected


def test_wall_clock_time_stays_put_across_dst() -> None:
    ours = rule(at=time(19, 30), zone="Australia/Sydney", first=date(2025, 3, 25))
    found = occurrences(ours, start_after=LONG_AGO, limit=4)
    sydney = ZoneInfo("Australia/Sydney")
    assert {o.start.astimezone(sydney).time() for o in found} == {time(19, 30)}
    assert [o.start.hour for o in found] == [8, 8, 9, 9]  # 08:30Z on AEDT, 09:30Z on AEST


# --- Windows and bounds -------------------------------------------------------------------


def test_start_after_is_exclusive_and_until_inclusive() -> None:
    ours = rule(first=date(2025, 3, 4))
    [first, second, third] = occurrences(ours, start_after=LONG_AGO, limit=3)
    window = occurrences(ours, start_after=first.start, until=third.start)
    assert window == [second, third]


def test_count_and_until_end_the_series() -> None:
    assert len(occurrences(rule(count=5), start_after=LONG_AGO)) == 5
    last = occurrences(rule(until=date(2025, 3, 25)), start_after=LONG_AGO)
    assert [o.local_date for o in last] == [date(2025, 3, d) for d in (4, 11, 18, 25)]


def test_indices_stay_stable_far_into_a_series() -> None:
    ours = rule(first=date(2025, 3, 4))
    later = occurrences(ours, start_after=datetime(2027, 1, 1, tzinfo=UTC), limit=1)
    assert later[0].local_date == date(2027, 1, 5)
    assert later[0].index == (date(2027, 1, 5) - date(2025, 3, 4)).days // 7


def test_an_endless_series_needs_a_limit_or_until() -> None:
    with pytest.raises(RecurrenceError, match="never ends"):
        occurrences(rule(), start_after=LONG_AGO)


def test_naive_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        occurrences(rule(), start_after=datetime(2025, 1, 1), limit=1)  # noqa: DTZ001


# --- Validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"zone": "Australia/Wagga"}, "not a known time zone"),
        ({"zone": ""}, "not a known time zone"),
        ({"duration": timedelta(minutes=10)}, "between 15 minutes and 4 hours"),
        ({"duration": timedelta(hours=5)}, "between 15 minutes and 4 hours"),
        ({"count": 0}, "at least 1"),
        ({"kind": Frequency.EVERY_N_WEEKS, "interval": 9}, "every 1 to 8 weeks"),
        ({"kind": Frequency.EVERY_N_WEEKS, "interval": 0}, "every 1 to 8 weeks"),
        ({"interval": 2}, "only applies to every-n-weeks"),
        ({"kind": Frequency.MONTHLY_NTH_WEEKDAY, "nth": 5}, "1st, 2nd, 3rd, 4th or last"),
        ({"kind": Frequency.MONTHLY_NTH_WEEKDAY, "nth": None}, "1st, 2nd, 3rd, 4th or last"),
        ({"kind": Frequency.MONTHLY_NTH_WEEKDAY, "nth": 2}, "not the second Tuesday"),
        ({"nth": 1}, "only applies to monthly"),
        ({"until": date(2025, 3, 3)}, "cannot end"),
        ({"at": time(19, 30, tzinfo=UTC)}, "without a zone"),
    ],
)
def test_invalid_rules_are_refused_with_human_messages(
    extra: dict[str, object], message: str
) -> None:
    with pytest.raises(RecurrenceError, match=message):
        rule(**extra)  # type: ignore[arg-type]


def test_rule_round_trips_through_a_dict() -> None:
    ours = rule(Frequency.MONTHLY_NTH_WEEKDAY, nth=1, count=12, until=date(2026, 12, 31))
    assert RecurrenceRule.from_dict(ours.to_dict()) == ours
    with pytest.raises(RecurrenceError, match="cannot be read"):
        RecurrenceRule.from_dict({"kind": "weekly"})


# --- Words --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ours", "text"),
    [
        (
            rule(Frequency.EVERY_N_WEEKS, interval=2),
            "Every 2 weeks on Tuesday at 19:30 (Australia/Sydney), 90 minutes",
        ),
        (rule(), "Every week on Tuesday at 19:30 (Australia/Sydney), 90 minutes"),
        (
            rule(Frequency.MONTHLY_NTH_WEEKDAY, nth=1, zone="Australia/Perth", count=8),
            "The first Tuesday of each month at 19:30 (Australia/Perth), 90 minutes, 8 meetings",
        ),
        (
            rule(
                Frequency.MONTHLY_NTH_WEEKDAY,
                first=date(2025, 3, 25),
                nth=-1,
                until=date(2026, 6, 30),
                duration=timedelta(hours=1),
            ),
            "The last Tuesday of each month at 19:30 (Australia/Sydney), 60 minutes, "
            "until 30 June 2026",
        ),
    ],
)
def test_describe(ours: RecurrenceRule, text: str) -> None:
    assert describe(ours) == text


def test_adjustment_notes_explain_moved_starts() -> None:
    ours = rule(at=time(2, 30), first=date(2025, 9, 28))
    plain, shifted = occurrences(ours, start_after=LONG_AGO, limit=2)
    assert adjustment_note(ours, plain) is None
    assert adjustment_note(ours, shifted) == (
        "02:30 does not exist on 5 October 2025 in Australia/Sydney (the clocks go forward), "
        "so this meeting starts at 03:30."
    )
    back = rule(at=time(2, 30), first=date(2025, 4, 6))
    [twice] = occurrences(back, start_after=LONG_AGO, limit=1)
    assert adjustment_note(back, twice) == (
        "02:30 happens twice on 6 April 2025 in Australia/Sydney (the clocks go back); "
        "this meeting starts at the first 02:30 (UTC+11:00)."
    )


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("Tuesday", Weekday.TUESDAY),
        ("tue", Weekday.TUESDAY),
        ("THURS", Weekday.THURSDAY),
        ("su", Weekday.SUNDAY),
        (" Mon. ", Weekday.MONDAY),
    ],
)
def test_parse_weekday(text: str, day: Weekday) -> None:
    assert parse_weekday(text) is day


@pytest.mark.parametrize("text", ["t", "s", "Tuesdays", "", "funday"])
def test_parse_weekday_refuses_unclear_names(text: str) -> None:
    with pytest.raises(RecurrenceError, match="not a day of the week"):
        parse_weekday(text)


@pytest.mark.parametrize(
    ("text", "at"), [("19:30", time(19, 30)), ("7:05", time(7, 5)), (" 00:00 ", time(0, 0))]
)
def test_parse_clock_time(text: str, at: time) -> None:
    assert parse_clock_time(text) == at


@pytest.mark.parametrize("text", ["24:00", "19:60", "7pm", "1930", "19.30", ""])
def test_parse_clock_time_refuses_anything_else(text: str) -> None:
    with pytest.raises(RecurrenceError, match="HH:MM"):
        parse_clock_time(text)


# --- Properties ---------------------------------------------------------------------------

ZONES = st.sampled_from(sorted(ZONE_TIMES))


@st.composite
def rules(draw: st.DrawFn) -> RecurrenceRule:
    kind = draw(st.sampled_from(list(Frequency)))
    first = draw(st.dates(date(2024, 1, 1), date(2027, 12, 31)))
    nth = None
    if kind is Frequency.MONTHLY_NTH_WEEKDAY:
        nth = draw(st.sampled_from([1, 2, 3, 4, -1]))
        first = nth_weekday_of_month(first.year, first.month, Weekday(first.weekday()), nth)
    return RecurrenceRule(
        kind=kind,
        start_time=time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 45]))),
        zone=draw(ZONES),
        first_date=first,
        duration=timedelta(minutes=draw(st.integers(15, 240))),
        interval=draw(st.integers(1, 8)) if kind is Frequency.EVERY_N_WEEKS else 1,
        nth=nth,
        count=draw(st.none() | st.integers(1, 60)),
        until=draw(st.none() | st.dates(first, first + timedelta(days=900))),
    )


@settings(max_examples=300, deadline=None)
@given(ours=rules(), offset_days=st.integers(-30, 1000))
def test_occurrences_properties(ours: RecurrenceRule, offset_days: int) -> None:
    everything = occurrences(ours, start_after=LONG_AGO, limit=80)
    zone = ZoneInfo(ours.zone)
    starts = [o.start for o in everything]
    assert starts == sorted(set(starts))
    for occurrence in everything:
        local = occurrence.start.astimezone(zone)
        assert occurrence.local_date.weekday() == ours.first_date.weekday()
        assert occurrence.start.tzinfo is UTC
        if occurrence.adjustment is Adjustment.NONEXISTENT_SHIFTED:
            assert local.time() > ours.start_time
        else:
            assert (local.date(), local.time(), local.fold) == (
                occurrence.local_date,
                ours.start_time,
                0,
            )
        if ours.count is not None:
            assert occurrence.index < ours.count
        if ours.until is not None:
            assert occurrence.local_date <= ours.until
    if ours.count is not None and len(everything) < 80 and ours.until is None:
        assert len(everything) == ours.count
    # Asking from later on gives the same meetings, with the same indices.
    start_after = datetime.combine(ours.first_date, time(12), tzinfo=UTC) + timedelta(
        days=offset_days
    )
    later = occurrences(ours, start_after=start_after, limit=5)
    assert later == [o for o in everything if o.start > start_after][:5] or len(everything) == 80
