"""Follow-ups end to end: the case's forum post, writing, editing, deleting, and who sees them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import discord
from sqlalchemy import select

from bot.db.models import Case, FollowUp
from tests.e2e.conftest import (
    Harness,
    answer_text,
    button_id,
    leader_says,
    meeting_group,
    present_case,
)
from tests.emulator.interactions import InteractionResult
from tests.emulator.state import ChannelType, Message

VIEW = discord.Permissions(view_channel=True).value
LABEL = "the farmer who would not rest"


async def stored_followups(harness: Harness) -> list[FollowUp]:
    async with harness.bot.session_factory() as session:
        return list((await session.execute(select(FollowUp).order_by(FollowUp.id))).scalars())


async def write(
    harness: Harness, user_id: int, case: Case, text: str, channel_id: int | None = None
) -> InteractionResult:
    """Run `/followup write`, fill in the modal and wait for the bot's final answer."""
    opened = await harness.command(user_id, "followup write", channel_id, case=str(case.id))
    assert opened.modal is not None, answer_text(opened)
    submitted = await harness.emu.submit_modal(user_id, opened, {"text": text})
    await submitted.final()
    await harness.settle()
    return submitted


def posts_in(harness: Harness, thread_id: int | None) -> list[Message]:
    """The follow-up messages of a case post (the starter message left out)."""
    return [m for m in harness.emu.messages(thread_id or 0) if m.id != thread_id]


def author_of(message: Message) -> str:
    embed: dict[str, Any] = message.embeds[0]
    return str(embed["author"]["name"])


async def test_presenting_a_case_opens_its_post_in_the_forum(harness: Harness) -> None:
    """Titled with the label and the meeting's date in the group's zone; only the group sees it."""
    group = await meeting_group(harness)
    other = await harness.create_group(name="Thursday group")
    await harness.add_and_accept(other, harness.people.members[4])
    case = await present_case(harness, group, harness.people.members[0])
    assert case.forum_thread_id is not None
    thread = harness.emu.channel(case.forum_thread_id)
    assert thread.parent_id == group.forum_channel_id
    # 21:00 UTC on 10 May is the morning of 11 May in Sydney.
    assert thread.name == f"{LABEL} · 11 May 2026"
    for outsider in (harness.people.outsider, harness.people.members[4]):
        assert not harness.emu.permissions_for(outsider, case.forum_thread_id) & VIEW
        assert not harness.emu.permissions_for(outsider, group.forum_channel_id or 0) & VIEW
    assert harness.emu.permissions_for(harness.people.members[1], case.forum_thread_id) & VIEW


async def test_a_member_writes_a_followup_posted_under_their_name(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    case = await present_case(harness, group, presenter)
    answer = await write(harness, presenter, case, "She came back and we talked @everyone.")
    assert answer.ephemeral
    assert "posted" in answer_text(answer), answer_text(answer)
    [stored] = await stored_followups(harness)
    assert stored.submission_key == str(answer.id)
    [posted] = posts_in(harness, case.forum_thread_id)
    assert posted.id == stored.posted_message_id
    assert author_of(posted) == "Follow-up by dr-1"
    assert posted.embeds[0]["description"] == "She came back and we talked @everyone."
    assert posted.mention_ids == []
    sent = harness.emu.requests("POST", "/channels/{channel_id}/messages")[-1]
    assert sent.json["allowed_mentions"]["parse"] == []
    # A member who was present can reply in the post; the outsider cannot even see it.
    await harness.emu.send_message(harness.people.members[1], case.forum_thread_id, "Thank you")


async def test_attendees_may_write_absentees_may_not(harness: Harness) -> None:
    """Autocomplete offers one's own cases and those discussed while one was there."""
    group = await meeting_group(harness, members=3)
    absent = harness.people.members[3]
    await harness.add_and_accept(group, absent)
    case = await present_case(harness, group, harness.people.members[0])
    own = await harness.emu.autocomplete(
        harness.people.members[0],
        harness.guild_id,
        group.text_channel_id,
        "followup write",
        focused="case",
    )
    assert [c["value"] for c in own] == [str(case.id)]
    assert "(discussed)" not in own[0]["name"]
    heard = await harness.emu.autocomplete(
        harness.people.members[1],
        harness.guild_id,
        group.text_channel_id,
        "followup write",
        focused="case",
    )
    assert [c["name"] for c in heard] == [f"{LABEL} · 11 May 2026 (discussed)"]
    missed = await harness.emu.autocomplete(
        absent, harness.guild_id, group.text_channel_id, "followup write", focused="case"
    )
    assert missed == []
    refused = await harness.command(
        absent, "followup write", group.text_channel_id, case=str(case.id)
    )
    assert refused.modal is None
    assert "meetings you were at" in answer_text(refused)
    written = await write(harness, harness.people.members[1], case, "I keep thinking of him.")
    assert "posted" in answer_text(written)


async def test_edit_and_delete_are_followed_by_the_forum(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    case = await present_case(harness, group, presenter)
    await write(harness, presenter, case, "First thoughts.")
    [stored] = await stored_followups(harness)
    choices = await harness.emu.autocomplete(
        presenter, harness.guild_id, group.text_channel_id, "followup edit", focused="followup"
    )
    assert [c["value"] for c in choices] == [str(stored.id)]
    opened = await harness.command(presenter, "followup edit", followup=str(stored.id))
    assert opened.modal is not None
    assert opened.modal["components"][0]["components"][0]["value"] == "First thoughts."
    edited = await harness.emu.submit_modal(presenter, opened, {"text": "Second thoughts."})
    await edited.final()
    assert "updated" in answer_text(edited), answer_text(edited)
    [posted] = posts_in(harness, case.forum_thread_id)
    assert posted.embeds[0]["description"] == "Second thoughts."
    assert posted.embeds[0]["footer"]["text"] == "edited"
    # Someone else's follow-up is not theirs to delete.
    other = await harness.command(
        harness.people.members[1], "followup delete", followup=str(stored.id)
    )
    assert "isn't one of your follow-ups" in answer_text(other)
    assert posts_in(harness, case.forum_thread_id)
    deleted = await harness.command(presenter, "followup delete", followup=str(stored.id))
    assert "deleted" in answer_text(deleted)
    assert posts_in(harness, case.forum_thread_id) == []
    [gone] = await stored_followups(harness)
    assert gone.deleted_at is not None
    assert gone.text == ""
    assert gone.posted_message_id is None


async def test_a_leader_removes_a_followup_and_its_author_is_told(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    case = await present_case(harness, group, presenter)
    await write(harness, presenter, case, "Something the group should not keep.")
    [stored] = await stored_followups(harness)
    member_try = await harness.command(
        harness.people.members[1], "followup remove", followup=str(stored.id)
    )
    assert "Only the group's leaders" in answer_text(member_try)
    assert posts_in(harness, case.forum_thread_id)
    removed = await leader_says(harness, group, "followup remove", followup=str(stored.id))
    assert "Removed" in answer_text(removed)
    assert posts_in(harness, case.forum_thread_id) == []
    assert "A leader removed your follow-up" in harness.emu.dms(presenter)[-1].content
    [gone] = await stored_followups(harness)
    assert gone.removed_by == harness.people.leader


async def test_identifying_details_get_a_nudge_before_anything_is_saved(harness: Harness) -> None:
    """The member sees what was found and chooses: edit the text, or post it anyway."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    case = await present_case(harness, group, presenter)
    opened = await harness.command(presenter, "followup write", case=str(case.id))
    text = "Mrs B rang me on 0412 345 678 to say thanks."
    nudged = await harness.emu.submit_modal(presenter, opened, {"text": text})
    await harness.settle()
    assert nudged.ephemeral
    assert "a phone number" in answer_text(nudged)
    assert "“0412 345 678”" in answer_text(nudged)
    assert await stored_followups(harness) == []
    assert nudged.message is not None
    revise = await harness.emu.click(presenter, nudged.message, button_id(nudged.message, "Edit"))
    assert revise.modal is not None
    assert revise.modal["components"][0]["components"][0]["value"] == text
    fixed = await harness.emu.submit_modal(
        presenter, revise, {"text": "Mrs B rang me to say thanks."}
    )
    await fixed.final()
    await harness.settle()
    assert "posted" in answer_text(fixed)
    # Posting anyway keeps the text as written, once, however often the button is pressed.
    opened = await harness.command(presenter, "followup write", case=str(case.id))
    nudged = await harness.emu.submit_modal(presenter, opened, {"text": text})
    assert nudged.message is not None
    anyway = button_id(nudged.message, "Post anyway")
    posted = await harness.emu.click(presenter, nudged.message, anyway)
    await posted.wait_for(lambda r: bool(r.followups))
    await harness.emu.click(presenter, nudged.message, anyway)
    await harness.settle()
    texts = [f.text for f in await stored_followups(harness)]
    assert texts == ["Mrs B rang me to say thanks.", text]
    assert [m.embeds[0]["description"] for m in posts_in(harness, case.forum_thread_id)] == texts


async def test_a_submission_delivered_twice_makes_one_followup(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    case = await present_case(harness, group, presenter)
    opened = await harness.command(presenter, "followup write", case=str(case.id))
    submitted = await harness.emu.submit_modal(
        presenter, opened, {"text": "Only once, please."}, deliveries=2
    )
    await submitted.final()
    await harness.settle()
    [stored] = await stored_followups(harness)
    assert stored.submission_key == str(submitted.id)
    assert len(posts_in(harness, case.forum_thread_id)) == 1
    assert "posted" in answer_text(submitted)


async def test_a_followup_saved_while_discord_fails_is_posted_later(harness: Harness) -> None:
    """Saved first; the retry job posts it and tells the author."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    case = await present_case(harness, group, presenter)
    fault = harness.emu.faults.server_error(
        "/channels/{channel_id}/messages", method="POST", status=503, times=1
    )
    answer = await write(harness, presenter, case, "Written while Discord was down.")
    assert fault.fired == 1
    assert "is saved, but I couldn't" in answer_text(answer), answer_text(answer)
    assert "Discord is having trouble" in answer_text(answer)
    [stored] = await stored_followups(harness)
    assert stored.posted_message_id is None
    assert stored.post_attempts == 1
    assert posts_in(harness, case.forum_thread_id) == []
    await harness.advance(timedelta(seconds=59))
    assert posts_in(harness, case.forum_thread_id) == []
    await harness.advance(timedelta(seconds=1))
    [posted] = posts_in(harness, case.forum_thread_id)
    assert posted.embeds[0]["description"] == "Written while Discord was down."
    assert "is posted now, after a delay" in harness.emu.dms(presenter)[-1].content
    [stored] = await stored_followups(harness)
    assert stored.posted_message_id == posted.id


async def test_a_followup_refused_by_permissions_is_posted_after_a_restart(
    harness: Harness,
) -> None:
    """The leader is told what to grant; once granted, the next start-up posts it."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    case = await present_case(harness, group, presenter)
    forum = group.forum_channel_id or 0
    granted = harness.emu.overwrites(forum)[harness.emu.bot_id]
    in_threads = discord.Permissions(send_messages_in_threads=True).value
    await harness.emu.set_overwrite(
        forum, harness.emu.bot_id, allow=granted.allow & ~in_threads, deny=in_threads
    )
    answer = await write(harness, presenter, case, "Kept safe until I may post.")
    assert "Send Messages in Threads" in answer_text(answer), answer_text(answer)
    await harness.kill_bot()
    await harness.emu.set_overwrite(forum, harness.emu.bot_id, allow=granted.allow, deny=0)
    await harness.start_bot()
    await harness.settle()
    [posted] = posts_in(harness, case.forum_thread_id)
    assert posted.embeds[0]["description"] == "Kept safe until I may post."


async def test_changing_the_presenter_removes_the_first_choices_post(harness: Harness) -> None:
    group = await meeting_group(harness)
    first, second = harness.people.members[:2]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "phase set", phase="presentation")
    await leader_says(harness, group, "case present", member=first, label="the wrong case")
    async with harness.bot.session_factory() as session:
        wrong = (await session.execute(select(Case))).scalar_one()
    assert wrong.forum_thread_id is not None
    await leader_says(harness, group, "case present", member=second, label="the right case")
    await harness.settle()
    async with harness.bot.session_factory() as session:
        cases = {c.label: c for c in (await session.execute(select(Case))).scalars()}
    assert cases["the wrong case"].forum_thread_id is None
    assert cases["the right case"].forum_thread_id is not None
    threads = [c.name for c in harness.emu.channels(harness.guild_id, ChannelType.PUBLIC_THREAD)]
    assert threads == ["the right case · 11 May 2026"]


async def test_removed_and_declined_members_neither_write_nor_edit(harness: Harness) -> None:
    group = await meeting_group(harness)
    removed = harness.people.members[0]
    case = await present_case(harness, group, removed)
    await write(harness, removed, case, "First thoughts.")
    [stored] = await stored_followups(harness)
    gone = await leader_says(harness, group, "group remove", member=removed)
    assert "is no longer in" in answer_text(gone)

    edit = await harness.command(removed, "followup edit", followup=str(stored.id))
    assert edit.modal is None
    assert "no longer a member" in answer_text(edit)
    again = await harness.command(removed, "followup write", case=str(case.id))
    assert again.modal is None
    assert "Only members" in answer_text(again)
    [unchanged] = await stored_followups(harness)
    assert unchanged.text == "First thoughts."
    # Their own data stays theirs to erase.
    deleted = await harness.command(removed, "followup delete", followup=str(stored.id))
    assert "deleted" in answer_text(deleted).lower(), answer_text(deleted)

    decliner = harness.people.members[4]
    invited = await leader_says(harness, group, "group add", member=decliner)
    assert "Invited" in answer_text(invited)
    dm = harness.latest_dm_with_buttons(decliner)
    await harness.emu.click(decliner, dm, button_id(dm, "Decline"))
    await harness.settle()
    declined = await harness.command(decliner, "followup write", case=str(case.id))
    assert declined.modal is None
    assert "Only members" in answer_text(declined)


async def test_editing_a_followup_in_a_post_discord_archived(harness: Harness) -> None:
    """Discord archives an idle post and then refuses edits in it (400 50083): the bot reopens
    the post and edits, instead of failing on every retry."""
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    case = await present_case(harness, group, presenter)
    await write(harness, presenter, case, "First thoughts.")
    [stored] = await stored_followups(harness)
    thread = harness.emu.channel(case.forum_thread_id or 0)
    await harness.advance(timedelta(minutes=thread.auto_archive_duration, seconds=1))
    assert thread.archived
    opened = await harness.command(presenter, "followup edit", followup=str(stored.id))
    assert opened.modal is not None, answer_text(opened)
    edited = await harness.emu.submit_modal(presenter, opened, {"text": "Second thoughts."})
    await edited.final()
    await harness.settle()
    assert "updated" in answer_text(edited), answer_text(edited)
    [posted] = posts_in(harness, case.forum_thread_id)
    assert posted.embeds[0]["description"] == "Second thoughts."
    assert not harness.emu.channel(thread.id).archived
    edits = [
        e.status
        for e in harness.emu.requests("PATCH", "/channels/{channel_id}/messages/{message_id}")
        if e.path.startswith(f"/channels/{thread.id}/")
    ]
    assert edits == [400, 200]  # refused while archived, then done
    [reopened] = harness.emu.requests("PATCH", "/channels/{channel_id}")
    assert reopened.json == {"archived": False}
