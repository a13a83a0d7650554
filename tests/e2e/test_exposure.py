"""A group's name, agreement and existence are for its members, invitees and admins."""

from __future__ import annotations

from sqlalchemy import select

from bot.db.models import Membership, MembershipStatus
from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group, to_discussion


async def test_an_outsider_cannot_tell_a_group_exists(harness: Harness) -> None:
    await harness.create_group(name="Tuesday group")
    outsider = harness.people.outsider
    read = await harness.command(outsider, "group agreement", group="Tuesday group")
    missing = await harness.command(outsider, "group agreement", group="No such group")
    assert read.ephemeral
    assert "what is said in the group stays" not in answer_text(read).lower()
    assert answer_text(read).replace("Tuesday group", "X") == answer_text(missing).replace(
        "No such group", "X"
    )
    choices = await harness.emu.autocomplete(
        outsider, harness.guild_id, harness.lobby_id, "group agreement", focused="group"
    )
    assert choices == []


async def test_members_invitees_and_admins_see_the_group(harness: Harness) -> None:
    group = await harness.create_group(name="Tuesday group")
    invitee = harness.people.members[0]
    invited = await harness.command(
        harness.people.leader, "group add", group.text_channel_id, member=invitee
    )
    assert "Invited" in answer_text(invited)
    for person in (invitee, harness.people.admin, harness.people.leader):
        read = await harness.command(person, "group agreement", group="Tuesday group")
        assert "stays in the group" in answer_text(read), person
        choices = await harness.emu.autocomplete(
            person, harness.guild_id, harness.lobby_id, "group agreement", focused="group"
        )
        assert [c["value"] for c in choices] == ["Tuesday group"], person


async def test_the_group_role_cannot_be_mentioned(harness: Harness) -> None:
    group = await harness.create_group()
    role = harness.emu.state.guilds[harness.guild_id].roles[group.role_id or 0]
    assert role.mentionable is False


async def test_a_co_leader_cannot_remove_the_leader(harness: Harness) -> None:
    group = await harness.create_group()
    co_leader = harness.people.members[0]
    await harness.add_and_accept(group, co_leader, role="co_leader")
    refused = await harness.command(
        co_leader, "group remove", group.text_channel_id, member=harness.people.leader
    )
    assert "Only the group's leader or a server admin" in answer_text(refused)
    async with harness.bot.session_factory() as session:
        leader = (
            await session.execute(
                select(Membership).where(
                    Membership.group_id == group.id, Membership.user_id == harness.people.leader
                )
            )
        ).scalar_one()
    assert leader.status == MembershipStatus.ACTIVE
    # The leader may still remove the co-leader.
    removed = await leader_says(harness, group, "group remove", member=co_leader)
    assert "is no longer in" in answer_text(removed)


async def test_audit_log_reasons_do_not_say_who_presented(harness: Harness) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await to_discussion(harness, group, presenter)
    overwrites = [
        r
        for r in harness.emu.requests()
        if r.route.startswith("/channels/{channel_id}/permissions") and r.audit_reason
    ]
    on_presenter = [r for r in overwrites if r.path.endswith(f"/{presenter}")]
    assert on_presenter, "the presenter's overwrite was changed"
    reasons = {r.audit_reason for r in overwrites}
    assert all("silence" not in (reason or "") for reason in reasons), reasons
    assert {r.audit_reason for r in on_presenter} == {"Balint group meeting"}
