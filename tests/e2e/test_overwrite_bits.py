"""The bot never sets the MANAGE_ROLES bit in an overwrite (Discord allows that only to
administrators or holders of a MANAGE_ROLES overwrite in the channel), and silencing
someone who was given "Manage Permissions" by an admin keeps that bit as it was."""

from __future__ import annotations

from typing import Any

import discord

from tests.e2e.conftest import Harness, leader_says, meeting_group, to_discussion
from tests.e2e.invariant import assert_silence_invariant
from tests.emulator.faults import OVERWRITE_ROUTE
from tests.emulator.permissions import P

SPEAK = discord.Permissions(speak=True).value


def bits(overwrite: dict[str, Any] | None) -> int:
    return int((overwrite or {}).get("allow") or 0) | int((overwrite or {}).get("deny") or 0)


async def test_silencing_a_member_with_manage_permissions_keeps_the_bit(
    harness: Harness,
) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    rooms = [group.text_channel_id or 0, group.voice_channel_id or 0]
    for channel_id in rooms:
        await harness.emu.set_overwrite(channel_id, presenter, allow=P.MANAGE_ROLES)
    originals = {c: harness.emu.overwrites(c)[presenter] for c in rooms}
    await to_discussion(harness, group, presenter)
    assert not harness.emu.can_speak(presenter)
    silenced = harness.emu.overwrites(group.voice_channel_id or 0)[presenter]
    assert silenced.allow & P.MANAGE_ROLES
    assert silenced.deny & SPEAK
    await leader_says(harness, group, "phase next")
    await leader_says(harness, group, "session end")
    assert {c: harness.emu.overwrites(c)[presenter] for c in rooms} == originals
    puts = harness.emu.requests("PUT", OVERWRITE_ROUTE)
    assert puts
    assert all(r.status == 204 for r in puts), [(r.path, r.status) for r in puts]
    created = [o for r in harness.emu.requests("POST", "/guilds/{guild_id}/channels")
               for o in (r.json or {}).get("permission_overwrites") or []]
    assert created
    assert not any(bits(o) & P.MANAGE_ROLES for o in created)
    # Only the presenter's overwrites carry the bit, as the admin left it.
    assert {int(r.path.rsplit("/", 1)[1]) for r in puts if bits(r.json) & P.MANAGE_ROLES} == {
        presenter}
    await assert_silence_invariant(harness)
