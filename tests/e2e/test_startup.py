"""The real bot logs in to the emulator, syncs its commands and answers a person."""

from __future__ import annotations

from tests.e2e.conftest import Harness, answer_text


async def test_bot_syncs_every_command_group(harness: Harness) -> None:
    """Every slash command of every cog reaches Discord, with unique names."""
    names = {command.name for command in harness.emu.commands()}
    assert {"group", "session", "phase", "case", "room"} <= names
    assert len(names) == len(harness.emu.commands())


async def test_unknown_group_gets_a_clear_private_answer(harness: Harness) -> None:
    """A member outside any group's channel, with no group named, is told what to do."""
    result = await harness.command(harness.people.members[0], "group info")
    assert result.ephemeral
    assert "Which group?" in answer_text(result)
