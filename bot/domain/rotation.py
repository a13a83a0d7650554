"""Who might present next: volunteers first, then whoever has waited longest for a turn.

The rule over a series: every member gets a turn before anyone presents twice.
Passing (letting one's turn go by) counts as having had the turn. Turns are
counted in rounds: a member is due while they have had no turn in the current
round, and a new round starts once everyone present has had theirs. The leaders
choose; this module only proposes, in order, with the reason for each place.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TurnKind(StrEnum):
    PRESENTED = "presented"
    PASSED = "passed"


@dataclass(frozen=True)
class Turn:
    """A member presented a case, or let their turn go by, at a moment of the series."""

    member_id: int
    kind: TurnKind
    at: datetime


@dataclass(frozen=True)
class Member:
    """A member of the group; the longest-standing member goes first on a tie."""

    member_id: int
    joined_at: datetime


class ProposalReason(StrEnum):
    """Why a member is proposed, in the order the reasons are listed."""

    VOLUNTEER = "volunteer"
    DUE = "due"
    VOLUNTEER_HAD_TURN = "volunteer_had_turn"
    HAD_TURN = "had_turn"


@dataclass(frozen=True)
class Proposal:
    member_id: int
    reason: ProposalReason


def current_round(history: Iterable[Turn]) -> frozenset[int]:
    """Members who have had a turn in the current round.

    A round ends where someone takes a second turn: until then everyone in it
    had at most one. (Whether that second turn was fair is the leaders' call;
    `propose_presenters` only proposes it when nobody present was still due.)
    """
    had_turn: set[int] = set()
    for turn in sorted(history, key=lambda t: t.at):
        if turn.member_id in had_turn:
            had_turn = set()
        had_turn.add(turn.member_id)
    return frozenset(had_turn)


def propose_presenters(
    members: Collection[Member],
    present: Collection[int],
    volunteers: Sequence[int],
    history: Iterable[Turn],
) -> list[Proposal]:
    """Every member present, in the order the leaders should ask them.

    Volunteers who are due come first (in the order they volunteered), then the
    other due members, who has waited longest first (never had a turn before
    anyone), then volunteers and members who already had their turn this round.
    When everyone present has had a turn, a new round begins and all are due.
    People present who are not members (guests, visiting leaders) are not proposed.
    """
    turns = sorted(history, key=lambda t: t.at)
    joined = {member.member_id: member.joined_at for member in members}
    present_ids = set(present)
    candidates = [member_id for member_id in joined if member_id in present_ids]
    had_turn = current_round(turns)
    if all(member_id in had_turn for member_id in candidates):
        had_turn = frozenset()
    last_turn = {turn.member_id: index for index, turn in enumerate(turns)}

    def waited_longest(member_id: int) -> tuple[int, datetime, int]:
        return (last_turn.get(member_id, -1), joined[member_id], member_id)

    volunteered = [v for v in dict.fromkeys(volunteers) if v in candidates]
    others = sorted((c for c in candidates if c not in volunteered), key=waited_longest)

    def reason(member_id: int, *, volunteer: bool) -> ProposalReason:
        if member_id in had_turn:
            return ProposalReason.VOLUNTEER_HAD_TURN if volunteer else ProposalReason.HAD_TURN
        return ProposalReason.VOLUNTEER if volunteer else ProposalReason.DUE

    proposals = [Proposal(v, reason(v, volunteer=True)) for v in volunteered]
    proposals += [Proposal(m, reason(m, volunteer=False)) for m in others]
    order = list(ProposalReason)
    return sorted(proposals, key=lambda p: order.index(p.reason))
