"""Attendance end to end: minutes from the voice room, restarts, corrections, statements."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pypdf
from sqlalchemy import func, select

from bot.db.models import Attendance, AttendanceCorrection, AttendanceStatement, Group, Rsvp
from bot.domain.attendance import Status, read_grid_csv
from bot.services.attendance_files import read_statement_pdf, statement_pdf
from bot.services.privacy import RETIRED_PERSON
from tests.e2e.conftest import Harness, answer_text, button_id, leader_says, meeting_group
from tests.e2e.invariant import assert_silence_invariant
from tests.e2e.test_schedule import FIRST_TUESDAY, schedule
from tests.emulator.interactions import InteractionResult
from tests.emulator.state import Message

MEETING = timedelta(minutes=90)


async def hold_meeting(harness: Harness, group: Group, *, length: timedelta = MEETING) -> None:
    started = await leader_says(harness, group, "session start")
    assert "has started" in answer_text(started), answer_text(started)
    await harness.advance(length)
    ended = await leader_says(harness, group, "session end")
    assert "summary" in answer_text(ended), answer_text(ended)


def minutes_of(text: str, user_id: int) -> str:
    found = re.search(rf"<@{user_id}>: ([^\n]*)", text)
    assert found, text
    return found[1]


async def test_a_dropout_of_three_minutes_is_one_record_of_87_minutes(harness: Harness) -> None:
    """A member who drops and rejoins has one line with the minutes really spent."""
    group = await meeting_group(harness, members=2)
    dropper, stayer = harness.people.members[:2]
    started = await leader_says(harness, group, "session start")
    assert "has started" in answer_text(started)
    await harness.advance(timedelta(minutes=30))
    await harness.emu.leave_voice(dropper)
    await harness.settle()
    await harness.advance(timedelta(minutes=3))
    await harness.emu.join_voice(dropper, group.voice_channel_id or 0)
    await harness.settle()
    await harness.advance(timedelta(minutes=57))
    await leader_says(harness, group, "session end")
    report = await leader_says(harness, group, "attendance meeting")
    text = answer_text(report)
    assert report.ephemeral
    assert text.count(f"<@{dropper}>") == 1
    assert minutes_of(text, dropper) == "87 min, present"
    assert minutes_of(text, stayer) == "90 min, present"
    async with harness.bot.session_factory() as session:
        stretches = (await session.execute(select(func.count()).select_from(Attendance).where(
            Attendance.user_id == dropper))).scalar_one()
    assert stretches == 2  # measured as two stretches, reported as one record
    await assert_silence_invariant(harness)


async def test_a_restart_mid_meeting_loses_no_minutes(harness: Harness) -> None:
    """Whoever stayed keeps every minute; who came while the bot was down counts from the
    restart; who left while it was down is closed at the restart."""
    group = await meeting_group(harness, members=3)
    stayer, latecomer, leaver = harness.people.members[:3]
    await harness.emu.leave_voice(latecomer)
    await harness.settle()
    started = await leader_says(harness, group, "session start")
    assert "has started" in answer_text(started)
    await harness.advance(timedelta(minutes=20))
    await harness.kill_bot()
    await harness.clock.advance(timedelta(minutes=10))
    await harness.emu.join_voice(latecomer, group.voice_channel_id or 0)
    await harness.emu.leave_voice(leaver)
    await harness.clock.advance(timedelta(minutes=10))
    await harness.start_bot()
    await harness.advance(timedelta(minutes=50))
    await leader_says(harness, group, "session end")
    text = answer_text(await leader_says(harness, group, "attendance meeting"))
    assert minutes_of(text, stayer) == "90 min, present"
    assert minutes_of(text, latecomer) == "50 min, late"
    assert minutes_of(text, leaver).startswith("40 min, left early")
    await assert_silence_invariant(harness)


async def test_corrections_are_kept_beside_the_measure(harness: Harness) -> None:
    """A leader's correction changes the counted minutes and status, with the reason shown;
    bad input is refused and changes nothing."""
    group = await meeting_group(harness, members=2)
    member = harness.people.members[0]
    await harness.emu.leave_voice(member)
    await harness.settle()
    await hold_meeting(harness, group)
    text = answer_text(await leader_says(harness, group, "attendance meeting"))
    assert minutes_of(text, member) == "0 min, absent"
    refused = [
        await leader_says(harness, group, "attendance correct", member=member, minutes=200,
                          reason="joined by phone"),
        await leader_says(harness, group, "attendance correct", member=member, minutes=80,
                          reason="joined by phone", date="2020-01-01"),
        await leader_says(harness, group, "attendance correct", member=member, minutes=80,
                          reason="phone", date="31/12/2026"),
        await leader_says(harness, group, "attendance correct", member=harness.people.outsider,
                          minutes=80, reason="phone"),
        await harness.command(member, "attendance correct", group.text_channel_id,
                              member=member, minutes=90, reason="I was there"),
    ]
    expected = ["between 0 and 90", "No meeting of", "YYYY-MM-DD", "isn't a member",
                "Only the leaders"]
    for result, words in zip(refused, expected, strict=True):
        assert result.ephemeral, answer_text(result)
        assert words in answer_text(result), answer_text(result)
    async with harness.bot.session_factory() as session:
        assert (await session.execute(select(AttendanceCorrection))).first() is None
    done = await leader_says(harness, group, "attendance correct", member=member, minutes=85,
                             reason="joined by phone")
    assert "85 min, present (corrected from 0 min: joined by phone)" in answer_text(done)
    text = answer_text(await leader_says(harness, group, "attendance meeting"))
    assert minutes_of(text, member) == "85 min, present (corrected from 0 min: joined by phone)"


async def test_a_meeting_that_never_started_or_a_group_never_met(harness: Harness) -> None:
    group = await meeting_group(harness, members=1)
    never = await leader_says(harness, group, "attendance meeting")
    assert never.ephemeral
    assert "has not met yet" in answer_text(never)
    member = await harness.command(harness.people.members[0], "attendance meeting",
                                   group.text_channel_id)
    assert "Only the leaders" in answer_text(member)
    mine = await harness.command(harness.people.members[0], "attendance me",
                                 group.text_channel_id)
    assert mine.ephemeral
    assert "no recorded attendance" in answer_text(mine)


async def test_apologies_come_from_the_rsvp(harness: Harness) -> None:
    """"Can't come" on the reminder shows as apologies, not absent; the leaders' summary
    names a member who missed three meetings in a row."""
    group = await meeting_group(harness, members=2, in_voice=False)
    sorry, missing = harness.people.members[:2]
    await schedule(harness, group)
    await harness.advance(FIRST_TUESDAY - timedelta(hours=24) - harness.clock.now())
    post = next(m for m in harness.emu.messages(group.text_channel_id or 0)
                if "Will you be there" in m.content)
    await harness.emu.click(sorry, post, button_id(post, "Apologies"))
    await harness.advance(FIRST_TUESDAY - harness.clock.now())
    await harness.emu.join_voice(harness.people.leader, group.voice_channel_id or 0)
    await hold_meeting(harness, group)
    text = answer_text(await leader_says(harness, group, "attendance meeting"))
    assert minutes_of(text, sorry) == "0 min, apologies"
    assert minutes_of(text, missing) == "0 min, absent"
    async with harness.bot.session_factory() as session:
        assert (await session.execute(select(Rsvp.user_id))).scalars().all() == [sorry]
    await harness.advance(timedelta(days=2))
    await hold_meeting(harness, group)
    await harness.advance(timedelta(days=2))
    summary = answer_text(await _last_summary(harness, group))
    assert f"<@{missing}>: the last 3" in summary
    assert f"<@{sorry}>: the last 3" in summary
    assert f"<@{harness.people.leader}>" not in summary.split("Missed several")[1]


async def _last_summary(harness: Harness, group: Group) -> InteractionResult:
    started = await leader_says(harness, group, "session start")
    assert "has started" in answer_text(started)
    await harness.advance(MEETING)
    return await leader_says(harness, group, "session end")


PDF_WAIT = 30.0


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def attachment_bytes(harness: Harness, message: Message) -> bytes:
    (attachment,) = message.attachments
    return harness.emu.world.state.files[int(attachment["id"])].data


async def test_statement_pdf_matches_the_records_and_verifies(harness: Harness) -> None:
    """The PDF read back shows each meeting's date and minutes, the totals and the credit
    under the group's scheme; its code verifies, and stops verifying when the records
    change."""
    group = await meeting_group(harness, members=2)
    member = harness.people.members[0]
    scheme = await leader_says(
        harness, group, "attendance scheme",
        preset="Educational activity 0.5 h + Reviewing performance 1 h")
    assert "Educational activity 0.5 h + Reviewing performance 1 h" in answer_text(scheme)
    await hold_meeting(harness, group)
    await harness.advance(timedelta(days=7) - MEETING)
    await harness.emu.leave_voice(member)
    await harness.settle()
    started = await leader_says(harness, group, "session start")
    assert "has started" in answer_text(started)
    await harness.advance(timedelta(minutes=60))
    await harness.emu.join_voice(member, group.voice_channel_id or 0)
    await harness.settle()
    await harness.advance(timedelta(minutes=30))
    await leader_says(harness, group, "session end")
    # Drawing and reading PDFs take seconds on a loaded test machine (in a thread).
    asked = await harness.command(member, "attendance statement", group.text_channel_id,
                                  name="Dr Ana Ngāta", within=PDF_WAIT)
    assert asked.ephemeral, answer_text(asked)
    assert "DMs" in answer_text(asked), answer_text(asked)
    dm = harness.emu.dms(member)[-1]
    pdf = attachment_bytes(harness, dm)
    text = pdf_text(pdf)
    assert "Dr Ana Ngāta" in text
    assert group.name in text
    assert "dr-leader" in text
    records = answer_text(await leader_says(harness, group, "attendance meeting"))
    assert minutes_of(records, member) == "30 min, late"
    rows = re.findall(r"(\d{4}-\d{2}-\d{2}) (\d+) ([a-z ]+?) (-|[\d.]+ h)\n", text)
    assert [(int(minutes), status, credit) for _, minutes, status, credit in rows] == [
        (90, "present", "1.5 h"), (30, "late", "-")]
    assert [day for day, *_ in rows] == ["2026-05-11", "2026-05-18"]  # Sydney dates
    assert "Total: 2 meetings, 1 attended, 120 minutes" in text
    assert "Credit: Educational activity: 0.5 h" in text
    assert "Credit: Reviewing performance: 1 h" in text
    for forbidden in ("farmer", "follow-up", "Case"):
        assert forbidden not in text
    code = re.search(r"Verification code: ([A-Z2-7-]{19})", text)
    assert code is not None
    assert code[1] in dm.content
    good = await harness.command(harness.people.outsider, "attendance verify",
                                 harness.lobby_id, code=code[1].lower())
    assert good.ephemeral
    assert answer_text(good).startswith("✅ Match")
    with_file = await harness.command(harness.people.leader, "attendance verify",
                                      harness.lobby_id, code=code[1],
                                      statement=("statement.pdf", pdf), within=PDF_WAIT)
    assert answer_text(with_file).startswith("✅ Match")
    # Someone raises their 30 late minutes to a full, credited meeting, keeping the code.
    real, printed = read_statement_pdf(pdf)
    assert printed == code[1]
    edited = replace(real, lines=(real.lines[0], replace(real.lines[1], minutes=90,
                                                          status=Status.PRESENT)))
    forged_pdf = statement_pdf(edited, ["dr-leader"], code[1], real.last_day)
    assert "2026-05-18 90 present 1.5 h" in pdf_text(forged_pdf)
    caught = await harness.command(harness.people.leader, "attendance verify",
                                   harness.lobby_id, code=code[1],
                                   statement=("statement.pdf", forged_pdf), within=PDF_WAIT)
    assert answer_text(caught).startswith("❌ No match")
    not_pdf = await harness.command(harness.people.leader, "attendance verify",
                                    harness.lobby_id, code=code[1],
                                    statement=("statement.pdf", b"%PDF-1.4 nonsense"),
                                    within=PDF_WAIT)
    assert "not a balint-bot attendance statement" in answer_text(not_pdf)
    forged = code[1][:-1] + ("A" if code[1][-1] != "A" else "B")
    bad = await harness.command(harness.people.outsider, "attendance verify", harness.lobby_id,
                                code=forged)
    assert answer_text(bad).startswith("❌ No match")
    await leader_says(harness, group, "attendance correct", member=member, minutes=88,
                      reason="joined by phone")
    stale = await harness.command(harness.people.outsider, "attendance verify",
                                  harness.lobby_id, code=code[1])
    assert answer_text(stale).startswith("❌ No match")


async def test_statement_bad_input_changes_nothing(harness: Harness) -> None:
    group = await meeting_group(harness, members=3)
    member, _, never_came = harness.people.members[:3]
    await harness.emu.leave_voice(never_came)
    await harness.settle()
    await hold_meeting(harness, group)
    cases: dict[str, dict[str, Any]] = {
        "reversed": {"start": "2026-05-10", "end": "2026-01-01"},
        "future": {"start": "2026-05-01", "end": "2027-01-01"},
        "YYYY-MM-DD": {"start": "yesterday"},
    }
    for words, options in cases.items():
        result = await harness.command(member, "attendance statement", group.text_channel_id,
                                       name="Dr A", **options)
        assert result.ephemeral, answer_text(result)
        assert words in answer_text(result), answer_text(result)
    never = await harness.command(never_came, "attendance statement",
                                  group.text_channel_id, name="Dr B")
    assert "no recorded attendance" in answer_text(never)
    outsider = await harness.command(harness.people.outsider, "attendance statement",
                                     harness.lobby_id, name="Dr C")
    assert "Which group?" in answer_text(outsider)
    bad_scheme = await leader_says(harness, group, "attendance scheme", text="Education lots")
    assert "couldn't read the hours" in answer_text(bad_scheme)
    shown = await leader_says(harness, group, "attendance scheme")
    assert "**hours attended**" in answer_text(shown)
    assert harness.emu.dms(member) == [m for m in harness.emu.dms(member)
                                       if not m.attachments]


async def test_group_chart_and_csv(harness: Harness) -> None:
    """Leaders get a PNG of sensible size and a CSV that reads back to the same records."""
    group = await meeting_group(harness, members=3)
    for _ in range(3):
        await hold_meeting(harness, group)
        await harness.advance(timedelta(days=7) - MEETING)
    result = await leader_says(harness, group, "attendance group")
    assert result.ephemeral
    message = result.followups[0] if result.followups else result.message
    assert message is not None
    by_name = {a["filename"].rsplit(".", 1)[1]: a for a in message.attachments}
    png = harness.emu.world.state.files[int(by_name["png"]["id"])].data
    assert png.startswith(b"\x89PNG")
    width, height = struct.unpack(">II", png[16:24])
    assert 400 <= width <= 2400
    assert 200 <= height <= 2000
    assert 5_000 < len(png) < 1_000_000
    text = harness.emu.world.state.files[int(by_name["csv"]["id"])].data.decode()
    cells = read_grid_csv(text)
    assert len(cells) == 3 * 4  # three meetings × the leader and three members
    assert {c.assessment.minutes for c in cells} == {90}
    assert list(csv.reader(io.StringIO(text)))[1][1] in {"dr-leader", "dr-1", "dr-2", "dr-3"}
    refused = await harness.command(harness.people.members[0], "attendance group",
                                    group.text_channel_id)
    assert "Only the leaders" in answer_text(refused)


async def test_privacy_export_then_erasure_ends_statements(harness: Harness) -> None:
    """Corrections and statements are in the export; after erasure (warned of before the
    confirmation) the member gets no statement and the old code no longer verifies."""
    group = await meeting_group(harness, members=2)
    member = harness.people.members[0]
    await hold_meeting(harness, group)
    await leader_says(harness, group, "attendance correct", member=member, minutes=80,
                      reason="connection trouble")
    await harness.command(member, "attendance statement", group.text_channel_id, name="Dr M",
                          within=PDF_WAIT)
    code = re.search(r"`([A-Z2-7-]{19})`", harness.emu.dms(member)[-1].content)
    assert code is not None
    await harness.command(member, "privacy export", group.text_channel_id)
    (attachment,) = harness.emu.dms(member)[-1].attachments
    data = json.loads(harness.emu.state.files[int(attachment["id"])].data)
    assert [c["reason"] for c in data["attendance_corrections"]] == ["connection trouble"]
    assert [s["code"] for s in data["attendance_statements"]] == [code[1]]
    assert data["attendance_statements"][0]["name_on_statement"] == "Dr M"
    leader_export = await harness.command(harness.people.leader, "privacy export",
                                          group.text_channel_id)
    assert "DMs" in answer_text(leader_export)
    (leader_file,) = harness.emu.dms(harness.people.leader)[-1].attachments
    assert json.loads(harness.emu.state.files[int(leader_file["id"])].data)[
        "attendance_corrections_made"] == 1
    asked = await harness.command(member, "privacy delete", group.text_channel_id)
    assert "no longer be able to get attendance statements" in answer_text(asked)
    assert asked.message is not None
    erased = await harness.emu.click(member, asked.message, button_id(asked.message,
                                                                      "Delete my data"))
    await erased.final()
    await harness.settle()
    again = await harness.command(member, "attendance statement", group.text_channel_id,
                                  name="Dr M")
    assert "no recorded attendance" in answer_text(again)
    stale = await harness.command(harness.people.leader, "attendance verify",
                                  group.text_channel_id, code=code[1])
    assert answer_text(stale).startswith("❌ No match")
    async with harness.bot.session_factory() as session:
        assert (await session.execute(select(AttendanceCorrection.user_id))).scalars().all() \
            != [member]
    text = answer_text(await leader_says(harness, group, "attendance meeting"))
    assert "80 min, present (corrected from 90 min: connection trouble)" not in text


async def test_leaders_see_only_their_own_group(harness: Harness) -> None:
    ours = await meeting_group(harness, members=1)
    await hold_meeting(harness, ours)
    other_leader = harness.people.members[4]
    created = await harness.command(harness.people.admin, "group create", name="Other group",
                                    leader=other_leader, timezone="Australia/Perth")
    assert "Created" in answer_text(created)
    seen = await harness.command(harness.people.leader, "attendance meeting", harness.lobby_id,
                                 group="Other group")
    assert "no active group called **Other group**" in answer_text(seen)
    theirs = await harness.command(other_leader, "attendance meeting", harness.lobby_id,
                                   group="Tuesday group")
    assert "no active group called **Tuesday group**" in answer_text(theirs)
    member = harness.people.members[0]
    named = await harness.command(member, "attendance meeting", ours.text_channel_id,
                                  group="Tuesday group")
    assert "Only the leaders" in answer_text(named)


async def test_retention_removes_statements_and_unlinks_corrections(harness: Harness) -> None:
    """Past the group's retention period, statements go and corrections name no one."""
    group = await meeting_group(harness, members=1)
    member = harness.people.members[0]
    await hold_meeting(harness, group)
    await leader_says(harness, group, "attendance correct", member=member, minutes=85,
                      reason="joined by phone")
    await harness.command(member, "attendance statement", group.text_channel_id, name="Dr M",
                          within=PDF_WAIT)
    async with harness.bot.session_factory() as session:
        assert len((await session.execute(select(AttendanceStatement))).all()) == 1
    await harness.clock.advance(timedelta(days=400))
    await harness.bot.privacy.apply_retention()
    async with harness.bot.session_factory() as session:
        assert (await session.execute(select(AttendanceStatement))).all() == []
        (correction,) = (await session.execute(select(AttendanceCorrection))).scalars().all()
    assert (correction.user_id, correction.corrected_by, correction.reason) == (
        RETIRED_PERSON, RETIRED_PERSON, "")
