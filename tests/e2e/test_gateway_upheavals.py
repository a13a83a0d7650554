"""The bot through Discord's gateway upheavals in the middle of a meeting: op 7, op 9
(resumable), and a session that expired during an outage. It loses nothing: its cache
knows who came in meanwhile and the meeting goes on and ends cleanly."""

from __future__ import annotations

import discord

from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group, to_discussion


def in_room_as_the_bot_sees_it(harness: Harness, channel_id: int) -> set[int]:
    channel = harness.bot.get_channel(channel_id)
    assert isinstance(channel, discord.VoiceChannel)
    return {member.id for member in channel.members}


async def test_a_meeting_survives_reconnects_and_an_expired_session(harness: Harness) -> None:
    group = await meeting_group(harness, members=4)
    room = group.voice_channel_id or 0
    presenter = harness.people.members[0]
    before_text = dict(harness.emu.overwrites(group.text_channel_id or 0))
    await to_discussion(harness, group, presenter)
    gateway = harness.emu.gateway

    late = harness.people.members[3]

    await harness.emu.request_reconnect()  # op 7
    await harness.emu.leave_voice(late)
    await harness.emu.wait_connected()
    await harness.settle()
    assert gateway.resumes == 1
    assert late not in in_room_as_the_bot_sees_it(harness, room)

    await harness.emu.invalidate_session(resumable=True)  # op 9 true
    await harness.emu.join_voice(late, room)
    await harness.emu.wait_connected()
    await harness.settle()
    assert gateway.resumes == 2
    assert late in in_room_as_the_bot_sees_it(harness, room)

    gateway.expire_sessions()  # a long outage: the RESUME comes too late
    await harness.emu.drop_gateway()
    await harness.emu.leave_voice(late)
    await harness.emu.wait_connected(within=15)  # discord.py waits 5 s to IDENTIFY again
    await harness.settle()
    assert (gateway.refused_resumes, gateway.identifies) == (1, 2)
    assert late not in in_room_as_the_bot_sees_it(harness, room)
    assert not harness.emu.can_speak(presenter)

    back = await leader_says(harness, group, "phase next")
    assert "returns" in answer_text(back).lower(), answer_text(back)
    assert harness.emu.can_speak(presenter)
    assert harness.emu.overwrites(group.text_channel_id or 0) == before_text
    ended = await leader_says(harness, group, "session end")
    assert "summary" in answer_text(ended), answer_text(ended)
