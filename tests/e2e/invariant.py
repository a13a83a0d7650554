"""The silence invariant, checked from Discord's side (issue 10, point 1).

For every group of the test server:

- each connected member's real ability to speak (the emulator's voice rule: SPEAK as
  Discord evaluated it at the last join or move, not the overwrite list) and each
  member's ability to post in the group's chat is what the stored meeting position
  asks for;
- no overwrite the bot made outlives its reason (silence bits on Discord and open
  ledger rows only where the live meeting's position asks for them);
- every overwrite an admin set is intact (the bot's silence bits laid over it at most).

Every session and recovery test ends with `await assert_silence_invariant(harness)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import discord
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import queries
from bot.db.models import Case, Group, LeaderSpace, Meeting, MeetingStatus, OverwriteChange
from bot.domain.group_settings import GroupSettings
from bot.domain.phases import (
    Phase,
    PhaseTemplate,
    Position,
    SilenceKind,
    TemplateError,
    silences,
)
from bot.domain.rounds import round_silences
from tests.e2e.conftest import Harness
from tests.emulator.state import Overwrite

SPEAK = discord.Permissions(speak=True).value
SEND = discord.Permissions(send_messages=True).value
# The bits the bot denies to silence someone, by channel kind (bot/services/sessions.py).
VOICE_BITS = SPEAK
TEXT_BITS = discord.Permissions(
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    add_reactions=True,
).value
MEMBER_TARGET = 1


@dataclass
class _Wanted:
    """Silences of one group: those the position requires, and those it permits."""

    required: dict[tuple[int, int], int]
    permitted: dict[tuple[int, int], int]


async def assert_silence_invariant(harness: Harness) -> None:
    """Fail with every breach of the invariant found, after letting the bot settle."""
    if getattr(harness, "bot", None) is not None and harness.bot.ws is not None:
        await harness.settle()
    factory = async_sessionmaker(harness.engine, expire_on_commit=False)
    problems: list[str] = []
    required: dict[tuple[int, int], int] = {}
    permitted: dict[tuple[int, int], int] = {}
    live_rooms: set[int] = set()
    async with factory() as session:
        groups = (
            (await session.execute(select(Group).where(Group.server_id == harness.guild_id)))
            .scalars()
            .all()
        )
        for group in groups:
            wanted = await _wanted(harness, session, group, live_rooms)
            required.update(wanted.required)
            permitted.update(wanted.permitted)
        # The leaders' debrief spaces carry member overwrites by design (who may read).
        spaces = set((await session.execute(select(LeaderSpace.channel_id))).scalars().all())
        open_rows = [
            (row, status)
            for row, status in await session.execute(
                select(OverwriteChange, Meeting.status)
                .join(Meeting, Meeting.id == OverwriteChange.meeting_id)
                .where(OverwriteChange.restored_at.is_(None))
            )
        ]
    for row, status in open_rows:
        if status != MeetingStatus.LIVE:
            problems.append(
                f"ledger: change {row.id} ({row.reason}) on <#{row.channel_id}> for "
                f"{row.target_id} is still open though its meeting is {status.value}"
            )
    problems += _check_overwrites(harness, required, permitted, open_rows, spaces)
    problems += _check_abilities(harness, required, live_rooms)
    assert not problems, "silence invariant broken:\n- " + "\n- ".join(problems)


async def _wanted(
    harness: Harness, session: AsyncSession, group: Group, live_rooms: set[int]
) -> _Wanted:
    meeting = await queries.live_meeting(session, group.id)
    if meeting is None or meeting.current_phase is None:
        return _Wanted({}, {})
    room_id = meeting.voice_channel_id or 0
    live_rooms.add(room_id)
    try:
        template = PhaseTemplate.from_dict(GroupSettings.from_dict(group.settings).phase_template)
    except TemplateError:
        template = PhaseTemplate()
    position = Position(meeting.current_case_number, Phase(meeting.current_phase))
    presenter = (
        await session.execute(
            select(Case.presenter_id).where(
                Case.meeting_id == meeting.id, Case.case_number == position.case_number
            )
        )
    ).scalar_one_or_none()
    leaders = await queries.leader_ids(session, group.id)
    members = {m.user_id for m in await queries.active_memberships(session, group.id)}
    connected = {
        vs.user_id
        for vs in harness.emu.guild(harness.guild_id).voice_states.values()
        if vs.channel_id == room_id
    }
    presenter_set = {presenter} if presenter else set()
    # The stored check-in round says who may speak while it runs one voice at a time.
    turns, one_voice = await queries.round_turns(session, meeting.id)

    def bits(present: set[int]) -> dict[tuple[int, int], int]:
        found: dict[tuple[int, int], int] = {}
        for silence in silences(
            position,
            template,
            presenter_id=presenter,
            leader_ids=leaders,
            present_member_ids=present,
        ) | round_silences(
            position, turns, one_voice=one_voice, leader_ids=leaders, present_member_ids=present
        ):
            found[(room_id, silence.member_id)] = VOICE_BITS
            if silence.kind is SilenceKind.VOICE_AND_TEXT and group.text_channel_id:
                found[(group.text_channel_id, silence.member_id)] = TEXT_BITS
        return found

    # Required: those present now (and the presenter, whose silence waits for them).
    # Permitted: anyone of the group, since a member who left may keep theirs.
    return _Wanted(bits(connected | presenter_set), bits(members | connected | presenter_set))


def _check_overwrites(
    harness: Harness,
    required: dict[tuple[int, int], int],
    permitted: dict[tuple[int, int], int],
    open_rows: list[tuple[OverwriteChange, MeetingStatus]],
    spaces: set[int],
) -> list[str]:
    emu = harness.emu
    problems: list[str] = []
    ledger_silences = {
        (row.channel_id, row.target_id)
        for row, status in open_rows
        if row.reason.startswith("silence") and status == MeetingStatus.LIVE
    }
    room_changes = {
        (row.channel_id, row.target_id)
        for row, status in open_rows
        if not row.reason.startswith("silence") and status == MeetingStatus.LIVE
    }
    for channel in emu.channels(harness.guild_id):
        if channel.is_thread or channel.id in spaces:
            continue
        targets = {t for (c, t) in emu.admin_overwrites if c == channel.id}
        targets |= {t for (c, t) in required if c == channel.id}
        targets |= {t for t, o in channel.overwrites.items() if o.type == MEMBER_TARGET}
        targets.discard(emu.bot_id)
        for target in targets:
            key = (channel.id, target)
            if key in room_changes:
                continue
            held = channel.overwrites.get(target)
            admin = emu.admin_overwrites.get(key)
            if held is None and admin is None:
                if key in required:
                    problems.append(f"{target} must be silenced in <#{channel.id}> but is not")
                continue
            if admin is None and held is not None and held.type != MEMBER_TARGET:
                continue  # the bot's own setup of its channels, not a silence
            bot_bits = _bot_bits(admin, held)
            if bot_bits is None:
                problems.append(
                    f"the admin's overwrite for {target} in <#{channel.id}> was changed: "
                    f"{_show(admin)} became {_show(held)}"
                )
                continue
            if key in required and bot_bits != required[key]:
                problems.append(
                    f"{target} must be silenced in <#{channel.id}>: held {_show(held)}"
                )
            if bot_bits and bot_bits != permitted.get(key):
                problems.append(
                    f"a silence of {target} in <#{channel.id}> outlived its reason: "
                    f"held {_show(held)}, admin set {_show(admin)}"
                )
            if bool(bot_bits) != (key in ledger_silences):
                problems.append(
                    f"ledger and Discord disagree on the silence of {target} in "
                    f"<#{channel.id}>: Discord holds {_show(held)}, ledger open: "
                    f"{key in ledger_silences}"
                )
    return problems


def _bot_bits(admin: Overwrite | None, held: Overwrite | None) -> int | None:
    """The deny bits the bot laid over the admin's overwrite, or None if it is not that."""
    allow, deny = (admin.allow, admin.deny) if admin else (0, 0)
    held_allow, held_deny = (held.allow, held.deny) if held else (0, 0)
    added = held_deny & ~deny
    if held is None:
        return 0 if admin is None or (allow, deny) == (0, 0) else None
    if held_allow != allow & ~added or held_deny != deny | added:
        return None
    if added not in (0, VOICE_BITS, TEXT_BITS):
        return None
    return added


def _check_abilities(
    harness: Harness, required: dict[tuple[int, int], int], live_rooms: set[int]
) -> list[str]:
    emu = harness.emu
    guild = emu.guild(harness.guild_id)
    problems: list[str] = []
    for vs in guild.voice_states.values():
        if vs.user_id == emu.bot_id:
            continue
        silenced = (vs.channel_id, vs.user_id) in required and vs.channel_id in live_rooms
        allowed = bool(emu.permissions_for(vs.user_id, vs.channel_id) & SPEAK)
        expected = (
            not silenced and allowed and not guild.members[vs.user_id].mute and not vs.suppress
        )
        if emu.can_speak(vs.user_id) != expected:
            problems.append(
                f"{vs.user_id} in <#{vs.channel_id}> "
                + ("can speak but must be silent" if not expected else "cannot speak but should")
            )
    for (channel_id, user_id), bits in required.items():
        if bits == TEXT_BITS and emu.permissions_for(user_id, channel_id) & SEND:
            problems.append(f"{user_id} can post in <#{channel_id}> but must be silent")
    return problems


def _show(overwrite: Overwrite | None) -> str:
    return "nothing" if overwrite is None else f"allow={overwrite.allow} deny={overwrite.deny}"
