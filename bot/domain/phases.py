"""The choreography of a Balint meeting: phases, their order, who is silent, and timing.

Pure rules: the service layer reads the clock, talks to Discord and stores state;
this module only decides. A group's `PhaseTemplate` is stored as JSON in its settings.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from bot.domain.input_checks import excerpt


class Phase(StrEnum):
    """A step of the meeting; the values are what is stored and typed in commands."""

    CHECK_IN = "check_in"
    FOLLOW_UPS = "follow_ups"
    CASE_SELECTION = "case_selection"
    PRESENTATION = "presentation"
    QUESTIONS = "questions"
    DISCUSSION = "discussion"
    PRESENTER_RETURNS = "presenter_returns"
    CLOSING = "closing"

    @property
    def is_per_case(self) -> bool:
        """Per-case phases repeat for every case; the others happen once, at the start."""
        return self in CASE_PHASES


MEETING_PHASES: tuple[Phase, ...] = (Phase.CHECK_IN, Phase.FOLLOW_UPS)
CASE_PHASES: tuple[Phase, ...] = (
    Phase.CASE_SELECTION,
    Phase.PRESENTATION,
    Phase.QUESTIONS,
    Phase.DISCUSSION,
    Phase.PRESENTER_RETURNS,
    Phase.CLOSING,
)

MIN_PLANNED = timedelta(minutes=1)
MAX_PLANNED = timedelta(minutes=120)
MIN_CASES = 1
MAX_CASES = 4
MAX_TITLE_LENGTH = 40
WARNING_LEAD = timedelta(minutes=2)


class TemplateError(ValueError):
    """A phase template a leader cannot use; the message is shown to them as is."""


class PhaseError(ValueError):
    """A move the meeting cannot make; the message is shown to the leader as is."""


@dataclass(frozen=True)
class PhaseSettings:
    """How one group runs one phase: whether at all, under what name, for how long."""

    enabled: bool
    title: str
    planned: timedelta


_DEFAULT_SETTINGS: Mapping[Phase, PhaseSettings] = {
    Phase.CHECK_IN: PhaseSettings(True, "Check-in", timedelta(minutes=5)),
    Phase.FOLLOW_UPS: PhaseSettings(True, "Follow-ups", timedelta(minutes=5)),
    Phase.CASE_SELECTION: PhaseSettings(True, "Who has a case?", timedelta(minutes=2)),
    Phase.PRESENTATION: PhaseSettings(True, "Presentation", timedelta(minutes=7)),
    Phase.QUESTIONS: PhaseSettings(True, "Clarifying questions", timedelta(minutes=5)),
    Phase.DISCUSSION: PhaseSettings(
        True, "Discussion (presenter pushed back)", timedelta(minutes=18)
    ),
    Phase.PRESENTER_RETURNS: PhaseSettings(True, "Presenter returns", timedelta(minutes=5)),
    Phase.CLOSING: PhaseSettings(True, "Closing", timedelta(minutes=3)),
}


@dataclass(frozen=True)
class PhaseTemplate:
    """A group's way of running meetings ("many Balint cultures"), validated on creation.

    `phases` holds one `PhaseSettings` per `Phase`, in `Phase` order, so the
    template stays hashable and comparable; use `settings(phase)` to read it.
    """

    phases: tuple[PhaseSettings, ...] = tuple(_DEFAULT_SETTINGS[phase] for phase in Phase)
    cases: int = 2
    listening_mode: bool = False
    auto_advance: bool = False

    def __post_init__(self) -> None:
        if len(self.phases) != len(Phase):
            raise TemplateError(f"A template needs settings for all {len(Phase)} phases.")
        if not MIN_CASES <= self.cases <= MAX_CASES:
            raise TemplateError(
                f"A meeting can have {MIN_CASES} to {MAX_CASES} cases (got {self.cases})."
            )
        for phase, settings in zip(Phase, self.phases, strict=True):
            _validate_settings(phase, settings)
        if not any(settings.enabled for settings in self.phases):
            raise TemplateError("At least one phase must stay switched on.")

    def settings(self, phase: Phase) -> PhaseSettings:
        return self.phases[list(Phase).index(phase)]

    def title(self, phase: Phase) -> str:
        return self.settings(phase).title

    def planned(self, phase: Phase) -> timedelta:
        return self.settings(phase).planned

    def is_enabled(self, phase: Phase) -> bool:
        return self.settings(phase).enabled

    def with_phase(
        self,
        phase: Phase,
        *,
        enabled: bool | None = None,
        title: str | None = None,
        planned: timedelta | None = None,
    ) -> PhaseTemplate:
        """A copy with one phase changed, as a leader's `/group phases` command does."""
        current = self.settings(phase)
        changed = PhaseSettings(
            enabled=current.enabled if enabled is None else enabled,
            title=current.title if title is None else title.strip(),
            planned=current.planned if planned is None else planned,
        )
        phases = tuple(changed if p is phase else self.settings(p) for p in Phase)
        return dataclasses.replace(self, phases=phases)

    def meeting_length(self) -> timedelta:
        """The planned length of a whole meeting, to check against the booked slot."""
        return sum((self.planned(p.phase) for p in positions(self)), timedelta())

    def to_dict(self) -> dict[str, object]:
        """JSON-safe form for the group's settings column; durations in whole minutes."""
        return {
            "cases": self.cases,
            "listening_mode": self.listening_mode,
            "auto_advance": self.auto_advance,
            "phases": {
                phase.value: {
                    "enabled": settings.enabled,
                    "title": settings.title,
                    "minutes": settings.planned // timedelta(minutes=1),
                }
                for phase, settings in zip(Phase, self.phases, strict=True)
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PhaseTemplate:
        """Read what `to_dict` wrote; missing settings fall back to the defaults.

        Raises `TemplateError` with a message a leader can act on.
        """
        known = {"cases", "listening_mode", "auto_advance", "phases"}
        for key in data:
            if key not in known:
                raise TemplateError(
                    f"Unknown template setting '{excerpt(key)}'. Known: {', '.join(sorted(known))}."
                )
        default = cls()
        phases_data = data.get("phases", {})
        if not isinstance(phases_data, Mapping):
            raise TemplateError("'phases' must map phase names to their settings.")
        for name in phases_data:
            _phase_from_value(str(name))
        phases = tuple(
            _settings_from_dict(phase, phases_data.get(phase.value, {}), default.settings(phase))
            for phase in Phase
        )
        return cls(
            phases=phases,
            cases=_typed(data, "cases", int, default.cases),
            listening_mode=_typed(data, "listening_mode", bool, default.listening_mode),
            auto_advance=_typed(data, "auto_advance", bool, default.auto_advance),
        )


def _validate_settings(phase: Phase, settings: PhaseSettings) -> None:
    title = settings.title.strip()
    if not 1 <= len(title) <= MAX_TITLE_LENGTH:
        raise TemplateError(
            f"The title of {phase.value} must be 1 to {MAX_TITLE_LENGTH} characters "
            f"(got {len(title)})."
        )
    label = f"'{title}'"
    if settings.planned % timedelta(minutes=1):
        raise TemplateError(f"{label}: the planned duration must be whole minutes.")
    if not MIN_PLANNED <= settings.planned <= MAX_PLANNED:
        minutes = settings.planned / timedelta(minutes=1)
        raise TemplateError(
            f"{label}: the planned duration must be between {_minutes(MIN_PLANNED)} and "
            f"{_minutes(MAX_PLANNED)} minutes (got {minutes:g})."
        )


def _minutes(duration: timedelta) -> int:
    return duration // timedelta(minutes=1)


_T = TypeVar("_T")


def _typed(data: Mapping[str, object], key: str, kind: type[_T], default: _T) -> _T:
    """Read an optional setting of an exact type; bool is not accepted as an int."""
    value = data.get(key, default)
    if type(value) is not kind:
        raise TemplateError(f"'{key}' must be {_type_name(kind)} (got {excerpt(repr(value))}).")
    return value


def _type_name(kind: type[object]) -> str:
    return {int: "a whole number", bool: "true or false", str: "text"}.get(kind, kind.__name__)


def _settings_from_dict(phase: Phase, data: object, default: PhaseSettings) -> PhaseSettings:
    if not isinstance(data, Mapping):
        raise TemplateError(f"The settings of {phase.value} must be an object.")
    known = {"enabled", "title", "minutes"}
    for key in data:
        if key not in known:
            raise TemplateError(
                f"Unknown setting '{excerpt(key)}' for {phase.value}. "
                f"Known: {', '.join(sorted(known))}."
            )
    minutes = _typed(data, "minutes", int, _minutes(default.planned))
    return PhaseSettings(
        enabled=_typed(data, "enabled", bool, default.enabled),
        title=_typed(data, "title", str, default.title).strip(),
        planned=timedelta(minutes=minutes),
    )


def _phase_from_value(value: str) -> Phase:
    try:
        return Phase(value)
    except ValueError:
        known = ", ".join(phase.value for phase in Phase)
        raise TemplateError(f"Unknown phase '{excerpt(value)}'. Known phases: {known}.") from None


# --- Positions: where a meeting stands -------------------------------------------------


@dataclass(frozen=True)
class Position:
    """A phase of the meeting, with the case it belongs to (None for meeting-level phases)."""

    case_number: int | None
    phase: Phase

    def __post_init__(self) -> None:
        if self.phase.is_per_case and (self.case_number is None or self.case_number < 1):
            raise PhaseError(f"{self.phase.value} belongs to a case; give a case number from 1.")
        if not self.phase.is_per_case and self.case_number is not None:
            raise PhaseError(f"{self.phase.value} happens once per meeting, not per case.")

    @property
    def order_key(self) -> tuple[int, int]:
        """Where this position falls in the canonical order, even if the template skips it."""
        return (self.case_number or 0, list(Phase).index(self.phase))


def positions(template: PhaseTemplate) -> tuple[Position, ...]:
    """Every enabled position of a meeting, in the order they happen."""
    meeting = [Position(None, phase) for phase in MEETING_PHASES if template.is_enabled(phase)]
    cases = [
        Position(case, phase)
        for case in range(1, template.cases + 1)
        for phase in CASE_PHASES
        if template.is_enabled(phase)
    ]
    return (*meeting, *cases)


def first_position(template: PhaseTemplate) -> Position:
    return positions(template)[0]


def next_position(template: PhaseTemplate, current: Position) -> Position | None:
    """The position after `current`, or None when the meeting is ready to end.

    Works from the canonical order, so a phase switched off mid-meeting does not
    strand the meeting.
    """
    later = [p for p in positions(template) if p.order_key > current.order_key]
    return later[0] if later else None


def previous_position(template: PhaseTemplate, current: Position) -> Position:
    """The position before `current`; going back from the first one is refused."""
    earlier = [p for p in positions(template) if p.order_key < current.order_key]
    if not earlier:
        raise PhaseError("This is the first phase of the meeting; there is nothing before it.")
    return earlier[-1]


def position_for(template: PhaseTemplate, phase: Phase, case_number: int | None) -> Position:
    """The position `/phase set` jumps to, refused if the group does not use it."""
    if not template.is_enabled(phase):
        raise PhaseError(f"'{template.title(phase)}' is switched off for this group.")
    if phase.is_per_case and case_number is None:
        raise PhaseError(f"Say which case '{template.title(phase)}' is for (1–{template.cases}).")
    if case_number is not None and phase.is_per_case and case_number > template.cases:
        raise PhaseError(
            f"This group's meetings have {template.cases} case(s); there is no case {case_number}."
        )
    return Position(case_number if phase.is_per_case else None, phase)


def phase_named(template: PhaseTemplate, text: str) -> Phase:
    """The phase a leader typed: its stored value or the group's title, in any case."""
    wanted = _normalise(text)
    for phase in Phase:
        if wanted in (_normalise(phase.value), _normalise(template.title(phase))):
            return phase
    known = ", ".join(template.title(phase) for phase in Phase)
    raise PhaseError(f"There is no phase called '{excerpt(text.strip())}'. Phases: {known}.")


def _normalise(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text).strip().casefold()


def describe_position(template: PhaseTemplate, position: Position) -> str:
    """The panel's heading for a position, e.g. 'Case 1 · Presentation'."""
    title = template.title(position.phase)
    return title if position.case_number is None else f"Case {position.case_number} · {title}"


# --- Silence: the presenter pushed back ------------------------------------------------


class Channel(StrEnum):
    VOICE = "voice"
    TEXT = "text"


class Permission(StrEnum):
    """Named as Discord names them, so the service can map them one to one."""

    SPEAK = "speak"
    SEND_MESSAGES = "send_messages"


@dataclass(frozen=True)
class Denial:
    """One permission a silence takes away, in one of the group's channels."""

    channel: Channel
    permission: Permission


class SilenceKind(StrEnum):
    """How far a silence goes.

    The pushed-back presenter must not speak or type: writing in the chat would
    break the silence as surely as speaking. Listening mode only keeps the room
    quiet while the case is told, so the chat stays open.
    """

    VOICE_AND_TEXT = "voice_and_text"
    VOICE_ONLY = "voice_only"

    @property
    def denials(self) -> frozenset[Denial]:
        voice = Denial(Channel.VOICE, Permission.SPEAK)
        if self is SilenceKind.VOICE_ONLY:
            return frozenset({voice})
        return frozenset({voice, Denial(Channel.TEXT, Permission.SEND_MESSAGES)})


@dataclass(frozen=True)
class Silence:
    member_id: int
    kind: SilenceKind


def silences(
    position: Position,
    template: PhaseTemplate,
    *,
    presenter_id: int | None,
    leader_ids: Collection[int],
    present_member_ids: Collection[int],
) -> frozenset[Silence]:
    """Who must be silent in this position, among those present.

    In the discussion the presenter is pushed back, even a sole leader who presents:
    the silence is the work. With listening mode, only the presenter and the leaders
    may speak during the presentation (only the leaders while no presenter is chosen).
    Recompute whenever someone joins, the presenter changes or the phase moves.
    """
    present = frozenset(present_member_ids)
    if position.phase is Phase.DISCUSSION:
        if presenter_id is not None and presenter_id in present:
            return frozenset({Silence(presenter_id, SilenceKind.VOICE_AND_TEXT)})
        return frozenset()
    if position.phase is Phase.PRESENTATION and template.listening_mode:
        may_speak = {*leader_ids, *([] if presenter_id is None else [presenter_id])}
        return frozenset(Silence(member, SilenceKind.VOICE_ONLY) for member in present - may_speak)
    return frozenset()


def silenced_members(
    position: Position,
    template: PhaseTemplate,
    *,
    presenter_id: int | None,
    leader_ids: Collection[int],
    present_member_ids: Collection[int],
) -> frozenset[int]:
    """Just the ids of `silences`, for checks that do not care how far the silence goes."""
    found = silences(
        position,
        template,
        presenter_id=presenter_id,
        leader_ids=leader_ids,
        present_member_ids=present_member_ids,
    )
    return frozenset(silence.member_id for silence in found)


# --- Timing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Cues:
    """When the bot nudges the leaders: a warning before the planned end, then the end."""

    warning_at: datetime | None
    end_at: datetime


def cue_times(started_at: datetime, planned: timedelta) -> Cues:
    """Cue times for a phase; a phase no longer than the warning lead gets no warning,
    since a warning at (or before) its start would only be noise."""
    _require_aware(started_at, "started_at")
    end_at = started_at + planned
    warning_at = end_at - WARNING_LEAD if planned > WARNING_LEAD else None
    return Cues(warning_at=warning_at, end_at=end_at)


def format_clock(duration: timedelta) -> str:
    """Minutes and seconds as a leader reads a timer: '12:05', '95:00'; never negative."""
    seconds = max(0, int(duration.total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def format_progress(started_at: datetime, planned: timedelta, now: datetime) -> str:
    """Elapsed over planned for the panel, e.g. '12:05 / 20:00'."""
    _require_aware(started_at, "started_at")
    _require_aware(now, "now")
    return f"{format_clock(now - started_at)} / {format_clock(planned)}"


def _require_aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


# --- Time per phase --------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseRecord:
    """One stretch of a phase as the phase log recorded it."""

    phase: Phase
    case_number: int | None
    started_at: datetime
    ended_at: datetime
    planned: timedelta

    def __post_init__(self) -> None:
        _require_aware(self.started_at, "started_at")
        _require_aware(self.ended_at, "ended_at")
        if self.ended_at < self.started_at:
            raise ValueError("a phase cannot end before it starts")


@dataclass(frozen=True)
class TimeRow:
    """A row of the leaders' summary: how long a phase was meant to take and took."""

    position: Position
    label: str
    planned: timedelta
    actual: timedelta

    @property
    def overrun(self) -> timedelta:
        """Positive when the phase ran over, negative when it finished early."""
        return self.actual - self.planned


def time_summary(records: Iterable[PhaseRecord], template: PhaseTemplate) -> tuple[TimeRow, ...]:
    """One row per position, in the order first visited.

    A phase returned to later (leaders do go back) is one row with its times added up.
    """
    planned: dict[Position, timedelta] = {}
    actual: dict[Position, timedelta] = {}
    for record in sorted(records, key=lambda r: r.started_at):
        position = Position(record.case_number, record.phase)
        planned.setdefault(position, record.planned)
        actual[position] = actual.get(position, timedelta()) + record.ended_at - record.started_at
    return tuple(
        TimeRow(position, describe_position(template, position), planned[position], spent)
        for position, spent in actual.items()
    )
