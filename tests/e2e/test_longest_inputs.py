"""The longest group name, case label and follow-up a person may give: everything the bot
builds from them (event names, post titles, autocomplete choices, modals) stays within
Discord's limits, which the emulator refuses rather than cuts."""

from __future__ import annotations

from bot.services.cases import MAX_LABEL
from bot.services.followups import MAX_TEXT
from bot.services.groups import MAX_GROUP_NAME
from tests.e2e.conftest import Harness, answer_text, leader_says, meeting_group, present_case
from tests.e2e.test_followups import stored_followups, write
from tests.e2e.test_schedule import WEEKLY

NAME = "Rural GPs of the New England tablelands, Thursday evenings and more"[:MAX_GROUP_NAME]
LABEL = ("the shearer who kept apologising for coming back about the same pain in his back "
         "again and again")[:MAX_LABEL].strip()


async def test_longest_inputs_stay_within_discords_limits(harness: Harness) -> None:
    assert (len(NAME), len(LABEL)) == (MAX_GROUP_NAME, MAX_LABEL)
    group = await meeting_group(harness, members=2, name=NAME)
    leader, presenter = harness.people.leader, harness.people.members[0]
    scheduled = await leader_says(harness, group, "schedule set", **WEEKLY)
    assert "Schedule set" in answer_text(scheduled), answer_text(scheduled)
    assert all(len(e.name) <= 100 for e in harness.emu.scheduled_events(harness.guild_id))
    case = await present_case(harness, group, presenter, label=LABEL)
    post = harness.emu.channel(case.forum_thread_id or 0)
    assert post.name.startswith(LABEL)
    for user_id, command, focused in [
        (presenter, "followup write", "case"),
        (leader, "schedule show", "group"),
    ]:
        choices = await harness.emu.autocomplete(
            user_id, harness.guild_id, group.text_channel_id, command, focused=focused
        )
        assert choices, command
    answer = await write(harness, presenter, case, "w" * MAX_TEXT)
    assert "posted" in answer_text(answer), answer_text(answer)
    [stored] = await stored_followups(harness)
    choices = await harness.emu.autocomplete(
        presenter, harness.guild_id, group.text_channel_id, "followup edit", focused="followup"
    )
    assert [c["value"] for c in choices] == [str(stored.id)]
    refused = [(r.method, r.route, r.status) for r in harness.emu.request_log
               if r.status is not None and r.status >= 400]
    assert refused == []
