"""Rooms: the shared pool, the lobby, dropped members, and presenter proposals."""

from __future__ import annotations

import discord
from sqlalchemy import select

from bot.db.models import Group, Meeting, VoiceRoom
from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group
from tests.emulator.state import ChannelType, Overwrite

VIEW = discord.Permissions(view_channel=True).value


async def pooled_server(harness: Harness) -> list[int]:
    """Two pooled rooms and the lobby, set up by the admin."""
    rooms = [await harness.emu.create_channel(harness.guild_id, f"Room {n}", ChannelType.VOICE)
             for n in (1, 2)]
    for room in rooms:
        added = await harness.command(harness.people.admin, "room pool-add", channel=room.id)
        assert "pool" in answer_text(added)
    await harness.command(harness.people.admin, "room lobby", channel=harness.lobby_id)
    return [room.id for room in rooms]


async def pooled_group_in_lobby(
    harness: Harness,
) -> tuple[list[int], dict[int, dict[int, Overwrite]], Group]:
    """The pooled server, the rooms' overwrites before any meeting, and a pool-using group
    of two members waiting in the lobby."""
    rooms = await pooled_server(harness)
    before = {room: dict(harness.emu.overwrites(room)) for room in rooms}
    group = await meeting_group(harness, members=2, in_voice=False)
    await leader_says(harness, group, "group settings", use_room_pool=True)
    for user_id in harness.people.members[:2]:
        await harness.emu.join_voice(user_id, harness.lobby_id)
    return rooms, before, group


async def test_two_groups_meet_at_once_in_different_pooled_rooms(harness: Harness) -> None:
    """Each group gets its own free room, opened to it alone; members move from the lobby."""
    rooms = await pooled_server(harness)
    tuesday = await meeting_group(harness, members=2, name="Tuesday group", in_voice=False)
    thursday = await harness.create_group(name="Thursday group")
    await harness.add_and_accept(thursday, harness.people.members[3])
    for group in (tuesday, thursday):
        await leader_says(harness, group, "group settings", use_room_pool=True)
    for user_id in [*harness.people.members[:2], harness.people.members[3],
                    harness.people.outsider]:
        await harness.emu.join_voice(user_id, harness.lobby_id)
    await leader_says(harness, tuesday, "session start")
    await leader_says(harness, thursday, "session start")
    async with harness.bot.session_factory() as session:
        held = dict((await session.execute(
            select(VoiceRoom.channel_id, VoiceRoom.held_by_meeting_id))).all())
        meetings = {m.group_id: m for m in (await session.execute(select(Meeting))).scalars()}
    room_of = {g.id: meetings[g.id].voice_channel_id for g in (tuesday, thursday)}
    assert sorted(room or 0 for room in room_of.values()) == sorted(rooms)
    assert set(held.values()) == {meetings[tuesday.id].id, meetings[thursday.id].id}
    for user_id in harness.people.members[:2]:
        assert harness.emu.voice_channel_of(user_id) == room_of[tuesday.id]
    assert harness.emu.voice_channel_of(harness.people.members[3]) == room_of[thursday.id]
    assert harness.emu.voice_channel_of(harness.people.outsider) == harness.lobby_id
    tuesday_room = room_of[tuesday.id] or 0
    assert harness.emu.permissions_for(harness.people.members[0], tuesday_room) & VIEW
    assert not harness.emu.permissions_for(harness.people.members[3], tuesday_room) & VIEW
    assert not harness.emu.permissions_for(harness.people.outsider, tuesday_room) & VIEW


async def test_end_returns_members_to_the_lobby_and_the_room_to_the_pool(
    harness: Harness,
) -> None:
    rooms, before, group = await pooled_group_in_lobby(harness)
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "session end")
    for user_id in harness.people.members[:2]:
        assert harness.emu.voice_channel_of(user_id) == harness.lobby_id
    assert {room: dict(harness.emu.overwrites(room)) for room in rooms} == before
    async with harness.bot.session_factory() as session:
        held = (await session.execute(select(VoiceRoom.held_by_meeting_id))).scalars().all()
    assert held == [None, None]


async def test_no_free_room_is_a_clear_answer(harness: Harness) -> None:
    """With one pooled room taken, a group without a room of its own is told to wait."""
    await pooled_server(harness)
    first = await harness.create_group(name="Tuesday group")
    second = await harness.create_group(name="Thursday group")
    third = await harness.create_group(name="Friday group")
    for group in (first, second, third):
        await leader_says(harness, group, "group settings", use_room_pool=True)
    await leader_says(harness, first, "session start")
    await leader_says(harness, second, "session start")
    third_start = await leader_says(harness, third, "session start")
    # Friday has its own room, so it falls back to it rather than failing.
    assert "has started" in answer_text(third_start)
    assert f"<#{third.voice_channel_id}>" in answer_text(third_start)


async def test_a_dropped_member_back_in_the_lobby_is_moved_in(harness: Harness) -> None:
    await pooled_server(harness)
    group = await meeting_group(harness, members=2)
    await leader_says(harness, group, "session start")
    member = harness.people.members[0]
    await harness.emu.leave_voice(member)
    await harness.settle()
    await harness.emu.join_voice(member, harness.lobby_id)
    await harness.settle()
    assert harness.emu.voice_channel_of(member) == group.voice_channel_id


async def test_a_non_member_in_the_lobby_is_left_out(harness: Harness) -> None:
    await pooled_server(harness)
    group = await meeting_group(harness, members=2)
    await leader_says(harness, group, "session start")
    await harness.emu.join_voice(harness.people.outsider, harness.lobby_id)
    await harness.settle()
    assert harness.emu.voice_channel_of(harness.people.outsider) == harness.lobby_id
    invited = harness.people.members[3]
    await harness.command(harness.people.leader, "group add", group.text_channel_id,
                          member=invited)
    await harness.emu.join_voice(invited, harness.lobby_id)
    await harness.settle()
    assert harness.emu.voice_channel_of(invited) == harness.lobby_id


async def test_proposals_over_a_series_give_everyone_a_turn(harness: Harness) -> None:
    """Volunteers first, then who has waited longest; nobody twice before all had a turn."""
    group = await meeting_group(harness, members=4)
    members = harness.people.members[:4]
    presented: list[int] = []
    for meeting in range(4):
        await leader_says(harness, group, "session start")
        if meeting == 1:
            offered = await harness.command(members[3], "case offer", group.text_channel_id,
                                            label="the woman who cancelled twice")
            assert "offered" in answer_text(offered)
        proposals = answer_text(await leader_says(harness, group, "case suggest-presenters"))
        first = int(proposals.split("<@")[1].split(">")[0])
        if meeting == 1:
            assert first == members[3]
            assert "volunteered (the woman who cancelled twice)" in proposals
        await leader_says(harness, group, "case present", member=first,
                          label=None if meeting == 1 else f"case number {meeting}")
        presented.append(first)
        await leader_says(harness, group, "session end")
    assert sorted(presented) == sorted(members)


async def test_case_label_that_identifies_a_patient_is_refused(harness: Harness) -> None:
    group = await meeting_group(harness, members=1, in_voice=False)
    result = await harness.command(harness.people.members[0], "case offer", group.text_channel_id,
                                   label="Mrs Jones, 0412 345 678")
    assert "must not identify the patient" in answer_text(result)
    assert "phone number" in answer_text(result)


async def test_room_list_shows_the_lobby_and_which_rooms_are_in_use(harness: Harness) -> None:
    rooms = await pooled_server(harness)
    group = await harness.create_group()
    await leader_says(harness, group, "group settings", use_room_pool=True)
    await leader_says(harness, group, "session start")
    listed = answer_text(await harness.command(harness.people.admin, "room list"))
    assert f"Lobby: <#{harness.lobby_id}>" in listed
    assert f"<#{rooms[0]}>: in use" in listed
    assert f"<#{rooms[1]}>: free" in listed


async def test_the_old_name_of_suggest_presenters_still_works(harness: Harness) -> None:
    """`/case propose` was renamed; for one release it answers the same."""
    group = await meeting_group(harness, members=2)
    await leader_says(harness, group, "session start")
    new = answer_text(await leader_says(harness, group, "case suggest-presenters"))
    old = answer_text(await leader_says(harness, group, "case propose"))
    assert new.startswith("**Who has a case?**")
    assert old == new
