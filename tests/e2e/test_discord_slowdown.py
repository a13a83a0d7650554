"""When Discord itself slows the bot, the leader is told how long, and the change still lands."""

from __future__ import annotations

import asyncio
import itertools
import re

from bot.replies import NOT_DONE_NOTE
from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group
from tests.e2e.invariant import assert_silence_invariant
from tests.emulator.faults import MEMBER_ROUTE, OVERWRITE_ROUTE
from tests.emulator.interactions import InteractionResult

SLOW = "Discord is slowing us down"


async def _phase_set_watching(harness: Harness, channel_id: int, phase: str
                              ) -> tuple[InteractionResult, list[str]]:
    """`/phase set`, keeping every text the leader's answer showed on the way."""
    result = await harness.emu.run_command(harness.people.leader, harness.guild_id, channel_id,
                                           "phase set", phase=phase, within=5)
    seen: list[str] = []

    def note(r: InteractionResult) -> bool:
        if r.content and r.content not in seen:
            seen.append(r.content)
        return r.responded and not r.deferred and SLOW not in (r.content or "")

    await result.wait_for(note, within=30)
    await harness.settle()
    return result, seen


def _seconds_told(text: str) -> int:
    found = re.search(r"about (\d+) s", text)
    assert found, text
    return int(found[1])


async def test_a_full_member_move_bucket_is_told_to_the_leader_and_the_silence_still_lands(
    harness: Harness,
) -> None:
    group = await meeting_group(harness, members=3)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    # Discord's member-move bucket for this server, made small: one move per 6 s. Each
    # change's move empties it, and discord.py then holds the change until it refills
    # (it sleeps out an emptied bucket before returning); the next move waits for it too.
    harness.emu.faults.set_bucket_limit(MEMBER_ROUTE, 1, 6.0, method="PATCH")
    start = len(harness.emu.request_log)
    for phase, speaks in (("discussion", False), ("questions", True), ("discussion", False)):
        result, seen = await _phase_set_watching(harness, group.text_channel_id or 0, phase)
        # Told, with the time Discord's headers give, instead of a "thinking…" that
        # looks stuck; then the answer itself replaces the note.
        notes = [text for text in seen if SLOW in text]
        assert notes, seen
        assert 2 <= _seconds_told(notes[0]) <= 6, notes[0]
        assert "It will still be done" in notes[0]
        final = answer_text(result)
        assert SLOW not in final, final
        assert ("Discussion" if phase == "discussion" else "questions") in final, final
        assert harness.emu.can_speak(presenter) == speaks

    moves = [r for r in harness.emu.request_log[start:] if r.route == MEMBER_ROUTE]
    assert [r.status for r in moves] == [200, 200, 200]  # waited out, never a 429
    assert all(b.time - a.time >= 6.0 - 0.1 for a, b in itertools.pairwise(moves))
    await assert_silence_invariant(harness)


async def test_a_429_with_retry_after_is_told_and_the_presenter_still_silenced(
    harness: Harness,
) -> None:
    group = await meeting_group(harness, members=3)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    limited = harness.emu.faults.rate_limit(MEMBER_ROUTE, method="PATCH", retry_after=5.0)
    result, seen = await _phase_set_watching(harness, group.text_channel_id or 0, "discussion")
    assert limited.fired == 1  # Discord really answered 429
    notes = [text for text in seen if SLOW in text]
    assert notes, seen
    assert 2 <= _seconds_told(notes[0]) <= 5
    assert "Discussion" in answer_text(result)
    assert not harness.emu.can_speak(presenter)
    await assert_silence_invariant(harness)


async def test_a_global_429_holds_the_silences_back_but_never_an_answer(
    harness: Harness,
) -> None:
    """Interaction callbacks are outside Discord's global limit: while every counted
    request waits out a global 429, a leader's next command is still answered at once."""
    group = await meeting_group(harness, members=3)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    limited = harness.emu.faults.rate_limit(OVERWRITE_ROUTE, method="PUT", retry_after=4.0,
                                            is_global=True)
    change = asyncio.create_task(
        _phase_set_watching(harness, group.text_channel_id or 0, "discussion"))
    async with asyncio.timeout(5):
        while not limited.fired:  # noqa: ASYNC110 - a fault rule only counts, it has no event
            await asyncio.sleep(0.01)
    info = await harness.emu.run_command(harness.people.leader, harness.guild_id,
                                         group.text_channel_id, "group info")
    assert info.responded_at is not None
    assert harness.emu.can_speak(presenter)  # the silence is still held back meanwhile

    result, seen = await change
    # Answered before the paused request went out again (an order, not a time bound).
    puts = [r for r in harness.emu.request_log if r.route == OVERWRITE_ROUTE and r.method == "PUT"]
    refused_at = next(i for i, r in enumerate(puts) if r.status == 429)
    assert info.responded_at < puts[refused_at + 1].time
    notes = [text for text in seen if SLOW in text]
    assert notes, seen
    assert 2 <= _seconds_told(notes[0]) <= 4, notes[0]
    assert "Discussion" in answer_text(result)
    assert not harness.emu.can_speak(presenter)
    assert harness.bot.pace.global_429s == 1
    await assert_silence_invariant(harness)


async def test_a_slowed_change_that_discord_then_refuses_does_not_stay_promised(
    harness: Harness,
) -> None:
    group = await meeting_group(harness, members=3)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    limited = harness.emu.faults.rate_limit(OVERWRITE_ROUTE, method="PUT", retry_after=3.0)
    refused = harness.emu.faults.missing_permissions(OVERWRITE_ROUTE, method="PUT")
    result = await harness.emu.run_command(harness.people.leader, harness.guild_id,
                                           group.text_channel_id, "phase set",
                                           phase="discussion")
    await result.wait_for(lambda r: bool(r.followups), within=20)
    await harness.settle()
    assert (limited.fired, refused.fired) == (1, 1)  # slowed, then refused
    # The note that promised the change no longer does; the refusal is told below it.
    assert result.content == NOT_DONE_NOTE
    assert "Discord refused" in (result.followups[0].content or "")
    assert harness.emu.can_speak(presenter)
    await assert_silence_invariant(harness)


async def test_a_change_still_before_its_move_counts_the_moves_of_the_server_ahead(
    harness: Harness,
) -> None:
    """Two groups in one server: the first change's move has emptied the server's move
    bucket, and the second change's own overwrite is still on its way. The second leader
    is told the bucket's refill, which their move must wait for, not "a moment"."""
    refill = 12.0
    tuesday = await meeting_group(harness, members=2, name="Tuesday group")
    thursday = await harness.create_group(name="Thursday group")
    for user_id in harness.people.members[2:4]:
        await harness.add_and_accept(thursday, user_id)
        await harness.emu.join_voice(user_id, thursday.voice_channel_id or 0)
    for group, presenter in ((tuesday, harness.people.members[0]),
                             (thursday, harness.people.members[2])):
        await leader_says(harness, group, "session start")
        await leader_says(harness, group, "case present", member=presenter, label="a case")
    harness.emu.faults.set_bucket_limit(MEMBER_ROUTE, 1, refill, method="PATCH")
    tuesday_move = harness.emu.hold(MEMBER_ROUTE, method="PATCH")
    # Tuesday's voice overwrite goes through; the next is Thursday's (Tuesday's text
    # overwrite comes only once discord.py has slept out the bucket its move emptied).
    thursday_overwrite = harness.emu.hold(OVERWRITE_ROUTE, method="PUT", skip=1)
    start = len(harness.emu.request_log)
    first = await harness.emu.run_command(harness.people.leader, harness.guild_id,
                                          tuesday.text_channel_id, "phase set",
                                          phase="discussion")
    await tuesday_move.reached()
    tuesday_move.release()
    second = await harness.emu.run_command(harness.people.leader, harness.guild_id,
                                           thursday.text_channel_id, "phase set",
                                           phase="discussion")
    held = await thursday_overwrite.reached()
    assert f"/channels/{thursday.voice_channel_id}/" in held.path
    await second.wait_for(lambda r: SLOW in (r.content or ""), within=10)
    assert 3 <= _seconds_told(second.content or "") <= refill, second.content
    thursday_overwrite.release()
    for result in (first, second):
        await result.wait_for(lambda r: SLOW not in (r.content or "") and not r.deferred,
                              within=2 * refill)
    await harness.settle()
    assert "Discussion" in answer_text(second)
    assert not harness.emu.can_speak(harness.people.members[0])
    assert not harness.emu.can_speak(harness.people.members[2])
    moves = [r for r in harness.emu.request_log[start:] if r.route == MEMBER_ROUTE]
    assert [r.status for r in moves] == [200, 200]  # Thursday's waited for the refill
    await assert_silence_invariant(harness)
