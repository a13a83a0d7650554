"""Discord's stricter rules the bot must live with: embed limits in a long summary, Embed
Links where it posts embeds, forums that require a tag on every post."""

from __future__ import annotations

from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group, present_case
from tests.emulator.faults import MEMBER_ROUTE
from tests.emulator.permissions import P
from tests.emulator.state import Channel, ChannelType, Overwrite

GUESTS = 24


async def test_a_summary_with_many_failures_stays_within_the_limits(harness: Harness) -> None:
    """Two dozen people Discord would not move back to the lobby: the "Needs attention" field
    lists what fits in 1,024 characters and counts the rest, and the summary arrives."""
    await harness.command(harness.people.admin, "room lobby", channel=harness.lobby_id)
    group = await meeting_group(harness, members=2)
    room = group.voice_channel_id or 0
    await harness.emu.set_overwrite(room, harness.guild_id, allow=P.VIEW_CHANNEL | P.CONNECT)
    for n in range(GUESTS):
        guest = await harness.emu.create_user(f"guest-{n}")
        await harness.emu.add_member(harness.guild_id, guest.id)
        await harness.emu.join_voice(guest.id, room)
    await leader_says(harness, group, "session start")
    fault = harness.emu.faults.server_error(MEMBER_ROUTE, method="PATCH", status=503, times=99)
    # Two dozen refused moves one after another: with EMULATOR_LATENCY=0.2 that alone is ~5 s.
    ended = await harness.emu.run_command(harness.people.leader, harness.guild_id,
                                          group.text_channel_id, "session end")
    await ended.final(within=60)
    await harness.settle()
    assert fault.fired >= GUESTS
    [summary] = [m for m in ended.followups if m.embeds]
    fields = {f["name"]: f["value"] for f in summary.embeds[0]["fields"]}
    attention = fields["Needs attention"]
    assert len(attention) <= 1024
    assert attention.startswith("I could not finish: moving <@")
    assert attention.endswith(" more. I'll keep trying."), attention
    assert "Attended" in fields


async def test_without_embed_links_in_the_server_creating_a_group_names_it(
    harness: Harness,
) -> None:
    """The bot grants itself Embed Links in the group's channels, which Discord allows only if
    it holds it in the server: the admin is told to grant it, and nothing is created."""
    for role in (harness.emu.bot_role(harness.guild_id),
                 harness.emu.guild(harness.guild_id).everyone):
        await harness.emu.edit_role(harness.guild_id, role.id,
                                    permissions=role.permissions & ~P.EMBED_LINKS)
    channels = len(harness.emu.channels(harness.guild_id))
    result = await harness.command(harness.people.admin, "group create", name="Tuesday group",
                                   leader=harness.people.leader, timezone="Australia/Sydney")
    text = answer_text(result)
    assert "**Embed Links**" in text, text
    assert "Created" not in text
    assert len(harness.emu.channels(harness.guild_id)) == channels


async def test_an_adopted_channel_whose_category_denies_embed_links_is_named(
    harness: Harness,
) -> None:
    """Adopting a channel in a category that denies the bot Embed Links: Discord would refuse
    the bot's own overwrite there, so the admin is told which category and what to grant."""
    category = await harness.emu.create_channel(harness.guild_id, "Groups", ChannelType.CATEGORY)
    role = harness.emu.bot_role(harness.guild_id).id
    await harness.emu.set_overwrite(category.id, role, deny=P.EMBED_LINKS)
    chat = await harness.emu.create_channel(harness.guild_id, "tuesday-chat",
                                            parent_id=category.id)
    result = await harness.command(harness.people.admin, "group create", name="Tuesday group",
                                   leader=harness.people.leader, timezone="Australia/Sydney",
                                   text_channel=chat.id)
    text = answer_text(result)
    assert "**Embed Links**" in text, text
    assert f"<#{category.id}>" in text, text
    assert harness.emu.overwrites(chat.id) == {}


async def test_the_panel_is_not_posted_bare_without_embed_links(harness: Harness) -> None:
    """Without Embed Links Discord would drop the panel's embed and post bare buttons: the
    leader is told what to grant instead."""
    group = await meeting_group(harness, members=2)
    text_id = group.text_channel_id or 0
    own = harness.emu.overwrites(text_id)[harness.emu.bot_id]
    await harness.emu.set_overwrite(text_id, harness.emu.bot_id,
                                    allow=own.allow & ~P.EMBED_LINKS, deny=P.EMBED_LINKS)
    started = await leader_says(harness, group, "session start")
    text = answer_text(started)
    assert "has started" in text, text
    assert "**Embed Links**" in text, text
    assert [m for m in harness.emu.messages(text_id) if m.components] == []
    await leader_says(harness, group, "session end")


def tag_ids(forum: Channel, name: str) -> list[int]:
    return [int(t["id"]) for t in forum.available_tags if t["name"] == name]


async def test_case_posts_carry_the_tag_a_forum_requires(harness: Harness) -> None:
    """An adopted forum that requires tags: the post carries its "Case" tag; in a second forum
    without one, the bot adds a "case" tag (it may manage the forum) and uses it."""
    tagged = await harness.emu.create_channel(
        harness.guild_id, "case-notes", ChannelType.FORUM, available_tags=["Urgent", "Case"],
        flags=Channel.REQUIRE_TAG)
    group = await harness.create_group(forum_channel=tagged.id)
    for user_id in harness.people.members[:2]:
        await harness.add_and_accept(group, user_id)
    case = await present_case(harness, group, harness.people.members[0])
    assert case.forum_thread_id is not None
    assert harness.emu.channel(case.forum_thread_id).applied_tags == tag_ids(tagged, "Case")

    untagged = await harness.emu.create_channel(
        harness.guild_id, "thursday-notes", ChannelType.FORUM, available_tags=["Urgent"],
        flags=Channel.REQUIRE_TAG)
    other = await harness.create_group(name="Thursday group", forum_channel=untagged.id)
    await harness.add_and_accept(other, harness.people.members[2])
    case = await present_case(harness, other, harness.people.members[2], label="the quiet one")
    assert case.forum_thread_id is not None
    [created] = tag_ids(untagged, "case")
    assert harness.emu.channel(case.forum_thread_id).applied_tags == [created]


async def test_a_forum_requiring_a_tag_the_bot_cannot_add_is_explained(
    harness: Harness,
) -> None:
    """Without a "case" tag and without Manage Channels on the forum, every case post would be
    refused (40067): the admin is told to add the tag or grant the permission."""
    role = harness.emu.bot_role(harness.guild_id).id
    forum = await harness.emu.create_channel(
        harness.guild_id, "case-notes", ChannelType.FORUM, available_tags=["Urgent"],
        flags=Channel.REQUIRE_TAG, overwrites=[Overwrite(role, 0, deny=P.MANAGE_CHANNELS)])
    result = await harness.command(harness.people.admin, "group create", name="Tuesday group",
                                   leader=harness.people.leader, timezone="Australia/Sydney",
                                   forum_channel=forum.id)
    text = answer_text(result)
    assert "named **case**" in text, text
    assert "**Manage Channels**" in text, text
    assert "Created" not in text
