"""Attendance arithmetic: minutes in the room, status, credit schemes, statement codes.

Pure: no Discord, no database. Presence arrives as stretches (join, leave) that may
overlap or run past the meeting; only the part inside [start, end] counts, once.
"""

from __future__ import annotations

import base64
import csv
import enum
import hashlib
import hmac
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

DEFAULT_SHARE_PERCENT = 75
# Members who missed this many meetings in a row are named in the leaders' summary.
MISSED_IN_A_ROW = 3
CANONICAL_VERSION = "balint-bot attendance statement v1"
CODE_GROUPS = 4
CODE_GROUP_LENGTH = 4
FIRST_YEAR = 2000
LAST_YEAR = 2100


class AttendanceError(ValueError):
    """Input that cannot be used; the message is shown to the person as-is."""


class Status(enum.StrEnum):
    PRESENT = "present"
    LATE = "late"
    LEFT_EARLY = "left early"
    APOLOGIES = "apologies"
    ABSENT = "absent"


MISSED = frozenset({Status.APOLOGIES, Status.ABSENT})


@dataclass(frozen=True)
class Assessment:
    """One member at one meeting: measured and (if corrected) counted minutes."""

    measured_minutes: int
    minutes: int
    status: Status
    corrected: bool


def seconds_present(
    stretches: Iterable[tuple[datetime, datetime | None]], start: datetime, end: datetime
) -> int:
    """Seconds inside [start, end] covered by any stretch; an open stretch runs to `end`."""
    clipped = sorted(
        (max(joined, start), min(left or end, end))
        for joined, left in stretches
        if joined < end and (left is None or left > start)
    )
    total = 0
    run_start: datetime | None = None
    run_end: datetime | None = None
    for begin, finish in clipped:
        if run_end is None or begin > run_end:
            if run_start is not None and run_end is not None:
                total += int((run_end - run_start).total_seconds())
            run_start, run_end = begin, finish
        elif finish > run_end:
            run_end = finish
    if run_start is not None and run_end is not None:
        total += int((run_end - run_start).total_seconds())
    return total


def assess(
    stretches: Sequence[tuple[datetime, datetime | None]],
    start: datetime,
    end: datetime,
    *,
    share_percent: int = DEFAULT_SHARE_PERCENT,
    apologised: bool = False,
    corrected_minutes: int | None = None,
) -> Assessment:
    """Present at `share_percent` of the meeting or more; below it late if arriving late
    cost more than leaving early, else left early. A correction replaces the minutes."""
    measured = seconds_present(stretches, start, end) // 60
    minutes = measured if corrected_minutes is None else corrected_minutes
    length = max(int((end - start).total_seconds()) // 60, 1)
    if minutes == 0:
        status = Status.APOLOGIES if apologised else Status.ABSENT
    elif minutes * 100 >= share_percent * length:
        status = Status.PRESENT
    elif corrected_minutes is not None or not stretches:
        status = Status.LATE
    else:
        arrival = max(min(joined for joined, _ in stretches), start)
        departure = min(max((left or end) for _, left in stretches), end)
        # A gap in the middle (a long dropout) counts as leaving early: they did leave.
        status = Status.LATE if arrival - start > end - departure else Status.LEFT_EARLY
    return Assessment(measured, minutes, status, corrected_minutes is not None)


def missed_in_a_row(statuses_newest_first: Iterable[Status]) -> int:
    """How many of the latest meetings in a row the member missed."""
    count = 0
    for status in statuses_newest_first:
        if status not in MISSED:
            break
        count += 1
    return count


# Credit schemes ---------------------------------------------------------------------------


class SchemeKind(enum.StrEnum):
    HOURS_ATTENDED = "hours attended"
    PER_SESSION = "per session"
    COMPLETION = "completion"


@dataclass(frozen=True)
class Activity:
    name: str
    hours: float


@dataclass(frozen=True)
class Scheme:
    """How attendance turns into credit; written and read as one line of text."""

    kind: SchemeKind
    activities: tuple[Activity, ...] = ()
    required: int = 0
    out_of: int = 0

    def text(self) -> str:
        if self.kind is SchemeKind.PER_SESSION:
            return " + ".join(f"{a.name} {_hours(a.hours)} h" for a in self.activities)
        if self.kind is SchemeKind.COMPLETION:
            return f"at least {self.required} of {self.out_of} sessions"
        return "hours attended"


PRESETS: dict[str, str] = {
    "Hours attended (appraisal, e.g. UK)": "hours attended",
    "Educational activity 0.5 h + Reviewing performance 1 h (Australia)": (
        "Educational activity 0.5 h + Reviewing performance 1 h"
    ),
    "At least 6 of 8 sessions (American Balint Society)": "at least 6 of 8 sessions",
}

# Possessive repeats: a leader's text can be long, and matching must stay linear.
# Text reaches these with its whitespace collapsed to single spaces.
_ACTIVITY = re.compile(r"^(?P<name>[^\d+]++)(?P<hours>\d++(?:[.,]\d++)?) ?(?:h|hours?)$")
_COMPLETION = re.compile(
    r"^(?:at least )?(?P<required>\d{1,3}) of (?P<out_of>\d{1,3})(?: sessions?)?$"
)
_PLAIN = re.compile(r"^(?:plain hours|hours attended|hours)$")
MAX_ACTIVITIES = 5
MAX_SESSION_HOURS = 8.0


def parse_scheme(text: str) -> Scheme:
    """Read a leader's scheme, e.g. 'Educational activity 0.5 h + Reviewing performance 1 h',
    'at least 6 of 8 sessions' or 'hours attended'."""
    cleaned = " ".join(text.split())
    lowered = cleaned.lower()
    if _PLAIN.match(lowered):
        return Scheme(SchemeKind.HOURS_ATTENDED)
    if found := _COMPLETION.match(lowered):
        required, out_of = int(found["required"]), int(found["out_of"])
        if not 1 <= required <= out_of <= 100:
            raise AttendanceError(
                "A completion rule needs a number of sessions no bigger than the course, "
                "e.g. `at least 6 of 8 sessions`."
            )
        return Scheme(SchemeKind.COMPLETION, required=required, out_of=out_of)
    activities = []
    for part in cleaned.split("+"):
        found = _ACTIVITY.match(part.strip())
        if found is None or not found["name"].strip():
            raise AttendanceError(
                f"I couldn't read the hours in “{part.strip()[:60]}”. Write each activity "
                "with its hours, e.g. `Educational activity 0.5 h + Reviewing performance "
                "1 h`, or `at least 6 of 8 sessions`, or `hours attended`."
            )
        hours = float(found["hours"].replace(",", "."))
        if not 0 < hours <= MAX_SESSION_HOURS:
            raise AttendanceError(
                f"Hours per session must be above 0 and at most {MAX_SESSION_HOURS:g}."
            )
        activities.append(Activity(found["name"].strip()[:60], hours))
    if len(activities) > MAX_ACTIVITIES:
        raise AttendanceError(f"Use at most {MAX_ACTIVITIES} activity types.")
    return Scheme(SchemeKind.PER_SESSION, activities=tuple(activities))


def _hours(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


# Statements ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementLine:
    day: date
    minutes: int
    status: Status
    corrected: bool


@dataclass(frozen=True)
class Statement:
    """What a member's statement says; the verification code covers all of it."""

    member_name: str
    group_name: str
    first_day: date
    last_day: date
    lines: tuple[StatementLine, ...]
    scheme: Scheme

    @property
    def attended(self) -> int:
        return sum(1 for line in self.lines if line.status is Status.PRESENT)

    @property
    def total_minutes(self) -> int:
        return sum(line.minutes for line in self.lines)

    def line_credit(self, line: StatementLine) -> str:
        """The credit one meeting earned, as printed on its row."""
        if self.scheme.kind is SchemeKind.HOURS_ATTENDED:
            return f"{_hours(line.minutes / 60)} h"
        if line.status is not Status.PRESENT:
            return "-"
        if self.scheme.kind is SchemeKind.COMPLETION:
            return "counts"
        return f"{_hours(sum(a.hours for a in self.scheme.activities))} h"

    def credit(self) -> list[str]:
        """The totals under the scheme, one line each."""
        if self.scheme.kind is SchemeKind.HOURS_ATTENDED:
            return [f"Hours attended: {_hours(self.total_minutes / 60)} h"]
        if self.scheme.kind is SchemeKind.COMPLETION:
            required, out_of, held = self.scheme.required, self.scheme.out_of, len(self.lines)
            met = self.attended * out_of >= required * max(held, out_of)
            return [
                f"Sessions attended: {self.attended} of {held} held",
                f"Requirement (at least {required} of {out_of}): {'met' if met else 'not met'}",
            ]
        return [
            f"{a.name}: {_hours(a.hours * self.attended)} h" for a in self.scheme.activities
        ]

    def canonical(self) -> str:
        """The statement as plain lines: what the code signs and the PDF shows."""
        rows = [
            CANONICAL_VERSION,
            f"member: {self.member_name}",
            f"group: {self.group_name}",
            f"period: {self.first_day.isoformat()} to {self.last_day.isoformat()}",
            f"scheme: {self.scheme.text()}",
        ]
        rows += [
            f"meeting: {line.day.isoformat()} | {line.minutes} min | {line.status.value}"
            f"{' (corrected)' if line.corrected else ''} | {self.line_credit(line)}"
            for line in self.lines
        ]
        rows.append(
            f"total: {len(self.lines)} meetings, {self.attended} attended, "
            f"{self.total_minutes} min"
        )
        rows += [f"credit: {text}" for text in self.credit()]
        return "\n".join(rows)


def verification_code(secret: bytes, statement: Statement) -> str:
    """An HMAC of the statement's content: only the server that holds `secret` can make
    it, and any change to the content gives another code."""
    digest = hmac.new(secret, statement.canonical().encode(), hashlib.sha256).digest()
    letters = base64.b32encode(digest).decode()[: CODE_GROUPS * CODE_GROUP_LENGTH]
    return "-".join(
        letters[i : i + CODE_GROUP_LENGTH] for i in range(0, len(letters), CODE_GROUP_LENGTH)
    )


def normalise_code(typed: str) -> str | None:
    """A typed code in its printed form (case, spaces and dashes forgiven), or None."""
    letters = re.sub(r"[\s-]", "", typed).upper()
    if len(letters) != CODE_GROUPS * CODE_GROUP_LENGTH or not re.fullmatch(r"[A-Z2-7]+", letters):
        return None
    return "-".join(
        letters[i : i + CODE_GROUP_LENGTH] for i in range(0, len(letters), CODE_GROUP_LENGTH)
    )


def check_period(first: date, last: date, today: date) -> None:
    """A statement or grid covers days that have happened, in order."""
    if first > last:
        raise AttendanceError(
            f"The period is reversed: {first.isoformat()} comes after {last.isoformat()}."
        )
    if last > today:
        raise AttendanceError(
            f"The period runs into the future ({last.isoformat()}); end it today "
            f"({today.isoformat()}) or earlier."
        )


def parse_day(text: str, what: str) -> date:
    """A date as typed; only years the bot's records can hold (and time zones convert)."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        day = None
    if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise AttendanceError(
            f"I couldn't read the {what} date “{text.strip()[:30]}”: write it as YYYY-MM-DD "
            f"between {FIRST_YEAR} and {LAST_YEAR}, e.g. 2026-03-31."
        )
    return day


# The grid as CSV ------------------------------------------------------------------------------

CSV_HEADER = ("meeting_date", "member", "minutes", "status", "measured_minutes", "correction")


@dataclass(frozen=True)
class GridCell:
    day: date
    member: str
    assessment: Assessment
    correction: str


def grid_csv(cells: Iterable[GridCell]) -> str:
    """One row per member per meeting, for a spreadsheet."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for cell in cells:
        a = cell.assessment
        writer.writerow(
            [
                cell.day.isoformat(),
                cell.member,
                a.minutes,
                a.status.value,
                a.measured_minutes,
                cell.correction,
            ]
        )
    return out.getvalue()


def read_grid_csv(text: str) -> list[GridCell]:
    """The cells `grid_csv` wrote (what a spreadsheet round trip must keep)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or tuple(rows[0]) != CSV_HEADER:
        raise AttendanceError("This is not an attendance CSV from balint-bot.")
    cells = []
    for day, member, minutes, status, measured, correction in rows[1:]:
        cells.append(
            GridCell(
                date.fromisoformat(day),
                member,
                Assessment(int(measured), int(minutes), Status(status), bool(correction)),
                correction,
            )
        )
    return cells


def share_of(minutes: int, start: datetime, end: datetime) -> float:
    """The fraction of the meeting attended, 0 to 1, for the chart's shading."""
    length = (end - start).total_seconds() / 60
    return 0.0 if length <= 0 else min(1.0, minutes / length)
