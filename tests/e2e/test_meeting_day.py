"""A whole meeting day on a realistic Discord: three groups meet one after another, one of
them in a channel where the bot lacks Manage Roles. The bot stays far below Discord's
invalid-request ban (10,000 401/403/429 in 10 minutes) and never loops on a refusal."""

from __future__ import annotations

from datetime import timedelta

import discord

from bot.db.models import Group
from tests.e2e.conftest import Harness, answer_text, leader_says
from tests.emulator.faults import OVERWRITE_ROUTE

MANAGE_ROLES = discord.Permissions(manage_roles=True).value


async def meet(harness: Harness, group: Group, people: list[int], *, refuse: bool = False) -> str:
    """One meeting: everyone in the room, a case, the discussion, back, the end."""
    room = group.voice_channel_id or 0
    for user_id in [harness.people.leader, *people]:
        await harness.emu.join_voice(user_id, room)
    assert "has started" in answer_text(await leader_says(harness, group, "session start"))
    await leader_says(harness, group, "case present", member=people[0], label="a long night")
    await leader_says(harness, group, "phase set", phase="discussion")
    if refuse:  # someone edits the channel mid-meeting and takes Manage Roles from the bot
        text_id = group.text_channel_id or 0
        own = harness.emu.overwrites(text_id)[harness.emu.bot_id]
        await harness.emu.set_overwrite(text_id, harness.emu.bot_id, allow=own.allow,
                                        deny=MANAGE_ROLES)
    await leader_says(harness, group, "phase next")
    ended = answer_text(await leader_says(harness, group, "session end"))
    for user_id in [harness.people.leader, *people]:
        await harness.emu.leave_voice(user_id)
    return ended


async def test_a_meeting_day_stays_far_below_the_invalid_request_ban(harness: Harness) -> None:
    members = harness.people.members
    groups = []
    for name, people in (("Morning group", members[0:2]), ("Noon group", members[2:4]),
                         ("Evening group", [members[4], members[0]])):
        group = await harness.create_group(name=name)
        for user_id in people:
            await harness.add_and_accept(group, user_id)
        groups.append((group, people))

    ended = []
    for index, (group, people) in enumerate(groups):
        ended.append(await meet(harness, group, people, refuse=index == 1))
        await harness.advance(timedelta(hours=4))
    assert "Needs attention" in ended[1]
    assert all("Needs attention" not in text for text in (ended[0], ended[2]))

    refused_at_day_end = len([r for r in harness.emu.requests(route=OVERWRITE_ROUTE)
                              if r.status == 403])
    for _ in range(12):  # the night: the bot retries what it could not undo, backing off
        await harness.advance(timedelta(hours=1))
    refused = [r for r in harness.emu.requests(route=OVERWRITE_ROUTE) if r.status == 403]

    faults = harness.emu.faults
    print(f"\ninvalid requests over the day: {faults.invalid_total} "
          f"(403 on overwrites: {len(refused)}, 429: "
          f"{len([r for r in harness.emu.request_log if r.status == 429])}; "
          f"all requests: {len(harness.emu.request_log)})")
    assert faults.invalid_total < 100  # Discord bans at 10,000 in 10 minutes
    assert not faults.banned
    assert len(refused) - refused_at_day_end <= 12  # at most one try an hour overnight
