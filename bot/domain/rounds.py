"""The check-in round: who speaks in what order, how turns move on, who may speak.

Pure rules (issue 16, point 3). The stored turns are the truth; the silence keeper
asks `round_silences` who must be quiet while a "one voice at a time" round runs.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.domain.phases import Phase, Position, Silence, SilenceKind


class RoundOrder(StrEnum):
    """How the group orders its members for the round."""

    SHUFFLE = "shuffle"
    ARRIVAL = "arrival"  # in the order they came into the room
    NAME = "name"  # alphabetically by display name


class TurnStatus(StrEnum):
    WAITING = "waiting"
    SPEAKING = "speaking"
    DONE = "done"
    PASSED = "passed"
    SKIPPED = "skipped"


class RoundError(ValueError):
    """A move the round cannot make; the message is shown as is."""


@dataclass(frozen=True)
class Participant:
    user_id: int
    name: str
    arrival: int  # position in the order of arrival


@dataclass(frozen=True)
class Turn:
    user_id: int
    status: TurnStatus


def order_round(
    participants: Sequence[Participant], rule: RoundOrder, rng: random.Random
) -> list[int]:
    """The speaking order; refused when nobody is there to speak."""
    if not participants:
        raise RoundError("Nobody is in the room yet, so there is no one to check in.")
    if rule is RoundOrder.ARRIVAL:
        ordered = sorted(participants, key=lambda p: p.arrival)
    elif rule is RoundOrder.NAME:
        ordered = sorted(participants, key=lambda p: (p.name.casefold(), p.user_id))
    else:
        ordered = sorted(participants, key=lambda p: p.user_id)
        rng.shuffle(ordered)
    return [p.user_id for p in ordered]


def start(order: Sequence[int]) -> list[Turn]:
    """The first person speaks; the rest wait."""
    return [
        Turn(user_id, TurnStatus.SPEAKING if i == 0 else TurnStatus.WAITING)
        for i, user_id in enumerate(order)
    ]


def speaker(turns: Sequence[Turn]) -> int | None:
    return next((t.user_id for t in turns if t.status is TurnStatus.SPEAKING), None)


def up_next(turns: Sequence[Turn]) -> int | None:
    return next((t.user_id for t in turns if t.status is TurnStatus.WAITING), None)


def is_over(turns: Sequence[Turn]) -> bool:
    return speaker(turns) is None and up_next(turns) is None


def _hand_on(turns: list[Turn], ending: TurnStatus) -> list[Turn]:
    """The speaker's turn ends with `ending`; the next waiting person speaks."""
    current = speaker(turns)
    if current is None:
        raise RoundError("The round is over: everyone has had their turn.")
    turns = [replace(t, status=ending) if t.user_id == current else t for t in turns]
    following = up_next(turns)
    return [replace(t, status=TurnStatus.SPEAKING) if t.user_id == following else t for t in turns]


def next_turn(turns: Sequence[Turn]) -> list[Turn]:
    """The speaker has finished."""
    return _hand_on(list(turns), TurnStatus.DONE)


def skip(turns: Sequence[Turn]) -> list[Turn]:
    """A leader moves past the speaker (not there, or not able to speak now)."""
    return _hand_on(list(turns), TurnStatus.SKIPPED)


def pass_turn(turns: Sequence[Turn], user_id: int) -> list[Turn]:
    """A member lets their turn go by, now or before it comes."""
    mine = next((t for t in turns if t.user_id == user_id), None)
    if mine is None:
        raise RoundError("You're not in this round (it orders those in the room when it starts).")
    if mine.status is TurnStatus.SPEAKING:
        return _hand_on(list(turns), TurnStatus.PASSED)
    if mine.status is TurnStatus.WAITING:
        return [replace(t, status=TurnStatus.PASSED) if t is mine else t for t in turns]
    raise RoundError("Your turn in this round is already over.")


def round_silences(
    position: Position,
    turns: Sequence[Turn],
    *,
    one_voice: bool,
    leader_ids: Collection[int],
    present_member_ids: Collection[int],
) -> frozenset[Silence]:
    """While a one-voice round runs in the check-in, only the speaker and the leaders
    may speak; nobody is silenced once the round is over or the phase moved on."""
    if not one_voice or position.phase is not Phase.CHECK_IN or is_over(turns):
        return frozenset()
    may_speak = {*leader_ids, *([s] if (s := speaker(turns)) is not None else [])}
    return frozenset(
        Silence(member, SilenceKind.VOICE_ONLY) for member in set(present_member_ids) - may_speak
    )
