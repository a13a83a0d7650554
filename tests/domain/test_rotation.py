from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.rotation import (
    Member,
    Proposal,
    ProposalReason,
    Turn,
    TurnKind,
    current_round,
    propose_presenters,
)

SERIES_START = datetime(2025, 1, 7, 8, 0, tzinfo=UTC)
A, B, C, D = 1, 2, 3, 4


def member(member_id: int, joined_days_ago: int = 0) -> Member:
    return Member(member_id, SERIES_START - timedelta(days=joined_days_ago))


def turn(member_id: int, meeting: int, kind: TurnKind = TurnKind.PRESENTED) -> Turn:
    return Turn(member_id, kind, SERIES_START + timedelta(weeks=meeting))


def order(proposals: list[Proposal]) -> list[tuple[int, ProposalReason]]:
    return [(p.member_id, p.reason) for p in proposals]


MEMBERS = [member(A, 30), member(B, 20), member(C, 10), member(D, 0)]
DUE, HAD, VOL = ProposalReason.DUE, ProposalReason.HAD_TURN, ProposalReason.VOLUNTEER


def test_with_no_history_the_longest_standing_members_come_first() -> None:
    assert order(propose_presenters(MEMBERS, {A, B, C, D}, [], [])) == [
        (A, DUE),
        (B, DUE),
        (C, DUE),
        (D, DUE),
    ]


def test_members_who_never_presented_come_before_those_who_did() -> None:
    history = [turn(A, 0), turn(B, 1)]
    assert order(propose_presenters(MEMBERS, {A, B, C, D}, [], history)) == [
        (C, DUE),
        (D, DUE),
        (A, HAD),
        (B, HAD),
    ]


def test_volunteers_who_are_due_come_first_in_volunteering_order() -> None:
    history = [turn(A, 0)]
    proposals = propose_presenters(MEMBERS, {A, B, C, D}, [D, C], history)
    assert order(proposals) == [(D, VOL), (C, VOL), (B, DUE), (A, HAD)]


def test_a_volunteer_who_already_had_a_turn_waits_behind_the_due() -> None:
    history = [turn(A, 0)]
    proposals = propose_presenters(MEMBERS, {A, B, C}, [A], history)
    assert order(proposals) == [(B, DUE), (C, DUE), (A, ProposalReason.VOLUNTEER_HAD_TURN)]


def test_a_pass_counts_as_having_had_the_turn() -> None:
    history = [turn(A, 0, TurnKind.PASSED), turn(B, 0)]
    assert order(propose_presenters(MEMBERS, {A, B, C}, [], history))[0] == (C, DUE)
    assert current_round(history) == {A, B}


def test_new_round_when_everyone_present_has_had_a_turn_least_recent_first() -> None:
    history = [turn(B, 0), turn(A, 1), turn(C, 2)]
    # D is away; everyone present has had their turn, so all are due again.
    assert order(propose_presenters(MEMBERS, {A, B, C}, [], history)) == [
        (B, DUE),
        (A, DUE),
        (C, DUE),
    ]


def test_an_absent_member_still_due_comes_first_on_return() -> None:
    history = [turn(A, 0), turn(B, 1), turn(C, 2), turn(A, 3)]  # A began a new round
    assert current_round(history) == {A}
    assert order(propose_presenters(MEMBERS, {A, B, C, D}, [], history))[0] == (D, DUE)


def test_absent_volunteers_and_non_members_are_not_proposed() -> None:
    guest = 99
    proposals = propose_presenters(MEMBERS, {A, B, guest}, [C, guest], [])
    assert order(proposals) == [(A, DUE), (B, DUE)]


def test_history_order_does_not_matter() -> None:
    history = [turn(C, 2), turn(A, 0), turn(B, 1)]
    assert order(propose_presenters(MEMBERS, {A, B, C, D}, [], history))[0] == (D, DUE)


# --- Over a simulated series --------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedMeeting:
    present: frozenset[int]
    volunteers: list[int]
    passes: list[bool]  # whether each successive first proposal lets the turn go by


MEETINGS = st.builds(
    SimulatedMeeting,
    present=st.frozensets(st.integers(0, 7), min_size=2),
    volunteers=st.lists(st.integers(0, 7), max_size=3),
    passes=st.lists(st.booleans(), min_size=8, max_size=8),
)


@settings(max_examples=200, deadline=None)
@given(meetings=st.lists(MEETINGS, min_size=1, max_size=25))
def test_nobody_presents_twice_while_someone_present_throughout_waits(
    meetings: list[SimulatedMeeting],
) -> None:
    """Leaders take the first proposal for each of two cases; some members pass.

    Whenever a member takes a turn again on the rotation (not as a volunteer),
    everyone present at every meeting since their last turn has had one since.
    """
    members = [member(i, joined_days_ago=100 - i) for i in range(8)]
    history: list[Turn] = []
    meeting_of_turn: list[int] = []
    moment = SERIES_START
    for number, meeting in enumerate(meetings):
        for _case in range(2):
            for wants_to_pass in meeting.passes:
                chosen = propose_presenters(members, meeting.present, meeting.volunteers, history)[
                    0
                ]
                assert chosen.member_id in meeting.present
                if chosen.reason is not ProposalReason.VOLUNTEER:
                    assert chosen.reason is ProposalReason.DUE
                    _assert_nobody_waited(
                        chosen.member_id, number, history, meeting_of_turn, meetings
                    )
                moment += timedelta(minutes=1)
                kind = TurnKind.PASSED if wants_to_pass else TurnKind.PRESENTED
                history.append(Turn(chosen.member_id, kind, moment))
                meeting_of_turn.append(number)
                if kind is TurnKind.PRESENTED:
                    break


def _assert_nobody_waited(
    member_id: int,
    meeting: int,
    history: list[Turn],
    meeting_of_turn: list[int],
    meetings: list[SimulatedMeeting],
) -> None:
    earlier = [i for i, t in enumerate(history) if t.member_id == member_id]
    if not earlier:
        return
    last = earlier[-1]
    attended = [m.present for m in meetings[meeting_of_turn[last] : meeting + 1]]
    throughout = frozenset.intersection(*attended)
    had_turn_since = {t.member_id for t in history[last + 1 :]}
    waiting = throughout - had_turn_since - {member_id}
    assert not waiting, f"{member_id} was proposed again while {waiting} waited"
