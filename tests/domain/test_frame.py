"""Who holds the meeting when connections fail, and who may be named deputy."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.frame import (
    Control,
    ControlKind,
    DeputyRefusal,
    Presence,
    check_deputy,
    who_controls,
)

GRACE = timedelta(seconds=60)
LEADER, DEPUTY, CO, MEMBER = 1, 2, 3, 4


def presence(**changes: object) -> Presence:
    values: dict[str, object] = {
        "runner_id": LEADER,
        "present": frozenset({DEPUTY, CO, MEMBER}),
        "away_for": timedelta(seconds=61),
        "deputy_id": DEPUTY,
        "co_leader_ids": (CO,),
        "presenter_id": None,
    }
    values.update(changes)
    return Presence(**values)  # type: ignore[arg-type]


def test_a_present_runner_keeps_the_meeting() -> None:
    """The leader in the room holds it, deputy or not."""
    found = who_controls(presence(present=frozenset({LEADER, DEPUTY}), away_for=None), GRACE)
    assert found == Control(ControlKind.RUNNER, LEADER)


def test_a_short_drop_changes_nothing() -> None:
    """Within the grace time the leader still holds the meeting."""
    assert who_controls(presence(away_for=timedelta(seconds=59)), GRACE).kind is ControlKind.RUNNER


def test_after_the_grace_time_the_deputy_takes_over() -> None:
    assert who_controls(presence(), GRACE) == Control(ControlKind.STAND_IN, DEPUTY)


def test_a_presenting_deputy_is_skipped_for_the_co_leader() -> None:
    found = who_controls(presence(presenter_id=DEPUTY), GRACE)
    assert found == Control(ControlKind.STAND_IN, CO)


def test_a_deputy_out_of_the_room_is_skipped() -> None:
    found = who_controls(presence(present=frozenset({CO, MEMBER})), GRACE)
    assert found == Control(ControlKind.STAND_IN, CO)


def test_with_nobody_to_stand_in_the_meeting_waits() -> None:
    found = who_controls(presence(deputy_id=None, co_leader_ids=()), GRACE)
    assert found == Control(ControlKind.WAITING, None)


def test_a_presenting_deputy_without_co_leader_means_waiting() -> None:
    found = who_controls(presence(presenter_id=DEPUTY, co_leader_ids=()), GRACE)
    assert found.kind is ControlKind.WAITING


def test_naming_oneself_is_refused() -> None:
    with pytest.raises(DeputyRefusal, match="your own deputy"):
        check_deputy(naming_leader=LEADER, candidate=LEADER, is_active_member=True,
                     accepted_agreement=True)


def test_a_non_member_is_refused() -> None:
    with pytest.raises(DeputyRefusal, match="isn't a member"):
        check_deputy(naming_leader=LEADER, candidate=MEMBER, is_active_member=False,
                     accepted_agreement=False)


def test_a_member_without_the_agreement_is_refused() -> None:
    with pytest.raises(DeputyRefusal, match="agreement"):
        check_deputy(naming_leader=LEADER, candidate=MEMBER, is_active_member=True,
                     accepted_agreement=False)


def test_an_accepted_member_may_be_named() -> None:
    check_deputy(naming_leader=LEADER, candidate=MEMBER, is_active_member=True,
                 accepted_agreement=True)
