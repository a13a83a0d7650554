"""Logs never hold what members wrote, even at DEBUG with every library talking."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import ManualClock
from bot.logs import WITHHELD
from tests.e2e.conftest import START, Harness, answer_text, leader_says, meeting_group
from tests.emulator.control import Emulator

GROUP_NAME = "Kestrelwood circle"
LABEL = "the quillmaker who would not sleep"
FOLLOW_UP = "Zephyrine came back with her sister; I felt the same dread."
AGREEMENT = "Obsidian rule: we disguise patients and keep what is said."
MEMBER_NAME = "dr-marigold-thistlewaite"


@pytest.fixture
async def debug_harness(
    emulator: Emulator, engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Harness]:
    """The usual server, logging everything from before the bot connects."""
    caplog.set_level(logging.DEBUG)
    clock = ManualClock(START)
    emulator.state.now = clock.now
    harness = Harness(emulator, engine, clock)
    await harness.setup_server()
    emulator.state.users[harness.people.members[0]].username = MEMBER_NAME
    emulator.state.users[harness.people.members[0]].global_name = MEMBER_NAME
    await harness.start_bot()
    yield harness
    with contextlib.suppress(Exception):
        await harness.stop_bot()


async def test_a_meeting_with_follow_ups_at_debug_logs_no_content(
    debug_harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness = debug_harness
    group = await meeting_group(harness, name=GROUP_NAME)
    opened = await leader_says(harness, group, "group agreement-edit")
    assert opened.modal is not None
    field = opened.modal["components"][0]["components"][0]["custom_id"]
    saved = await harness.emu.submit_modal(harness.people.leader, opened, {field: AGREEMENT})
    assert "Saved the agreement" in answer_text(saved)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    chosen = await leader_says(harness, group, "case present", member=presenter, label=LABEL)
    assert "presents case" in answer_text(chosen), answer_text(chosen)
    await leader_says(harness, group, "phase set", phase="discussion")
    await leader_says(harness, group, "session end")
    write = await harness.command(presenter, "followup write", case="1")
    submitted = await harness.emu.submit_modal(presenter, write, {"text": FOLLOW_UP})
    await submitted.final()
    assert "posted" in answer_text(submitted), answer_text(submitted)
    # The follow-up really went through discord.py's HTTP and gateway code meanwhile.
    posted = [
        message
        for channel in harness.emu.state.messages.values()
        for message in channel.values()
        if FOLLOW_UP in f"{message.content} {message.embeds}"
    ]
    assert posted

    # aiohttp.access and tests.* are the emulator's own logs: Discord's side, not the bot's
    # (the bot runs no web server).
    bots_records = [
        record
        for record in caplog.records
        if not record.name.startswith(("aiohttp.access", "tests."))
    ]
    logged = "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}" for record in bots_records
    )
    assert any(r.name == "discord.http" and r.levelno == logging.DEBUG for r in caplog.records)
    assert any(r.name == "discord.gateway" and r.levelno == logging.DEBUG for r in caplog.records)
    assert WITHHELD in logged
    for sentinel in (GROUP_NAME, LABEL, FOLLOW_UP, AGREEMENT, MEMBER_NAME, harness.emu.token):
        assert sentinel not in logged, sentinel
    # Parts of sentinels too: a library might log a truncated body.
    for fragment in ("Kestrelwood", "quillmaker", "Zephyrine", "Obsidian", "thistlewaite"):
        assert fragment not in logged, fragment
