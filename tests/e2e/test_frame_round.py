"""The check-in round (issue 16, point 3): ordered turns, a member passing, the per-turn
cue, and "one voice at a time" kept by the silence ledger, through a SIGKILL too."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.models import Group, RoundTurn
from tests.e2e.conftest import (
    Harness,
    answer_text,
    button_id,
    leader_says,
    meeting_group,
)
from tests.e2e.invariant import assert_silence_invariant
from tests.e2e.processes import ProcessHarness, process_harness
from tests.emulator.control import Emulator
from tests.emulator.faults import MEMBER_ROUTE, OVERWRITE_ROUTE
from tests.emulator.state import Message

pytestmark = pytest.mark.e2e

SILENT = 1 << 12  # SUPPRESS_NOTIFICATIONS


def round_message(harness: Harness, group: Group) -> Message:
    return next(
        m
        for m in harness.emu.messages(group.text_channel_id or 0)
        if m.embeds and "check-in round" in m.embeds[0].get("title", "")
    )


async def turns(harness: Harness) -> dict[int, str]:
    async with harness.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(RoundTurn.user_id, RoundTurn.status).order_by(RoundTurn.turn_order)
            )
        ).all()
    return {user_id: status for user_id, status in rows}


async def one_voice_round(harness: Harness) -> tuple[Group, list[int]]:
    """Three members in the room, the round started in one-voice mode, in arrival order."""
    group = await meeting_group(harness, members=3)
    changed = await leader_says(
        harness, group, "frame settings", one_voice=True, round_order="arrival", round_seconds=40
    )
    assert "one voice at a time: yes" in answer_text(changed), answer_text(changed)
    await leader_says(harness, group, "session start")
    started = await leader_says(harness, group, "round start")
    assert "Now:" in answer_text(started), answer_text(started)
    order = list(await turns(harness))
    assert sorted(order) == sorted(harness.people.members[:3])
    return group, order


async def test_a_one_voice_round_with_three_members_one_passing(harness: Harness) -> None:
    group, (first, second, third) = await one_voice_round(harness)
    leader = harness.people.leader
    assert harness.emu.can_speak(first)
    assert not harness.emu.can_speak(second)
    assert not harness.emu.can_speak(third)
    assert harness.emu.can_speak(leader)
    await assert_silence_invariant(harness)

    passed = await harness.command(third, "round pass", group.text_channel_id)
    assert "Now:" in answer_text(passed)
    assert (await turns(harness))[third] == "passed"
    # A member cannot move the round on for others.
    refused = await harness.command(second, "round next", group.text_channel_id)
    assert "Only whoever runs the meeting" in answer_text(refused)

    message = round_message(harness, group)
    assert message.flags & SILENT
    assert message.mention_ids == []
    await harness.emu.click(leader, message, button_id(message, "Next ▶"))
    await harness.settle()
    assert await turns(harness) == {first: "done", second: "speaking", third: "passed"}
    assert harness.emu.can_speak(second)
    assert not harness.emu.can_speak(first)
    assert not harness.emu.can_speak(third)
    await assert_silence_invariant(harness)
    panel = next(m for m in harness.emu.messages(group.text_channel_id or 0) if
                 m.embeds and "meeting in progress" in m.embeds[0].get("title", ""))
    fields = {f["name"]: f["value"] for f in panel.embeds[0]["fields"]}
    assert f"Now: <@{second}>" in fields["Check-in round"]
    assert "last turn" in fields["Check-in round"]

    # The turn's time runs out: a quiet cue, once.
    await harness.advance(timedelta(seconds=41))
    await harness.advance(timedelta(seconds=41))
    cues = [m for m in harness.emu.messages(group.text_channel_id or 0)
            if "Time is up" in m.content]
    assert len(cues) == 1
    assert f"<@{second}>" in cues[0].content
    assert cues[0].mention_ids == []

    done = await leader_says(harness, group, "round next")
    assert "complete" in answer_text(done)
    assert all(harness.emu.can_speak(m) for m in (first, second, third, leader))
    assert not round_message(harness, group).components
    await assert_silence_invariant(harness)


async def test_moving_on_from_the_check_in_ends_the_one_voice_silence(harness: Harness) -> None:
    group, (first, second, third) = await one_voice_round(harness)
    await leader_says(harness, group, "phase next")
    assert all(harness.emu.can_speak(m) for m in (first, second, third))
    await assert_silence_invariant(harness)


async def test_a_late_joiner_is_silenced_during_a_one_voice_round(harness: Harness) -> None:
    group, _ = await one_voice_round(harness)
    late = harness.people.members[3]
    await harness.add_and_accept(group, late)
    await harness.emu.join_voice(late, group.voice_channel_id or 0)
    await harness.settle()
    assert not harness.emu.can_speak(late)
    await assert_silence_invariant(harness)


async def test_bad_round_requests_are_refused(harness: Harness) -> None:
    group = await meeting_group(harness, members=2, in_voice=False)
    await harness.emu.join_voice(harness.people.leader, group.voice_channel_id or 0)
    not_live = await leader_says(harness, group, "round start")
    assert "no meeting running" in answer_text(not_live)
    await leader_says(harness, group, "session start")
    empty = await leader_says(harness, group, "round start")
    assert "Nobody is in the room" in answer_text(empty)
    nothing = await leader_says(harness, group, "round next")
    assert "No round is running" in answer_text(nothing)
    await harness.emu.join_voice(harness.people.members[0], group.voice_channel_id or 0)
    await leader_says(harness, group, "phase next")
    wrong_phase = await leader_says(harness, group, "round start")
    assert "belongs to the check-in" in answer_text(wrong_phase)
    assert await turns(harness) == {}
    await assert_silence_invariant(harness)


@pytest.fixture
async def crashes(emulator: Emulator, engine: AsyncEngine,
                  tmp_path: Path) -> AsyncIterator[ProcessHarness]:
    harness = await process_harness(emulator, engine, tmp_path)
    yield harness
    await harness.stop_process()


async def test_killed_in_the_middle_of_a_turn_change_the_round_is_as_stored_after_restart(
    crashes: ProcessHarness,
) -> None:
    """SIGKILL while the bot lifts the next speaker's silence and silences the last one:
    within 5 s of the new process being ready, who may speak is what the turns say."""
    group, (first, second, third) = await one_voice_round(crashes)
    await crashes.command(third, "round pass", group.text_channel_id)
    await crashes.hand_over()

    since = len(crashes.emu.request_log)
    held = crashes.emu.hold(skip=2)  # the callback and the first overwrite go through
    running = asyncio.create_task(crashes.emu.run_command(
        crashes.people.leader, crashes.guild_id, group.text_channel_id or 0, "round next",
        check=False))
    record = await held.reached()
    await crashes.kill_process()
    held.refuse()
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    made = [(r.method, r.route) for r in crashes.emu.request_log[since:]]
    # Killed after the next speaker's silence was lifted, before the move that applies it.
    assert made[1] == ("DELETE", OVERWRITE_ROUTE), made
    assert (record.method, record.route) == ("PATCH", MEMBER_ROUTE)
    assert await turns(crashes) == {first: "done", second: "speaking", third: "passed"}

    await crashes.start_process(until="READY")
    took = await crashes.consistent(lambda: assert_silence_invariant(crashes))
    assert took < 5.0
    assert crashes.emu.can_speak(second)
    assert not crashes.emu.can_speak(first)
    assert not crashes.emu.can_speak(third)

    done = await crashes.command(crashes.people.leader, "round next", group.text_channel_id)
    assert "complete" in answer_text(done)
    await crashes.consistent(lambda: assert_silence_invariant(crashes))
    assert all(crashes.emu.can_speak(m) for m in (first, second, third))
