"""Keeping the frame when connections fail: who runs the meeting, and whom to name.

Pure rules (issue 16): the service reads presence from Discord and times from the
clock; this module decides who controls the meeting and which deputies are valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True)
class FrameStatus:
    """What the panel shows about the frame: who stands in, and whether it waits."""

    stand_in: int | None
    paused_since: datetime | None


class ControlKind(StrEnum):
    """Who holds the meeting now."""

    RUNNER = "runner"  # the leader who started it (present, or away within the grace time)
    STAND_IN = "stand_in"  # the deputy, or a co-leader when the deputy cannot
    WAITING = "waiting"  # nobody: the meeting waits and nothing advances by itself


@dataclass(frozen=True)
class Control:
    kind: ControlKind
    user_id: int | None


@dataclass(frozen=True)
class Presence:
    """What the bot knows of the room when it decides who controls the meeting."""

    runner_id: int
    present: frozenset[int]
    away_for: timedelta | None  # how long the runner has been out of the room
    deputy_id: int | None  # an accepted deputy for this meeting or the group
    co_leader_ids: Sequence[int]  # the other leaders, in the order they are tried
    presenter_id: int | None


def who_controls(presence: Presence, grace: timedelta) -> Control:
    """The runner while present or briefly away; then the deputy, then a co-leader in
    the room; never the presenter (who may be pushed back); otherwise nobody."""
    if presence.runner_id in presence.present or (
        presence.away_for is not None and presence.away_for < grace
    ):
        return Control(ControlKind.RUNNER, presence.runner_id)
    candidates = [presence.deputy_id, *presence.co_leader_ids]
    for candidate in candidates:
        if (
            candidate is not None
            and candidate != presence.runner_id
            and candidate != presence.presenter_id
            and candidate in presence.present
        ):
            return Control(ControlKind.STAND_IN, candidate)
    return Control(ControlKind.WAITING, None)


class DeputyRefusal(ValueError):
    """A deputy who cannot be named; the message is shown to the leader as is."""


def check_deputy(
    *, naming_leader: int, candidate: int, is_active_member: bool, accepted_agreement: bool
) -> None:
    """A deputy must be someone else, an active member, who accepted the agreement."""
    if candidate == naming_leader:
        raise DeputyRefusal(
            "You can't be your own deputy: name a co-leader or a member who could "
            "hold the meeting if your connection fails."
        )
    if not is_active_member:
        raise DeputyRefusal(f"<@{candidate}> isn't a member of this group.")
    if not accepted_agreement:
        raise DeputyRefusal(
            f"<@{candidate}> hasn't accepted the group's agreement yet, so they can't be "
            "the deputy."
        )
