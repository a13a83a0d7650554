from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.phases import (
    CASE_PHASES,
    Channel,
    Denial,
    Permission,
    Phase,
    PhaseError,
    PhaseRecord,
    PhaseTemplate,
    Position,
    Silence,
    SilenceKind,
    TemplateError,
    cue_times,
    describe_position,
    first_position,
    format_progress,
    next_position,
    phase_named,
    position_for,
    positions,
    previous_position,
    silenced_members,
    silences,
    time_summary,
)

START = datetime(2025, 3, 4, 8, 30, tzinfo=UTC)
PRESENTER, LEADER, CO_LEADER, ANNA, BEN = 10, 1, 2, 20, 30
EVERYONE = {PRESENTER, LEADER, CO_LEADER, ANNA, BEN}


def test_default_template_fits_a_90_minute_meeting_with_two_cases() -> None:
    template = PhaseTemplate()
    assert template.cases == 2
    assert template.meeting_length() == timedelta(minutes=90)
    assert not template.listening_mode
    assert not template.auto_advance


def test_default_sequence_is_meeting_phases_then_each_case_in_order() -> None:
    sequence = positions(PhaseTemplate())
    assert sequence[:2] == (Position(None, Phase.CHECK_IN), Position(None, Phase.FOLLOW_UPS))
    assert sequence[2:8] == tuple(Position(1, phase) for phase in CASE_PHASES)
    assert sequence[8:] == tuple(Position(2, phase) for phase in CASE_PHASES)


def test_skipped_phases_are_left_out_and_cases_count_is_respected() -> None:
    template = (
        PhaseTemplate(cases=1)
        .with_phase(Phase.QUESTIONS, enabled=False)
        .with_phase(Phase.CHECK_IN, enabled=False)
    )
    assert [p.phase for p in positions(template)] == [
        Phase.FOLLOW_UPS,
        Phase.CASE_SELECTION,
        Phase.PRESENTATION,
        Phase.DISCUSSION,
        Phase.PRESENTER_RETURNS,
        Phase.CLOSING,
    ]


def test_next_walks_the_whole_meeting_then_returns_none_for_ready_to_end() -> None:
    template = PhaseTemplate()
    walked = [first_position(template)]
    while (following := next_position(template, walked[-1])) is not None:
        walked.append(following)
    assert tuple(walked) == positions(template)


def test_next_from_the_last_case_closing_is_ready_to_end() -> None:
    assert next_position(PhaseTemplate(), Position(2, Phase.CLOSING)) is None


def test_next_crosses_from_one_case_to_the_next() -> None:
    assert next_position(PhaseTemplate(), Position(1, Phase.CLOSING)) == Position(
        2, Phase.CASE_SELECTION
    )


def test_next_from_a_phase_switched_off_mid_meeting_still_moves_on() -> None:
    template = PhaseTemplate().with_phase(Phase.QUESTIONS, enabled=False)
    assert next_position(template, Position(1, Phase.QUESTIONS)) == Position(1, Phase.DISCUSSION)


def test_previous_goes_back_and_refuses_before_the_start() -> None:
    template = PhaseTemplate()
    assert previous_position(template, Position(2, Phase.CASE_SELECTION)) == Position(
        1, Phase.CLOSING
    )
    with pytest.raises(PhaseError, match="first phase"):
        previous_position(template, Position(None, Phase.CHECK_IN))


def test_position_for_phase_set() -> None:
    template = PhaseTemplate()
    assert position_for(template, Phase.DISCUSSION, 2) == Position(2, Phase.DISCUSSION)
    assert position_for(template, Phase.FOLLOW_UPS, None) == Position(None, Phase.FOLLOW_UPS)


@pytest.mark.parametrize(
    ("template", "phase", "case_number", "message"),
    [
        (PhaseTemplate().with_phase(Phase.QUESTIONS, enabled=False), Phase.QUESTIONS, 1, "off"),
        (PhaseTemplate(), Phase.DISCUSSION, 3, "no case 3"),
        (PhaseTemplate(), Phase.DISCUSSION, None, "which case"),
    ],
)
def test_position_for_refuses_with_a_human_message(
    template: PhaseTemplate, phase: Phase, case_number: int | None, message: str
) -> None:
    with pytest.raises(PhaseError, match=message):
        position_for(template, phase, case_number)


def test_positions_reject_a_case_number_on_meeting_phases_and_none_on_case_phases() -> None:
    with pytest.raises(PhaseError):
        Position(1, Phase.CHECK_IN)
    with pytest.raises(PhaseError):
        Position(None, Phase.DISCUSSION)


def test_phase_named_accepts_values_and_group_titles() -> None:
    template = PhaseTemplate().with_phase(Phase.DISCUSSION, title="Pushback")
    assert phase_named(template, "presenter returns") == Phase.PRESENTER_RETURNS
    assert phase_named(template, "PRESENTER_RETURNS") == Phase.PRESENTER_RETURNS
    assert phase_named(template, " pushback ") == Phase.DISCUSSION
    with pytest.raises(PhaseError, match="no phase called 'lunch'"):
        phase_named(template, "lunch")


def test_renamed_titles_show_on_the_panel() -> None:
    template = PhaseTemplate().with_phase(Phase.PRESENTATION, title="The case")
    assert describe_position(template, Position(1, Phase.PRESENTATION)) == "Case 1 · The case"
    assert describe_position(template, Position(None, Phase.CHECK_IN)) == "Check-in"


# --- Template storage ---------------------------------------------------------------------


def test_template_round_trips_through_a_dict() -> None:
    template = (
        PhaseTemplate(cases=3, listening_mode=True, auto_advance=True)
        .with_phase(Phase.QUESTIONS, enabled=False)
        .with_phase(Phase.DISCUSSION, title="Pushback", planned=timedelta(minutes=25))
    )
    stored = template.to_dict()
    assert stored["cases"] == 3
    assert PhaseTemplate.from_dict(stored) == template


def test_from_dict_fills_missing_settings_from_the_defaults() -> None:
    template = PhaseTemplate.from_dict({"phases": {"discussion": {"minutes": 30}}})
    assert template.planned(Phase.DISCUSSION) == timedelta(minutes=30)
    assert template.title(Phase.DISCUSSION) == PhaseTemplate().title(Phase.DISCUSSION)
    assert template.cases == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"phases": {"lunch": {}}}, "Unknown phase 'lunch'"),
        ({"phases": {"discussion": {"minutes": 0}}}, "between 1 and 120 minutes"),
        ({"phases": {"discussion": {"minutes": 121}}}, "between 1 and 120 minutes"),
        ({"phases": {"discussion": {"minutes": "20"}}}, "'minutes' must be a whole number"),
        ({"phases": {"discussion": {"title": ""}}}, "1 to 40 characters"),
        ({"phases": {"discussion": {"title": "x" * 41}}}, "1 to 40 characters"),
        ({"phases": {"discussion": {"colour": "red"}}}, "Unknown setting 'colour'"),
        ({"cases": 0}, "1 to 4 cases"),
        ({"cases": 5}, "1 to 4 cases"),
        ({"cases": True}, "'cases' must be a whole number"),
        ({"listening_mode": "yes"}, "'listening_mode' must be true or false"),
        ({"theme": "dark"}, "Unknown template setting 'theme'"),
        ({"phases": {phase.value: {"enabled": False} for phase in Phase}}, "At least one"),
    ],
)
def test_from_dict_rejects_bad_settings_with_human_messages(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        PhaseTemplate.from_dict(data)


def test_durations_must_be_whole_minutes() -> None:
    with pytest.raises(TemplateError, match="whole minutes"):
        PhaseTemplate().with_phase(Phase.CLOSING, planned=timedelta(minutes=2, seconds=30))


# --- Silence ------------------------------------------------------------------------------


def _silenced(
    phase: Phase, template: PhaseTemplate, *, presenter: int | None = PRESENTER
) -> set[int]:
    case = 1 if phase.is_per_case else None
    return set(
        silenced_members(
            Position(case, phase),
            template,
            presenter_id=presenter,
            leader_ids={LEADER, CO_LEADER},
            present_member_ids=EVERYONE,
        )
    )


def test_presenter_is_silenced_in_voice_and_text_during_the_discussion() -> None:
    found = silences(
        Position(1, Phase.DISCUSSION),
        PhaseTemplate(),
        presenter_id=PRESENTER,
        leader_ids={LEADER},
        present_member_ids=EVERYONE,
    )
    assert found == frozenset({Silence(PRESENTER, SilenceKind.VOICE_AND_TEXT)})
    assert SilenceKind.VOICE_AND_TEXT.denials == {
        Denial(Channel.VOICE, Permission.SPEAK),
        Denial(Channel.TEXT, Permission.SEND_MESSAGES),
    }


@pytest.mark.parametrize("phase", [p for p in Phase if p is not Phase.DISCUSSION])
def test_nobody_is_silenced_outside_the_discussion_by_default(phase: Phase) -> None:
    assert _silenced(phase, PhaseTemplate()) == set()


def test_listening_mode_silences_all_but_presenter_and_leaders_in_voice_only() -> None:
    template = PhaseTemplate(listening_mode=True)
    assert _silenced(Phase.PRESENTATION, template) == {ANNA, BEN}
    assert _silenced(Phase.QUESTIONS, template) == set()
    found = silences(
        Position(1, Phase.PRESENTATION),
        template,
        presenter_id=PRESENTER,
        leader_ids={LEADER},
        present_member_ids={PRESENTER, LEADER, ANNA},
    )
    assert found == frozenset({Silence(ANNA, SilenceKind.VOICE_ONLY)})
    assert SilenceKind.VOICE_ONLY.denials == {Denial(Channel.VOICE, Permission.SPEAK)}


def test_listening_mode_without_a_presenter_leaves_only_leaders_speaking() -> None:
    template = PhaseTemplate(listening_mode=True)
    assert _silenced(Phase.PRESENTATION, template, presenter=None) == {PRESENTER, ANNA, BEN}


def test_a_sole_leader_who_presents_is_pushed_back_like_anyone() -> None:
    found = silenced_members(
        Position(2, Phase.DISCUSSION),
        PhaseTemplate(),
        presenter_id=LEADER,
        leader_ids={LEADER},
        present_member_ids={LEADER, ANNA, BEN},
    )
    assert found == {LEADER}


def test_absent_presenter_and_missing_presenter_silence_nobody() -> None:
    assert _silenced(Phase.DISCUSSION, PhaseTemplate(), presenter=None) == set()
    found = silenced_members(
        Position(1, Phase.DISCUSSION),
        PhaseTemplate(),
        presenter_id=PRESENTER,
        leader_ids={LEADER},
        present_member_ids={LEADER, ANNA},
    )
    assert found == set()


# --- Timing -------------------------------------------------------------------------------


def test_cues_warn_two_minutes_before_the_planned_end() -> None:
    cues = cue_times(START, timedelta(minutes=20))
    assert cues.end_at == START + timedelta(minutes=20)
    assert cues.warning_at == START + timedelta(minutes=18)


@pytest.mark.parametrize("minutes", [1, 2])
def test_short_phases_get_no_warning(minutes: int) -> None:
    cues = cue_times(START, timedelta(minutes=minutes))
    assert cues.warning_at is None
    assert cues.end_at == START + timedelta(minutes=minutes)


def test_cues_refuse_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cue_times(START.replace(tzinfo=None), timedelta(minutes=5))


@pytest.mark.parametrize(
    ("elapsed", "planned", "shown"),
    [
        (timedelta(minutes=12, seconds=5), timedelta(minutes=20), "12:05 / 20:00"),
        (timedelta(0), timedelta(minutes=3), "0:00 / 3:00"),
        (timedelta(minutes=23, seconds=9), timedelta(minutes=20), "23:09 / 20:00"),
        (timedelta(minutes=95), timedelta(minutes=120), "95:00 / 120:00"),
        (timedelta(seconds=-4), timedelta(minutes=5), "0:00 / 5:00"),
    ],
)
def test_progress_is_elapsed_over_planned(
    elapsed: timedelta, planned: timedelta, shown: str
) -> None:
    assert format_progress(START, planned, START + elapsed) == shown


def test_time_summary_rows_follow_the_meeting_and_add_up_returns() -> None:
    def record(phase: Phase, case: int | None, start: int, end: int, planned: int) -> PhaseRecord:
        return PhaseRecord(
            phase,
            case,
            START + timedelta(minutes=start),
            START + timedelta(minutes=end),
            timedelta(minutes=planned),
        )

    rows = time_summary(
        [
            record(Phase.PRESENTATION, 1, 5, 14, 7),
            record(Phase.CHECK_IN, None, 0, 5, 5),
            record(Phase.DISCUSSION, 1, 14, 30, 18),
            record(Phase.PRESENTATION, 1, 30, 32, 7),
        ],
        PhaseTemplate(),
    )
    assert [(row.label, row.planned, row.actual, row.overrun) for row in rows] == [
        ("Check-in", timedelta(minutes=5), timedelta(minutes=5), timedelta(0)),
        (
            "Case 1 · Presentation",
            timedelta(minutes=7),
            timedelta(minutes=11),
            timedelta(minutes=4),
        ),
        (
            "Case 1 · Discussion (presenter pushed back)",
            timedelta(minutes=18),
            timedelta(minutes=16),
            timedelta(minutes=-2),
        ),
    ]


def test_a_phase_record_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="end before"):
        PhaseRecord(Phase.CLOSING, 1, START, START - timedelta(seconds=1), timedelta(minutes=3))
