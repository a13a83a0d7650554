"""The real bot logs in to the emulator, syncs its commands and answers a person."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
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


def synced_options(harness: Harness, path: str) -> set[str]:
    """The option names Discord holds for a synced (sub)command, e.g. "session start"."""
    top, _, sub = path.partition(" ")
    [command] = [c for c in harness.emu.commands() if c.name == top]
    options: list[dict[str, object]] = list(command.data.get("options") or [])
    if sub:
        [subcommand] = [o for o in options if o["name"] == sub]
        options = list(subcommand.get("options") or [])  # type: ignore[call-overload]
    return {str(o["name"]) for o in options}


async def test_which_group_hint_names_only_options_the_command_has(harness: Harness) -> None:
    """Outside any group's chat, the hint offers the group option only where it exists."""
    await harness.create_group()
    runs = {
        "group info": harness.people.members[0],
        "session start": harness.people.leader,
        "phase next": harness.people.leader,
        "case list": harness.people.leader,
    }
    offered = set()
    for path, user in runs.items():
        text = answer_text(await harness.command(user, path))
        assert "Which group?" in text, path
        offers_option = "option" in text
        assert offers_option == ("group" in synced_options(harness, path)), (path, text)
        offered.add(offers_option)
    assert offered == {True, False}, "both kinds of hint were checked"


async def test_scenarios_ignore_a_local_env(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A developer's .env or shell with DEV_GUILD_ID (or any setting) does not reach the bot
    under test: its settings are the test's and the defaults."""
    (tmp_path / ".env").write_text("DEV_GUILD_ID=123456789012345678\nLOG_LEVEL=DEBUG\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEV_GUILD_ID", "123456789012345678")
    monkeypatch.setenv("HEARTBEAT_FILE", str(tmp_path / "beat.json"))
    assert Settings.load(".env").dev_guild_id == 123456789012345678  # the trap is set
    settings = harness.settings()
    assert settings.dev_guild_id is None
    assert settings.heartbeat_file is None
    assert settings.log_level == "INFO"
