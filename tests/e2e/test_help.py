"""/help fits the person asking, and a new server gets its first steps."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Harness, answer_text, meeting_group
from tests.emulator.control import BOT_DEFAULT
from tests.emulator.permissions import P

pytestmark = pytest.mark.e2e

DEFAULT_TIMINGS = [
    ("Check-in", 5),
    ("Follow-ups", 5),
    ("Who has a case?", 2),
    ("Presentation", 7),
    ("Clarifying questions", 5),
    ("Discussion (presenter pushed back)", 18),
    ("Presenter returns", 5),
    ("Closing", 3),
]


async def test_admin_gets_the_checklist_with_a_live_permission_check(harness: Harness) -> None:
    """An admin sees what the bot lacks, by name and reason, and what is left to set up."""
    guild_id = harness.guild_id
    await harness.emu.edit_role(
        guild_id, harness.emu.bot_role(guild_id).id, permissions=BOT_DEFAULT & ~P.MOVE_MEMBERS
    )
    await harness.settle()
    result = await harness.command(harness.people.admin, "help")
    text = answer_text(result)
    assert result.ephemeral
    assert "Setting up (server admins)" in text
    assert "❌ **Move Members**" in text
    assert "/room lobby" in text
    assert "Create a group" in text
    assert "Running a meeting" not in text


async def test_admin_checklist_ticks_off_what_is_done(harness: Harness) -> None:
    await harness.create_group()
    lobby = await harness.command(harness.people.admin, "room lobby", channel=harness.lobby_id)
    assert "will be moved into their meeting" in answer_text(lobby)
    text = answer_text(await harness.command(harness.people.admin, "help"))
    assert "✅ The bot has every permission it needs." in text
    assert f"✅ Lobby: <#{harness.lobby_id}>." in text
    assert "✅ 1 group so far." in text


async def test_leader_gets_their_groups_meeting_with_its_timings(harness: Harness) -> None:
    """The run-through is the group's own: every phase, its minutes, and what to run."""
    group = await meeting_group(harness, members=2, in_voice=False)
    result = await harness.command(harness.people.leader, "help", group.text_channel_id)
    text = answer_text(result)
    assert result.ephemeral
    assert f"Running a meeting of {group.name} (leaders)" in text
    for title, minutes in DEFAULT_TIMINGS:
        assert f"**{title}** ({minutes} min)" in text, title
    assert "each of the 2 cases" in text
    assert "About 90 minutes in all." in text
    for command in ("/session start", "/phase next", "/case suggest-presenters", "/session end"):
        assert command in text
    assert f"<#{group.text_channel_id}>" in text
    assert "Setting up" not in text


async def test_member_learns_how_to_take_part(harness: Harness) -> None:
    group = await meeting_group(harness, members=2, in_voice=False)
    member = harness.people.members[0]
    result = await harness.command(member, "help", group.text_channel_id)
    text = answer_text(result)
    assert result.ephemeral
    assert "Taking part (members)" in text
    assert f"**{group.name}**" in text
    for command in ("/case offer", "/followup write", "/privacy export", "/reminders"):
        assert command in text
    assert "Running a meeting" not in text
    assert "Setting up" not in text


async def test_someone_in_no_group_is_told_whom_to_ask(harness: Harness) -> None:
    await harness.create_group(name="Private group")
    text = answer_text(await harness.command(harness.people.outsider, "help"))
    assert "ask a group's leader" in text
    assert "Private group" not in text


async def test_joining_a_server_sends_the_owner_first_steps(harness: Harness) -> None:
    """With no system channel to post in, the owner gets the checklist by DM."""
    owner = await harness.emu.create_user("new-owner")
    await harness.emu.create_guild("Another society", owner=owner.id)
    await harness.settle()
    dms = harness.emu.dms(owner.id)
    assert len(dms) == 1
    assert "Thanks for adding **balint-bot**" in (dms[0].content or "")
    assert dms[0].embeds[0]["title"] == "Setting up (server admins)"
