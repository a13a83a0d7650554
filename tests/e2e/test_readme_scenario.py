"""The scenario tests/emulator/README.md shows: the real bot, driven as its people would."""

from __future__ import annotations

from datetime import timedelta

from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group
from tests.e2e.invariant import assert_silence_invariant

OVERWRITE = "/channels/{channel_id}/permissions/{target}"


async def test_presenter_is_pushed_back_even_when_discord_says_slow_down(
    harness: Harness,  # the real bot on a fresh database, connected to the emulator
) -> None:
    # A group with four members who accepted its agreement, all in its voice room.
    group = await meeting_group(harness, members=4)
    presenter = harness.people.members[0]

    # The leader runs slash commands in the group's chat, as in Discord.
    started = await leader_says(harness, group, "session start")
    assert started.ephemeral
    assert "has started" in answer_text(started)
    await leader_says(harness, group, "case present", member=presenter, label="a long night")

    # Discord rate-limits the first permission overwrite; discord.py waits and retries.
    limited = harness.emu.faults.rate_limit(OVERWRITE, method="PUT")
    moved = await leader_says(harness, group, "phase set", phase="discussion")
    assert "Discussion" in answer_text(moved)
    assert limited.fired == 1  # the fault really happened

    # Discord's own voice rule decides who is heard: the presenter listens in silence.
    assert not harness.emu.can_speak(presenter)
    assert harness.emu.can_speak(harness.people.members[1])

    # Time is the test's clock: 16 minutes into the 18-minute discussion comes a cue.
    await harness.advance(timedelta(minutes=16))
    chat = harness.emu.messages(group.text_channel_id or 0)
    assert "Two minutes left" in chat[-1].content

    await leader_says(harness, group, "phase next")
    assert harness.emu.can_speak(presenter)
    # Every session test ends here: nobody silenced or locked out who should not be.
    await assert_silence_invariant(harness)
