"""Attendance arithmetic: minutes merged and clipped, status, schemes, codes, CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.domain.attendance import (
    PRESETS,
    Assessment,
    AttendanceError,
    GridCell,
    SchemeKind,
    Statement,
    StatementLine,
    Status,
    assess,
    check_period,
    grid_csv,
    missed_in_a_row,
    normalise_code,
    parse_day,
    parse_scheme,
    read_grid_csv,
    seconds_present,
    verification_code,
)

START = datetime(2026, 5, 10, 21, 0, tzinfo=UTC)
END = START + timedelta(minutes=90)


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def test_a_dropout_and_rejoin_count_once() -> None:
    """Three minutes away from a 90-minute meeting leaves 87."""
    stretches = [(at(0), at(30)), (at(33), None)]
    assert seconds_present(stretches, START, END) == 87 * 60


def test_overlapping_stretches_are_merged() -> None:
    """Two open rows for one person (a join seen twice) are not counted twice."""
    stretches = [(at(0), at(60)), (at(10), at(50)), (at(55), at(70))]
    assert seconds_present(stretches, START, END) == 70 * 60


def test_time_outside_the_meeting_is_clipped() -> None:
    """Waiting before the start and staying after the end count for nothing."""
    stretches = [(at(-20), at(10)), (at(80), at(200)), (at(-50), at(-40))]
    assert seconds_present(stretches, START, END) == 20 * 60


def test_statuses() -> None:
    assert assess([(at(0), None)], START, END).status is Status.PRESENT
    assert assess([(at(20), None)], START, END).status is Status.PRESENT  # 70 of 90 is 78%
    late = assess([(at(30), None)], START, END)
    assert (late.minutes, late.status) == (60, Status.LATE)
    early = assess([(at(0), at(40))], START, END)
    assert early.status is Status.LEFT_EARLY
    assert assess([], START, END, apologised=True).status is Status.APOLOGIES
    assert assess([], START, END).status is Status.ABSENT


def test_share_is_the_groups() -> None:
    """At 90% a member who came 20 minutes late is late, not present."""
    assert assess([(at(20), None)], START, END, share_percent=90).status is Status.LATE


def test_a_correction_replaces_the_minutes_and_keeps_the_measure() -> None:
    corrected = assess([(at(0), at(20))], START, END, corrected_minutes=90)
    assert corrected == Assessment(20, 90, Status.PRESENT, True)


def test_attending_beats_apologies() -> None:
    assert assess([(at(0), None)], START, END, apologised=True).status is Status.PRESENT


def test_missed_in_a_row_counts_from_the_latest() -> None:
    statuses = [Status.ABSENT, Status.APOLOGIES, Status.ABSENT, Status.PRESENT, Status.ABSENT]
    assert missed_in_a_row(statuses) == 3
    assert missed_in_a_row([Status.LATE, Status.ABSENT]) == 0


@pytest.mark.parametrize("preset", list(PRESETS.values()))
def test_presets_parse_and_write_back_the_same(preset: str) -> None:
    assert parse_scheme(parse_scheme(preset).text()) == parse_scheme(preset)


def test_activity_scheme() -> None:
    scheme = parse_scheme("Educational activity 0,5 hours + Reviewing  performance 1 h")
    assert scheme.kind is SchemeKind.PER_SESSION
    assert [(a.name, a.hours) for a in scheme.activities] == [
        ("Educational activity", 0.5),
        ("Reviewing performance", 1.0),
    ]


def test_completion_scheme() -> None:
    scheme = parse_scheme("At least 6 of 8 sessions")
    assert (scheme.kind, scheme.required, scheme.out_of) == (SchemeKind.COMPLETION, 6, 8)


@pytest.mark.parametrize(
    "text",
    ["Educational activity lots", "Reflection 0 h", "9 of 8", "Teaching 12 h", "", "+"],
)
def test_schemes_that_do_not_parse_are_refused(text: str) -> None:
    with pytest.raises(AttendanceError):
        parse_scheme(text)


def _statement(scheme_text: str, minutes: tuple[int, ...] = (90, 87, 0, 40)) -> Statement:
    statuses = {90: Status.PRESENT, 87: Status.PRESENT, 88: Status.PRESENT, 0: Status.ABSENT,
                40: Status.LEFT_EARLY}
    lines = tuple(
        StatementLine(date(2026, 1, 5) + timedelta(weeks=i), m, statuses[m], False)
        for i, m in enumerate(minutes)
    )
    return Statement("Dr A. Example", "Tuesday group", date(2026, 1, 1), date(2026, 3, 1),
                     lines, parse_scheme(scheme_text))


def test_credit_under_each_scheme() -> None:
    assert _statement("hours attended").credit() == ["Hours attended: 3.62 h"]
    assert _statement("Educational activity 0.5 h + Reviewing performance 1 h").credit() == [
        "Educational activity: 1 h",
        "Reviewing performance: 2 h",
    ]
    assert _statement("at least 2 of 4 sessions").credit() == [
        "Sessions attended: 2 of 4 held",
        "Requirement (at least 2 of 4): met",
    ]
    assert _statement("at least 6 of 8").credit()[1].endswith("not met")


def test_the_code_changes_with_any_edit_and_the_key() -> None:
    secret = b"k" * 32
    real = _statement("hours attended")
    edited = _statement("hours attended", (90, 88, 0, 40))
    code = verification_code(secret, real)
    assert code == verification_code(secret, _statement("hours attended"))
    assert code != verification_code(secret, edited)
    assert code != verification_code(b"x" * 32, real)
    assert normalise_code(code.lower().replace("-", " ")) == code
    assert normalise_code("not a code") is None


def test_periods() -> None:
    today = date(2026, 5, 11)
    check_period(date(2026, 1, 1), today, today)
    with pytest.raises(AttendanceError, match="reversed"):
        check_period(date(2026, 3, 1), date(2026, 1, 1), today)
    with pytest.raises(AttendanceError, match="future"):
        check_period(date(2026, 1, 1), date(2026, 6, 1), today)
    with pytest.raises(AttendanceError, match="YYYY-MM-DD"):
        parse_day("31/03/2026", "first")


def test_the_csv_round_trips() -> None:
    cells = [
        GridCell(date(2026, 1, 5), "Dr, \"Quoted\" Name", Assessment(87, 87, Status.PRESENT, False),
                 ""),
        GridCell(date(2026, 1, 12), "dr-2", Assessment(10, 90, Status.PRESENT, True),
                 "joined by phone"),
        GridCell(date(2026, 1, 12), "dr-3", Assessment(0, 0, Status.APOLOGIES, False), ""),
    ]
    assert read_grid_csv(grid_csv(cells)) == cells
