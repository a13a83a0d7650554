"""Real crashes: the bot process is SIGKILLed between two of its requests, then restarted.

Each kill point holds the bot's k-th request of an operation in the emulator, kills
the process while it waits for the answer (so requests before it were done and
confirmed, it and those after it never reached Discord), and starts a new process on
the same database and emulator. Discord must then agree with the database within 5 s
of the new process being ready: the presenter silent exactly during the discussion,
and no overwrite of the bot's left otherwise.

CI runs every kill point once, the aftermaths (meeting goes on, ended while down,
phase ran out while down) in turn; BALINT_CRASH_MATRIX=full (`make crash-matrix`)
runs every kill point with every aftermath.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.e2e.conftest import Harness, leader_says
from tests.e2e.crash_points import (
    COMMANDS,
    OPERATIONS,
    WhileDown,
    before,
    crash_cases,
    happen_while_down,
    kill_before_request,
)
from tests.e2e.invariant import assert_silence_invariant
from tests.e2e.processes import ProcessHarness, process_harness
from tests.emulator.control import Emulator

pytestmark = pytest.mark.e2e

@pytest.fixture
async def crashes(emulator: Emulator, engine: AsyncEngine,
                  tmp_path: Path) -> AsyncIterator[ProcessHarness]:
    harness = await process_harness(emulator, engine, tmp_path)
    yield harness
    await harness.stop_process()


@pytest.mark.parametrize(("operation", "k", "while_down"),
                         crash_cases(full=os.environ.get("BALINT_CRASH_MATRIX") == "full"))
async def test_killed_between_two_requests_discord_agrees_within_5_s_of_ready(
    crashes: ProcessHarness, operation: str, k: int, while_down: WhileDown
) -> None:
    group = await before(crashes, operation)
    await crashes.hand_over()
    await kill_before_request(crashes, group, operation, k)
    await happen_while_down(crashes, group, while_down)

    await crashes.start_process(until="READY")

    took = await crashes.consistent(lambda: assert_silence_invariant(crashes))
    assert took < 5.0


async def test_the_operations_make_the_requests_the_kill_points_assume(harness: Harness) -> None:
    """The kill points are "before each request": the list of requests must be the real one."""
    group = await before(harness, "start")
    presenter = harness.people.members[0]
    made: dict[str, list[tuple[str, str]]] = {}
    for operation in OPERATIONS:
        if operation == "enter-discussion":
            await leader_says(harness, group, "case present", member=presenter,
                              label="the farmer who would not rest")
            await leader_says(harness, group, "phase set", phase="questions")
        if operation == "end":
            await leader_says(harness, group, "phase set", phase="discussion")
        since = len(harness.emu.request_log)
        command, options = COMMANDS[operation]
        await leader_says(harness, group, command, **options)
        made[operation] = [(r.method, r.route) for r in harness.emu.request_log[since:]]
    assert made == OPERATIONS
