"""Kill points: where in an operation the bot process dies, and what happens meanwhile.

Used by the crash tests and by the recovery benchmark. A kill point is an operation
and k: the bot dies as it sends its k-th request of that operation (so requests
before it were done and confirmed; it and those after it never reach Discord).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import update

from bot.db.models import Group, Meeting, MeetingStatus
from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group
from tests.e2e.processes import ProcessHarness
from tests.emulator.faults import MEMBER_ROUTE, OVERWRITE_ROUTE

# The bot's requests for each operation, in order; the kill lands before request k.
# Kept honest by tests/e2e/test_session_crashes.py::test_the_operations_make_the_requests…
OPERATIONS: dict[str, list[tuple[str, str]]] = {
    "start": [
        ("POST", "/interactions/{webhook_id}/{webhook_token}/callback"),
        ("POST", "/channels/{channel_id}/messages"),
        ("POST", "/webhooks/{webhook_id}/{webhook_token}"),
    ],
    "enter-discussion": [
        ("POST", "/interactions/{webhook_id}/{webhook_token}/callback"),
        ("PUT", OVERWRITE_ROUTE),
        ("PATCH", MEMBER_ROUTE),
        ("PUT", OVERWRITE_ROUTE),
        ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
        ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
    ],
    "leave-discussion": [
        ("POST", "/interactions/{webhook_id}/{webhook_token}/callback"),
        ("DELETE", OVERWRITE_ROUTE),
        ("DELETE", OVERWRITE_ROUTE),
        ("PATCH", MEMBER_ROUTE),
        ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"),
        ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
    ],
    "end": [
        ("POST", "/interactions/{webhook_id}/{webhook_token}/callback"),
        ("DELETE", OVERWRITE_ROUTE),
        ("DELETE", OVERWRITE_ROUTE),
        ("PATCH", MEMBER_ROUTE),
        ("PATCH", "/channels/{channel_id}/messages/{message_id}"),
        ("POST", "/webhooks/{webhook_id}/{webhook_token}"),
        # The leaders' debrief space (created at the first end), the summary, its thread.
        ("POST", "/guilds/{guild_id}/channels"),
        ("POST", "/channels/{channel_id}/messages"),
        ("POST", "/channels/{channel_id}/messages/{message_id}/threads"),
    ],
}
COMMANDS = {
    "start": ("session start", {}),
    "enter-discussion": ("phase set", {"phase": "discussion"}),
    "leave-discussion": ("phase next", {}),
    "end": ("session end", {}),
}


class WhileDown(StrEnum):
    """What happens to the meeting while the bot is dead."""

    NOTHING = "meeting-goes-on"
    ENDED = "meeting-ended"
    ADVANCED = "phase-ran-out"


KILL_POINTS = [
    (operation, k) for operation, requests in OPERATIONS.items() for k in range(len(requests))
]


def crash_cases(full: bool) -> list[tuple[str, int, WhileDown]]:
    """Every kill point with every aftermath, or (for CI) every kill point once, with the
    aftermaths taken in turn so that each operation meets each of them."""
    aftermaths = list(WhileDown)
    if full:
        return [(op, k, after) for op, k in KILL_POINTS for after in aftermaths]
    return [(op, k, aftermaths[i % len(aftermaths)]) for i, (op, k) in enumerate(KILL_POINTS)]


async def before(harness: Harness, operation: str) -> Group:
    """Bring a group to where `operation` is run from: no meeting, questions or discussion."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    settings = await leader_says(harness, group, "group settings", auto_advance=True)
    assert "Yes" in answer_text(settings) or "yes" in answer_text(settings), answer_text(settings)
    if operation == "start":
        return group
    started = await leader_says(harness, group, "session start")
    assert "has started" in answer_text(started), answer_text(started)
    chosen = await leader_says(harness, group, "case present", member=presenter,
                               label="the farmer who would not rest")
    assert "presents case 1" in answer_text(chosen), answer_text(chosen)
    phase = "questions" if operation == "enter-discussion" else "discussion"
    moved = await leader_says(harness, group, "phase set", phase=phase)
    assert "Now:" in answer_text(moved), answer_text(moved)
    return group


async def kill_before_request(harness: ProcessHarness, group: Group, operation: str,
                              k: int) -> None:
    """Run the operation on the bot process and SIGKILL it as it sends its k-th request."""
    command, options = COMMANDS[operation]
    held = harness.emu.hold(skip=k)
    running = asyncio.create_task(harness.emu.run_command(
        harness.people.leader, harness.guild_id, group.text_channel_id or 0, command,
        check=False, options=dict(options)))
    record = await held.reached()
    assert (record.method, record.route) == OPERATIONS[operation][k]
    await harness.kill_process()
    held.refuse()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running


async def happen_while_down(harness: ProcessHarness, group: Group, while_down: WhileDown) -> None:
    if while_down is WhileDown.ENDED:
        # Another bot process (or an operator) ended it; this one only learns at start-up.
        async with harness.engine.begin() as conn:
            await conn.execute(update(Meeting).where(Meeting.group_id == group.id).values(
                status=MeetingStatus.ENDED, ended_at=harness.discord_now()))
    elif while_down is WhileDown.ADVANCED:
        harness.let_time_pass(timedelta(hours=1))
