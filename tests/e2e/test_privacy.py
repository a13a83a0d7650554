"""Confidentiality: a copy of one's data, its erasure, and retention after a group is archived."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bot.db.models import Attendance, Case, FollowUp, Membership
from bot.services.privacy import RETIRED_LABEL, RETIRED_PERSON
from tests.e2e.conftest import (
    Harness,
    answer_text,
    button_id,
    leader_says,
    meeting_group,
    present_case,
)
from tests.emulator.state import ChannelType, Message


async def write(harness: Harness, user_id: int, case_id: int, text: str) -> None:
    opened = await harness.command(user_id, "followup write", case=str(case_id))
    submitted = await harness.emu.submit_modal(user_id, opened, {"text": text})
    await submitted.final()
    await harness.settle()
    assert "posted" in answer_text(submitted), answer_text(submitted)


def exported(harness: Harness, message: Message) -> dict[str, Any]:
    [attachment] = message.attachments
    assert attachment["filename"] == "balint-bot-my-data.json"
    data = harness.emu.state.files[int(attachment["id"])].data
    return dict(json.loads(data))


def thread_texts(harness: Harness, thread_id: int | None) -> list[str]:
    return [
        m.embeds[0]["description"]
        for m in harness.emu.messages(thread_id or 0)
        if m.id != thread_id and m.embeds
    ]


async def test_export_dms_everything_about_the_member_and_nothing_else(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter, colleague = harness.people.members[:2]
    case = await present_case(harness, group, presenter)
    await write(harness, presenter, case.id, "My own follow-up.")
    await write(harness, colleague, case.id, "A colleague's thoughts.")
    answer = await harness.command(presenter, "privacy export")
    assert answer.ephemeral
    assert "sent you your data in DMs" in answer_text(answer)
    data = exported(harness, harness.emu.dms(presenter)[-1])
    assert data["user_id"] == str(presenter)
    assert [m["group"] for m in data["memberships"]] == ["Tuesday group"]
    assert [c["label"] for c in data["cases_presented"]] == ["the farmer who would not rest"]
    assert [f["text"] for f in data["follow_ups"]] == ["My own follow-up."]
    assert len(data["attendance"]) == 1
    assert "A colleague's thoughts." not in json.dumps(data)


async def test_export_comes_back_privately_when_dms_are_closed(harness: Harness) -> None:
    group = await meeting_group(harness, members=1)
    member = harness.people.members[0]
    await harness.emu.set_dms_open(member, False)
    answer = await harness.command(member, "privacy export", group.text_channel_id)
    assert answer.ephemeral
    assert "couldn't DM you" in answer_text(answer)
    assert exported(harness, answer.followups[-1])["memberships"][0]["status"] == "active"


async def test_delete_erases_followups_and_anonymises_the_record(harness: Harness) -> None:
    """After confirmation: the member's posts go, the group keeps anonymous counts only."""
    group = await meeting_group(harness)
    presenter, colleague = harness.people.members[:2]
    case = await present_case(harness, group, presenter)
    await write(harness, presenter, case.id, "Mine, to be erased.")
    await write(harness, colleague, case.id, "Theirs, to be kept.")
    asked = await harness.command(presenter, "privacy delete")
    assert asked.message is not None
    cancelled = await harness.emu.click(
        presenter, asked.message, button_id(asked.message, "Cancel")
    )
    assert "Nothing was deleted" in answer_text(cancelled)
    assert len(thread_texts(harness, case.forum_thread_id)) == 2
    asked = await harness.command(presenter, "privacy delete")
    assert asked.message is not None
    confirmed = await harness.emu.click(
        presenter, asked.message, button_id(asked.message, "Delete my data")
    )
    await confirmed.wait_for(lambda r: bool(r.followups))
    await harness.settle()
    assert "1 follow-up(s) deleted" in answer_text(confirmed)
    assert "still a member of **Tuesday group**" in answer_text(confirmed)
    assert thread_texts(harness, case.forum_thread_id) == ["Theirs, to be kept."]
    async with harness.bot.session_factory() as session:
        followups = (await session.execute(select(FollowUp))).scalars().all()
        attendees = (await session.execute(select(Attendance.user_id))).scalars().all()
        stored_case = await session.get(Case, case.id)
        memberships = await session.scalar(
            select(func.count(Membership.id)).where(Membership.user_id == presenter)
        )
    assert presenter not in {f.author_id for f in followups}
    assert [f.text for f in followups if f.author_id != colleague] == [""]
    assert len(attendees) == 5
    assert presenter not in attendees
    assert stored_case is not None
    assert stored_case.presenter_id < 0
    assert memberships == 1
    again = await harness.command(presenter, "privacy export")
    assert again.ephemeral
    data = exported(harness, harness.emu.dms(presenter)[-1])
    assert data["follow_ups"] == []
    assert data["cases_presented"] == []
    assert data["attendance"] == []


async def test_case_posts_are_deleted_when_the_retention_period_ends(harness: Harness) -> None:
    """Twelve months (the default) after the group is archived, by the daily job."""
    group = await meeting_group(harness)
    case = await present_case(harness, group, harness.people.members[0])
    await write(harness, harness.people.members[0], case.id, "Kept for a year.")
    archived = await leader_says(harness, group, "group archive", confirm="Tuesday group")
    assert "archived" in answer_text(archived), answer_text(archived)
    await harness.advance(timedelta(days=364))
    threads = [c.id for c in harness.emu.channels(harness.guild_id, ChannelType.PUBLIC_THREAD)]
    assert case.forum_thread_id in threads
    await harness.advance(timedelta(days=2))
    threads = [c.id for c in harness.emu.channels(harness.guild_id, ChannelType.PUBLIC_THREAD)]
    assert case.forum_thread_id not in threads
    async with harness.bot.session_factory() as session:
        assert (await session.execute(select(FollowUp))).scalars().all() == []
        stored = await session.get(Case, case.id)
    assert stored is not None
    assert stored.label == RETIRED_LABEL
    assert stored.forum_thread_id is None


async def test_active_groups_forget_people_after_their_retention_period(harness: Harness) -> None:
    """Nothing naming a person outlives the period, in a group that is still meeting."""
    group = await meeting_group(harness)
    presenter, leaver = harness.people.members[0], harness.people.members[1]
    case = await present_case(harness, group, presenter)
    await write(harness, presenter, case.id, "Kept for a year.")
    removed = await leader_says(harness, group, "group remove", member=leaver)
    assert "is no longer in" in answer_text(removed)

    async def people_named() -> set[int]:
        async with harness.bot.session_factory() as session:
            ids = set((await session.execute(select(Attendance.user_id))).scalars())
            ids |= set((await session.execute(select(Case.presenter_id))).scalars())
            ids |= set((await session.execute(select(FollowUp.author_id))).scalars())
            ids |= set((await session.execute(select(Membership.user_id))).scalars())
        return ids

    await harness.advance(timedelta(days=300))
    assert {presenter, leaver} <= await people_named()
    await harness.advance(timedelta(days=70))
    # Only the presenter's current membership still names them; the leaver is gone.
    assert leaver not in await people_named()
    async with harness.bot.session_factory() as session:
        assert (await session.execute(select(FollowUp))).scalars().all() == []
        stored = await session.get(Case, case.id)
        attendees = set((await session.execute(select(Attendance.user_id))).scalars())
    assert stored is not None
    assert stored.label == RETIRED_LABEL
    assert stored.presenter_id == RETIRED_PERSON
    assert attendees == {RETIRED_PERSON}

