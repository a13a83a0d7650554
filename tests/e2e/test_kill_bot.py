"""The harness's in-process kill is a real stop: nothing of the dead bot runs on."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from bot.db.models import Meeting
from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group
from tests.emulator.faults import OVERWRITE_ROUTE, UnservedRoute


async def test_a_killed_bot_stops_mid_phase_change_and_the_next_one_takes_over(
    harness: Harness,
) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter,
                      label="the farmer who would not rest")
    held = harness.emu.hold(OVERWRITE_ROUTE, method="PUT")
    await harness.emu.run_command(harness.people.leader, harness.guild_id,
                                  group.text_channel_id or 0, "phase set", phase="discussion")
    await held.reached()
    dead = harness.bot
    running = harness.owners.of(dead)
    assert running, "the phase change runs in a task of the bot"

    await harness.kill_bot()

    assert all(task.done() for task in running)
    assert harness.owners.of(dead) == set()
    requests_at_death = len(harness.emu.request_log)
    held.release()
    # Were any of the dead bot's work still alive, the overwrite's answer would wake
    # it and it would go on to move the presenter.
    for _ in range(20):
        await asyncio.sleep(0)
    assert len(harness.emu.request_log) == requests_at_death

    await harness.start_bot()
    moved = await leader_says(harness, group, "phase set", phase="discussion")
    assert "Discussion" in answer_text(moved), answer_text(moved)
    async with harness.bot.session_factory() as session:
        phase = (await session.execute(select(Meeting.current_phase))).scalar_one()
    assert phase == "discussion"
    assert not harness.emu.can_speak(presenter)


async def test_a_hold_on_a_route_the_emulator_does_not_serve_is_refused(
    harness: Harness,
) -> None:
    with pytest.raises(UnservedRoute, match="never fire"):
        harness.emu.hold("/channels/{channel_id}/permissions/{target_id}", method="PUT")
