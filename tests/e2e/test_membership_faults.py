"""Membership changes Discord refuses or fails (issue 10, point 9).

The database never says "removed" while the member still sees the group: a `/group
remove` that Discord refuses (403) or fails (5xx) records nothing, and running it again
finishes it. The same for the role given after Accept: a refused or lost request is
completed by the member's next click.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select

from bot.db.models import Group, Membership, MembershipStatus
from tests.e2e.conftest import Harness, answer_text, button_id
from tests.e2e.test_groups import group_channels, sees
from tests.emulator.faults import MEMBER_ROUTE, FaultRule
from tests.emulator.state import Message

ROLE_ROUTE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"


async def status_of(harness: Harness, user_id: int) -> MembershipStatus:
    async with harness.bot.session_factory() as session:
        return (await session.execute(
            select(Membership.status).where(Membership.user_id == user_id)
        )).scalar_one()


async def remove(harness: Harness, text_channel_id: int | None, member: int) -> str:
    result = await harness.command(harness.people.leader, "group remove", text_channel_id,
                                   member=member)
    await harness.settle()
    return answer_text(result)


async def removal_fails_then_finishes(harness: Harness, group: Group, member: int,
                                      fault: FaultRule, says: list[str]) -> None:
    """The first `/group remove` meets the fault and records nothing; the second finishes:
    recorded, and every access gone."""
    failed = await remove(harness, group.text_channel_id, member)
    assert fault.fired == 1
    for words in says:
        assert words in failed, failed
    assert await status_of(harness, member) == MembershipStatus.ACTIVE
    assert sees(harness, member, group.text_channel_id) or harness.emu.voice_channel_of(member)
    done = await remove(harness, group.text_channel_id, member)
    assert "no longer" in done, done
    assert await status_of(harness, member) == MembershipStatus.REMOVED
    for channel_id in group_channels(group):
        assert not sees(harness, member, channel_id)


async def test_a_refused_removal_records_nothing_and_the_second_one_finishes(
    harness: Harness,
) -> None:
    group = await harness.create_group()
    member = harness.people.members[0]
    await harness.add_and_accept(group, member)
    assert sees(harness, member, group.text_channel_id)
    fault = harness.emu.faults.missing_permissions(ROLE_ROUTE, method="DELETE")
    await removal_fails_then_finishes(harness, group, member, fault, ["Manage Roles", "again"])


async def test_a_server_error_on_the_disconnect_leaves_the_member_in_until_done(
    harness: Harness,
) -> None:
    """The role went but the member is still in the room: not "removed" until they are out."""
    group = await harness.create_group()
    member = harness.people.members[0]
    await harness.add_and_accept(group, member)
    await harness.emu.join_voice(member, group.voice_channel_id or 0)
    fault = harness.emu.faults.server_error(MEMBER_ROUTE, method="PATCH", status=503)
    await removal_fails_then_finishes(harness, group, member, fault, ["503", "still in"])
    assert harness.emu.voice_channel_of(member) is None


async def invited(harness: Harness) -> tuple[Group, int, Message]:
    """A group, a member invited to it, and the agreement DM with its buttons."""
    group = await harness.create_group()
    member = harness.people.members[0]
    await harness.command(harness.people.leader, "group add", group.text_channel_id,
                          member=member)
    return group, member, harness.latest_dm_with_buttons(member)


async def accept_completes(harness: Harness, group: Group, member: int, dm: Message) -> None:
    """The member's next click on Accept gives them the group, recorded and on Discord."""
    accepted = await harness.emu.click(member, dm, button_id(dm, "Accept"))
    await harness.settle()
    assert "Welcome" in answer_text(accepted), answer_text(accepted)
    assert await status_of(harness, member) == MembershipStatus.ACTIVE
    assert sees(harness, member, group.text_channel_id)


async def test_a_server_error_on_the_role_after_accept_is_completed_by_the_next_click(
    harness: Harness,
) -> None:
    group, member, dm = await invited(harness)
    fault = harness.emu.faults.server_error(ROLE_ROUTE, method="PUT", status=503)
    failed = await harness.emu.click(member, dm, button_id(dm, "Accept"))
    await harness.settle()
    assert fault.fired == 1
    assert "nothing changed" in answer_text(failed), answer_text(failed)
    assert await status_of(harness, member) == MembershipStatus.INVITED
    assert not sees(harness, member, group.text_channel_id)
    await accept_completes(harness, group, member, dm)


async def test_a_crash_before_the_role_after_accept_is_completed_by_the_next_click(
    harness: Harness,
) -> None:
    """Killed after the acceptance was recorded, before Discord gave the role."""
    group, member, dm = await invited(harness)
    held = harness.emu.hold(ROLE_ROUTE, method="PUT")
    click = asyncio.create_task(
        harness.emu.click(member, dm, button_id(dm, "Accept"), check=False))
    await held.reached()
    await harness.kill_bot()
    held.refuse()
    click.cancel()
    with contextlib.suppress(BaseException):
        await click
    await harness.start_bot()
    assert await status_of(harness, member) == MembershipStatus.ACTIVE
    assert not sees(harness, member, group.text_channel_id)
    await accept_completes(harness, group, member, dm)
