"""Groups end to end: private channels, the agreement gate, removal, bad input."""

from __future__ import annotations

import discord
from sqlalchemy import func, select

from bot.db.models import Group, Membership, MembershipStatus
from tests.e2e.conftest import Harness, answer_text, button_id

VIEW = discord.Permissions(view_channel=True).value
CONNECT = discord.Permissions(connect=True).value


def sees(harness: Harness, user_id: int, channel_id: int | None) -> bool:
    assert channel_id is not None
    return bool(harness.emu.permissions_for(user_id, channel_id) & VIEW)


def group_channels(group: Group) -> list[int | None]:
    return [group.category_id, group.text_channel_id, group.voice_channel_id,
            group.forum_channel_id]


async def test_new_group_is_private_to_its_leader_and_members(harness: Harness) -> None:
    """Leader and accepted members see every channel; outsiders and admins-by-role don't."""
    group = await harness.create_group()
    member = harness.people.members[0]
    await harness.add_and_accept(group, member)
    for channel_id in group_channels(group):
        assert sees(harness, harness.people.leader, channel_id)
        assert sees(harness, member, channel_id)
        assert not sees(harness, harness.people.outsider, channel_id)
        assert not sees(harness, harness.people.members[1], channel_id)
    assert harness.emu.permissions_for(member, group.voice_channel_id or 0) & CONNECT
    assert not harness.emu.permissions_for(harness.people.outsider,
                                           group.voice_channel_id or 0) & CONNECT


async def test_access_only_after_accepting_the_agreement(harness: Harness) -> None:
    """An invited member sees nothing until Accept; the acceptance time is stored."""
    group = await harness.create_group()
    member = harness.people.members[0]
    result = await harness.command(harness.people.leader, "group add", group.text_channel_id,
                                   member=member)
    assert result.ephemeral
    assert not sees(harness, member, group.text_channel_id)
    dm = harness.latest_dm_with_buttons(member)
    assert "What is said in the group stays in the group" in answer_text_of_dm(dm)
    await harness.emu.click(member, dm, button_id(dm, "Accept"))
    await harness.settle()
    assert sees(harness, member, group.text_channel_id)
    async with harness.bot.session_factory() as session:
        membership = (await session.execute(select(Membership).where(
            Membership.user_id == member))).scalar_one()
    assert membership.status == MembershipStatus.ACTIVE
    assert membership.agreement_accepted_at == harness.clock.now()


async def test_declining_keeps_the_channels_closed(harness: Harness) -> None:
    group = await harness.create_group()
    member = harness.people.members[0]
    await harness.command(harness.people.leader, "group add", group.text_channel_id,
                          member=member)
    dm = harness.latest_dm_with_buttons(member)
    result = await harness.emu.click(member, dm, button_id(dm, "Decline"))
    assert "declined" in answer_text(result)
    assert not sees(harness, member, group.text_channel_id)


async def test_agreement_buttons_work_after_a_restart(harness: Harness) -> None:
    """The Accept button is a persistent view: a new bot process still answers it."""
    group = await harness.create_group()
    member = harness.people.members[0]
    await harness.command(harness.people.leader, "group add", group.text_channel_id,
                          member=member)
    await harness.stop_bot()
    await harness.start_bot()
    dm = harness.latest_dm_with_buttons(member)
    result = await harness.emu.click(member, dm, button_id(dm, "Accept"))
    await harness.settle()
    assert "Welcome" in answer_text(result)
    assert sees(harness, member, group.text_channel_id)


async def test_removal_takes_every_access_away_at_once(harness: Harness) -> None:
    """The role goes, and a removed member connected to the room is disconnected."""
    group = await harness.create_group()
    member = harness.people.members[0]
    await harness.add_and_accept(group, member)
    await harness.emu.join_voice(member, group.voice_channel_id or 0)
    result = await harness.command(harness.people.leader, "group remove", group.text_channel_id,
                                   member=member)
    assert "no longer" in answer_text(result)
    for channel_id in group_channels(group):
        assert not sees(harness, member, channel_id)
    assert harness.emu.voice_channel_of(member) is None


async def test_group_info_lists_members_and_agreement_status(harness: Harness) -> None:
    group = await harness.create_group()
    await harness.add_and_accept(group, harness.people.members[0])
    await harness.command(harness.people.leader, "group add", group.text_channel_id,
                          member=harness.people.members[1])
    result = await harness.command(harness.people.leader, "group info", group.text_channel_id)
    text = answer_text(result)
    assert result.ephemeral
    assert f"<@{harness.people.leader}> (leader)" in text
    assert f"<@{harness.people.members[0]}>: agreement accepted" in text
    assert f"<@{harness.people.members[1]}>: invited, agreement not yet accepted" in text
    assert "none scheduled" in text
    outsider = await harness.emu.run_command(harness.people.outsider, harness.guild_id,
                                             harness.lobby_id, "group info",
                                             group="Tuesday group")
    # Its existence is for its members, invitees and admins (issue 12).
    assert "There is no active group called" in answer_text(outsider)


async def test_timezone_autocomplete_offers_iana_zones(harness: Harness) -> None:
    choices = await harness.emu.autocomplete(harness.people.admin, harness.guild_id,
                                             harness.lobby_id, "group create",
                                             focused="timezone", timezone="adel")
    assert choices[0]["value"] == "Australia/Adelaide"
    assert all("adel" in c["value"].lower() for c in choices)


async def count_groups(harness: Harness) -> int:
    async with harness.bot.session_factory() as session:
        return int((await session.execute(select(func.count(Group.id)))).scalar_one())


async def test_bad_input_is_refused_and_changes_nothing(harness: Harness) -> None:
    """Unknown zone, a bot as leader, a duplicate name: one clear private answer each."""
    admin, leader = harness.people.admin, harness.people.leader
    channels_before = len(harness.emu.channels(harness.guild_id))
    unknown_zone = await harness.command(admin, "group create", name="A group", leader=leader,
                                         timezone="Mars/Olympus")
    assert "don't know the time zone" in answer_text(unknown_zone)
    bot_leader = await harness.command(admin, "group create", name="A group",
                                       leader=harness.emu.bot_id, timezone="Australia/Perth")
    assert "bot can't lead" in answer_text(bot_leader)
    assert await count_groups(harness) == 0
    assert len(harness.emu.channels(harness.guild_id)) == channels_before
    await harness.create_group(name="A group")
    duplicate = await harness.command(admin, "group create", name="A group", leader=leader,
                                      timezone="Australia/Perth")
    assert "already has a group called" in answer_text(duplicate)
    assert all(r.ephemeral for r in (unknown_zone, bot_leader, duplicate))
    assert await count_groups(harness) == 1


async def test_adding_a_bot_or_a_stranger_is_refused(harness: Harness) -> None:
    group = await harness.create_group()
    as_bot = await harness.command(harness.people.leader, "group add", group.text_channel_id,
                                   member=harness.emu.bot_id)
    assert "Bots can't be members" in answer_text(as_bot)
    stranger = await harness.emu.create_user("not-in-server")
    not_here = await harness.command(harness.people.leader, "group add", group.text_channel_id,
                                     member=stranger.id)
    assert "isn't a member of this server" in answer_text(not_here)
    async with harness.bot.session_factory() as session:
        assert (await session.execute(select(func.count(Membership.id)))).scalar_one() == 1


async def test_only_leaders_add_members(harness: Harness) -> None:
    group = await harness.create_group()
    member = harness.people.members[0]
    await harness.add_and_accept(group, member)
    result = await harness.command(member, "group add", group.text_channel_id,
                                   member=harness.people.members[1])
    assert "Only the leaders of **Tuesday group** can add members" in answer_text(result)


async def test_missing_permission_is_named_and_nothing_is_half_created(
    harness: Harness,
) -> None:
    """Without Manage Channels the bot says what to grant; no role or channel is left."""
    bot_role = harness.emu.bot_role(harness.guild_id)
    without = bot_role.permissions & ~discord.Permissions(manage_channels=True).value
    await harness.emu.edit_role(harness.guild_id, bot_role.id, permissions=without)
    roles_before = set(harness.emu.guild(harness.guild_id).roles)
    channels_before = len(harness.emu.channels(harness.guild_id))
    result = await harness.command(harness.people.admin, "group create", name="A group",
                                   leader=harness.people.leader, timezone="Australia/Perth")
    assert "Manage Channels" in answer_text(result)
    assert set(harness.emu.guild(harness.guild_id).roles) == roles_before
    assert len(harness.emu.channels(harness.guild_id)) == channels_before
    assert await count_groups(harness) == 0


async def test_failure_midway_removes_what_was_created(harness: Harness) -> None:
    """Discord refusing the last step (the leader's role) undoes the role and four channels."""
    roles_before = set(harness.emu.guild(harness.guild_id).roles)
    channels_before = len(harness.emu.channels(harness.guild_id))
    fault = harness.emu.faults.server_error(
        "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", method="PUT", status=403)
    result = await harness.command(harness.people.admin, "group create", name="A group",
                                   leader=harness.people.leader, timezone="Australia/Perth")
    assert fault.fired == 1
    assert "missing a permission" in answer_text(result)
    assert set(harness.emu.guild(harness.guild_id).roles) == roles_before
    assert len(harness.emu.channels(harness.guild_id)) == channels_before
    assert await count_groups(harness) == 0


async def test_adopting_a_channel_the_bot_cannot_manage_is_refused(harness: Harness) -> None:
    channel = await harness.emu.create_channel(harness.guild_id, "old-chat")
    bot_role = harness.emu.bot_role(harness.guild_id)
    await harness.emu.set_overwrite(channel.id, bot_role.id,
                                    deny=discord.Permissions(manage_roles=True).value)
    result = await harness.command(harness.people.admin, "group create", name="A group",
                                   leader=harness.people.leader, timezone="Australia/Perth",
                                   text_channel=channel.id)
    assert "can't manage" in answer_text(result)
    assert await count_groups(harness) == 0


async def test_adopted_channel_is_made_private(harness: Harness) -> None:
    channel = await harness.emu.create_channel(harness.guild_id, "old-chat")
    assert sees(harness, harness.people.outsider, channel.id)
    group = await harness.create_group(text_channel=channel.id)
    assert group.text_channel_id == channel.id
    assert not sees(harness, harness.people.outsider, channel.id)
    assert sees(harness, harness.people.leader, channel.id)


async def test_archive_locks_the_channels(harness: Harness) -> None:
    group = await harness.create_group()
    member = harness.people.members[0]
    await harness.add_and_accept(group, member)
    wrong = await harness.command(harness.people.leader, "group archive", group.text_channel_id,
                                  confirm="nope")
    assert "type the group's name" in answer_text(wrong)
    done = await harness.command(harness.people.leader, "group archive", group.text_channel_id,
                                 confirm="Tuesday group")
    assert "archived" in answer_text(done)
    perms = harness.emu.permissions_for(member, group.text_channel_id or 0)
    assert perms & VIEW
    assert not perms & discord.Permissions(send_messages=True).value


def answer_text_of_dm(message: object) -> str:
    embeds = getattr(message, "embeds", [])
    return " ".join(e.get("description", "") for e in embeds)


async def test_leaders_edit_the_agreement_new_members_receive(harness: Harness) -> None:
    group = await harness.create_group()
    opened = await harness.command(harness.people.leader, "group agreement-edit",
                                   group.text_channel_id)
    assert opened.modal is not None
    field = opened.modal["components"][0]["components"][0]["custom_id"]
    text = "We meet on time, we disguise patients, and what is said here stays here."
    saved = await harness.emu.submit_modal(harness.people.leader, opened, {field: text})
    assert "Saved the agreement" in answer_text(saved)
    member = harness.people.members[0]
    await harness.command(harness.people.leader, "group add", group.text_channel_id,
                          member=member)
    assert text in answer_text_of_dm(harness.latest_dm_with_buttons(member))
    accepted = harness.people.members[1]
    await harness.add_and_accept(group, accepted)
    refused = await harness.command(accepted, "group agreement-edit", group.text_channel_id)
    assert "Only the leaders" in answer_text(refused)


async def test_co_leader_gets_the_leaders_commands(harness: Harness) -> None:
    group = await harness.create_group()
    co_leader = harness.people.members[0]
    await harness.add_and_accept(group, co_leader, role="co_leader")
    info = answer_text(await harness.command(co_leader, "group info", group.text_channel_id))
    assert f"<@{co_leader}> (co-leader)" in info
    added = await harness.command(co_leader, "group add", group.text_channel_id,
                                  member=harness.people.members[1])
    assert "Invited" in answer_text(added)
