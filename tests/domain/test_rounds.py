"""The check-in round: order, turns moving on, and who may speak in one-voice mode."""

from __future__ import annotations

import random

import pytest

from bot.domain.phases import Phase, Position, Silence, SilenceKind
from bot.domain.rounds import (
    Participant,
    RoundError,
    RoundOrder,
    TurnStatus,
    is_over,
    next_turn,
    order_round,
    pass_turn,
    round_silences,
    skip,
    speaker,
    start,
    up_next,
)

PEOPLE = [Participant(30, "Carol", 2), Participant(10, "alice", 3), Participant(20, "Bob", 1)]
CHECK_IN = Position(None, Phase.CHECK_IN)


def test_order_by_arrival() -> None:
    assert order_round(PEOPLE, RoundOrder.ARRIVAL, random.Random(1)) == [20, 30, 10]


def test_order_by_name_ignores_case() -> None:
    assert order_round(PEOPLE, RoundOrder.NAME, random.Random(1)) == [10, 20, 30]


def test_shuffle_is_a_permutation_that_depends_on_the_seed() -> None:
    orders = {tuple(order_round(PEOPLE, RoundOrder.SHUFFLE, random.Random(s))) for s in range(20)}
    assert all(sorted(o) == [10, 20, 30] for o in orders)
    assert len(orders) > 1


def test_a_round_with_nobody_is_refused() -> None:
    with pytest.raises(RoundError, match="Nobody"):
        order_round([], RoundOrder.SHUFFLE, random.Random(1))


def test_turns_move_on_and_end() -> None:
    turns = start([1, 2, 3])
    assert (speaker(turns), up_next(turns)) == (1, 2)
    turns = next_turn(turns)
    turns = skip(turns)
    assert speaker(turns) == 3
    assert up_next(turns) is None
    turns = next_turn(turns)
    assert is_over(turns)
    assert [t.status for t in turns] == [TurnStatus.DONE, TurnStatus.SKIPPED, TurnStatus.DONE]
    with pytest.raises(RoundError, match="over"):
        next_turn(turns)


def test_a_member_passes_before_their_turn_and_is_left_out() -> None:
    turns = pass_turn(start([1, 2, 3]), 2)
    assert up_next(turns) == 3
    assert speaker(next_turn(turns)) == 3


def test_the_speaker_passing_hands_on() -> None:
    turns = pass_turn(start([1, 2]), 1)
    assert speaker(turns) == 2
    assert turns[0].status is TurnStatus.PASSED


def test_passing_twice_or_from_outside_is_refused() -> None:
    turns = next_turn(start([1, 2]))
    with pytest.raises(RoundError, match="already over"):
        pass_turn(turns, 1)
    with pytest.raises(RoundError, match="not in this round"):
        pass_turn(turns, 9)


def test_one_voice_silences_all_but_speaker_and_leaders() -> None:
    found = round_silences(CHECK_IN, start([1, 2, 3]), one_voice=True, leader_ids={9},
                           present_member_ids={1, 2, 3, 9})
    assert found == {Silence(2, SilenceKind.VOICE_ONLY), Silence(3, SilenceKind.VOICE_ONLY)}


def test_no_silence_without_one_voice_after_the_round_or_outside_check_in() -> None:
    turns = start([1, 2])
    assert not round_silences(CHECK_IN, turns, one_voice=False, leader_ids=(),
                              present_member_ids={1, 2})
    assert not round_silences(Position(None, Phase.FOLLOW_UPS), turns, one_voice=True,
                              leader_ids=(), present_member_ids={1, 2})
    over = next_turn(next_turn(turns))
    assert not round_silences(CHECK_IN, over, one_voice=True, leader_ids=(),
                              present_member_ids={1, 2})
