"""Follow-up prompts: DMed to presenters before the next meeting, once a cycle, and then no more."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.db.models import Case, FollowUp, FollowUpPrompt, Group, Meeting, MeetingStatus
from tests.e2e.conftest import START, Harness, answer_text, leader_says, meeting_group, present_case
from tests.emulator.state import Message

WEEK = timedelta(days=7)


async def schedule_meeting(harness: Harness, group: Group, start: datetime) -> Meeting:
    """A meeting as the scheduling feature would store it, announced the same way."""
    async with harness.bot.session_factory() as session:
        meeting = Meeting(
            group_id=group.id,
            scheduled_start=start,
            planned_end=start + timedelta(minutes=90),
            status=MeetingStatus.SCHEDULED,
            created_at=harness.clock.now(),
        )
        session.add(meeting)
        await session.commit()
    harness.bot.dispatch("schedule_changed", group.id)
    await harness.settle()
    return meeting


def prompts_to(harness: Harness, user_id: int) -> list[Message]:
    return [
        m
        for m in harness.emu.dms(user_id)
        if any(cid.startswith("followup:write:") for cid in m.custom_ids())
    ]


async def test_presenter_is_prompted_three_days_before_and_writes_from_the_dm(
    harness: Harness,
) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    case = await present_case(harness, group, presenter)
    await schedule_meeting(harness, group, START + WEEK)
    await harness.advance(WEEK - timedelta(days=3, minutes=1))
    assert prompts_to(harness, presenter) == []
    await harness.advance(timedelta(minutes=1))
    [prompt] = prompts_to(harness, presenter)
    assert "the farmer who would not rest" in prompt.content
    assert prompts_to(harness, harness.people.members[1]) == []
    [button] = prompt.custom_ids()
    opened = await harness.emu.click(presenter, prompt, button)
    assert opened.modal is not None
    written = await harness.emu.submit_modal(presenter, opened, {"text": "We met again."})
    await written.final()
    await harness.settle()
    assert "posted" in answer_text(written), answer_text(written)
    async with harness.bot.session_factory() as session:
        [followup] = (await session.execute(select(FollowUp))).scalars().all()
        stored = await session.get(Case, case.id)
    assert followup.posted_message_id is not None
    assert stored is not None
    assert stored.prompts_sent == 1
    await harness.advance(timedelta(days=2))
    assert len(prompts_to(harness, presenter)) == 1


async def test_no_prompt_once_the_presenter_has_written_or_closed_the_case(
    harness: Harness,
) -> None:
    group = await meeting_group(harness)
    writer, closer = harness.people.members[0], harness.people.members[1]
    written = await present_case(harness, group, writer, label="the quiet shearer")
    await present_case(harness, group, closer, label="the woman with the dog")
    opened = await harness.command(writer, "followup write", case=str(written.id))
    submitted = await harness.emu.submit_modal(writer, opened, {"text": "Already told you."})
    await submitted.final()
    choices = await harness.emu.autocomplete(
        closer, harness.guild_id, group.text_channel_id, "followup close", focused="case"
    )
    assert [c["name"] for c in choices] == ["the woman with the dog · 11 May 2026"]
    closed = await harness.command(closer, "followup close", case=choices[0]["value"])
    assert "no more follow-up reminders" in answer_text(closed)
    again = await harness.command(closer, "followup close", case=choices[0]["value"])
    assert "already closed" in answer_text(again)
    await schedule_meeting(harness, group, START + WEEK)
    await harness.advance(WEEK - timedelta(hours=1))
    assert prompts_to(harness, writer) == []
    assert prompts_to(harness, closer) == []


async def test_prompts_stop_after_the_groups_number_of_cycles(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    settings = await leader_says(harness, group, "followup settings", prompt_cycles=1)
    assert "for 1 meetings after each case" in answer_text(settings), answer_text(settings)
    await present_case(harness, group, presenter)
    await schedule_meeting(harness, group, START + WEEK)
    await harness.advance(timedelta(days=4))
    assert len(prompts_to(harness, presenter)) == 1
    await harness.advance(timedelta(days=3))
    started = await leader_says(harness, group, "session start")
    assert "has started" in answer_text(started)
    await leader_says(harness, group, "session end")
    await schedule_meeting(harness, group, START + 2 * WEEK)
    await harness.advance(WEEK - timedelta(hours=1))
    assert len(prompts_to(harness, presenter)) == 1


async def test_a_moved_meeting_moves_its_prompts(harness: Harness) -> None:
    """The scheduling feature announces changes; the prompt follows the new date."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await present_case(harness, group, presenter)
    meeting = await schedule_meeting(harness, group, START + WEEK)
    async with harness.bot.session_factory() as session:
        stored = await session.get(Meeting, meeting.id)
        assert stored is not None
        stored.scheduled_start = START + WEEK + timedelta(days=2)
        await session.commit()
    harness.bot.dispatch("schedule_changed", group.id)
    await harness.settle()
    await harness.advance(timedelta(days=5, hours=23))
    assert prompts_to(harness, presenter) == []
    await harness.advance(timedelta(hours=1))
    assert len(prompts_to(harness, presenter)) == 1


async def test_prompts_survive_a_restart_and_go_once(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await present_case(harness, group, presenter)
    await schedule_meeting(harness, group, START + WEEK)
    await harness.kill_bot()
    await harness.clock.advance(timedelta(days=5))
    await harness.start_bot()
    await harness.settle()
    assert len(prompts_to(harness, presenter)) == 1
    await harness.kill_bot()
    await harness.start_bot()
    await harness.advance(timedelta(hours=1))
    assert len(prompts_to(harness, presenter)) == 1
    async with harness.bot.session_factory() as session:
        [prompt] = (await session.execute(select(FollowUpPrompt))).scalars().all()
    assert prompt.sent_at == START + timedelta(days=5)
