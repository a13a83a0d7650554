"""Every synced command and option, with values a hostile or careless member could send.

Generated from what the bot synced, so a new command or option is covered without
touching this file. Each answer must come in time, privately, under Discord's 2,000
characters and not as the generic "something went wrong"; a value the bot refuses
must leave the database as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import MetaData, select

from bot import messages
from bot.db.models import Base
from tests.e2e.conftest import Harness, answer_text, meeting_group
from tests.emulator.interactions import InteractionFailed
from tests.emulator.state import Message

_STRING, _INTEGER, _NUMBER = 3, 4, 10
_USER, _CHANNEL, _ROLE, _MENTIONABLE = 6, 7, 8, 9
_BOOLEAN = 5

# Refused by every command before it runs.
ALWAYS_REFUSED_TEXT = [
    "nul\x00byte",
    "line\nbreak",
    "\u202eevil label",
    "\u200b\u200b\u2060",
    "x" * 6000,
]
# Plausible-looking but wrong: each command must answer clearly, whatever it decides.
AWKWARD_TEXT = [
    "localtime",
    "9999-12-31",
    "0001-01-01",
    "9" * 30,
    "-9007199254740992",
    "`" * 80 + "@everyone",
    "Tuesday, " * 20,
    "Australia/" + "A" * 5000,
]
HOSTILE_NUMBERS = [2**53, -(2**53), 2**31, -(2**31) - 1, 0, -1]


def leaf_commands(command: dict[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """('group phases', [options…]) for every subcommand of a synced command."""
    options: list[dict[str, Any]] = command.get("options") or []
    subs = [o for o in options if o["type"] in (1, 2)]
    if not subs:
        yield command["name"], options
        return
    for sub in subs:
        for path, leaf_options in leaf_commands(sub):
            yield f"{command['name']} {path}", leaf_options


def ordinary_value(harness: Harness, option: dict[str, Any], group_channel: int) -> Any:
    kind = option["type"]
    if option.get("choices"):
        return option["choices"][0]["value"]
    if kind == _STRING:
        return "1"
    if kind in (_INTEGER, _NUMBER):
        return option.get("min_value", 1)
    if kind in (_USER, _MENTIONABLE):
        return harness.people.members[0]
    if kind == _CHANNEL:
        return group_channel
    if kind == _BOOLEAN:
        return False
    raise AssertionError(f"no ordinary value for option type {kind}")


def hostile_values(option: dict[str, Any]) -> list[tuple[Any, bool]]:
    """(value, must be refused) pairs a Discord client can send for `option`."""
    if option.get("choices"):
        return []
    if option["type"] == _STRING:
        longest = option.get("max_length", 6000)
        values = [(v, True) for v in ALWAYS_REFUSED_TEXT] + [(v, False) for v in AWKWARD_TEXT]
        return [
            (v[:longest] if len(v) > longest else v, refused)
            for v, refused in values
            if len(v) <= longest or not refused
        ]
    if option["type"] in (_INTEGER, _NUMBER):
        low, high = option.get("min_value"), option.get("max_value")
        return [
            (v, abs(v) > 2**31 - 1 and v != -(2**31))
            for v in HOSTILE_NUMBERS
            if (low is None or v >= low) and (high is None or v <= high)
        ]
    return []


async def database_rows(harness: Harness) -> dict[str, list[tuple[Any, ...]]]:
    metadata: MetaData = Base.metadata
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with harness.bot.session_factory() as session:
        for table in metadata.sorted_tables:
            if table.name == "claimed_interactions":
                continue  # every interaction is claimed, refused or not: not a change of data
            result = await session.execute(select(table))
            rows[table.name] = sorted(map(tuple, result.all()), key=repr)
    return rows


async def test_every_option_of_every_command_survives_hostile_values(harness: Harness) -> None:
    group = await meeting_group(harness, members=2)
    channel = group.text_channel_id or 0
    synced = [c.data for c in harness.emu.state.commands.values() if c.type == 1]
    tree_names = {c.name for c in harness.bot.tree.get_commands()}
    assert {c["name"] for c in synced} == tree_names
    problems: list[str] = []
    tried = 0
    for command in synced:
        for path, options in leaf_commands(command):
            for option in options:
                for value, must_refuse in hostile_values(option):
                    given = {
                        o["name"]: ordinary_value(harness, o, channel)
                        for o in options
                        if o.get("required") and o["name"] != option["name"]
                    }
                    given[option["name"]] = value
                    before = await database_rows(harness) if must_refuse else None
                    tried += 1
                    shown = f"/{path} {option['name']}={str(value)[:20]!r}"
                    try:
                        result = await harness.emu.run_command(
                            harness.people.leader,
                            harness.guild_id,
                            channel,
                            path,
                            options=given,
                        )
                        await result.final()
                    except InteractionFailed:
                        problems.append(f"{shown}: no answer within the deadline")
                        continue
                    await harness.settle()
                    if result.modal is not None and not must_refuse:
                        continue
                    text = answer_text(result)
                    if not result.ephemeral:
                        problems.append(f"{shown}: answered publicly")
                    if any(
                        len(m.content or "") >= 2000
                        for m in [result.message, *result.followups]
                        if m is not None
                    ):
                        problems.append(f"{shown}: answer over 2,000 characters")
                    if messages.SOMETHING_WENT_WRONG in text:
                        problems.append(f"{shown}: generic error")
                    if isinstance(value, str) and len(value) > 60 and value[:61] in text:
                        problems.append(f"{shown}: echoed more than a short excerpt")
                    if must_refuse and before != await database_rows(harness):
                        problems.append(f"{shown}: refused input changed the database")
    assert tried > 100
    assert problems == []


def forged_dm(harness: Harness, user_id: int, custom_id: str) -> Message:
    """A message in the person's DMs carrying a button the bot never put there."""
    dm = next(iter(harness.emu.dms(user_id)))
    message = Message(
        id=harness.emu.state.new_id(),
        channel_id=dm.channel_id,
        author_id=dm.author_id,
        content="forged",
        components=[
            {
                "type": 1,
                "components": [{"type": 2, "style": 1, "label": "Go", "custom_id": custom_id}],
            }
        ],
    )
    harness.emu.state.add_message(message)
    return message


async def test_commands_and_forged_buttons_in_dms_get_a_clear_answer(harness: Harness) -> None:
    group = await meeting_group(harness, members=2)
    member = harness.people.members[0]
    dm_commands = [
        c.data
        for c in harness.emu.state.commands.values()
        if c.type == 1
        and c.guild_id is None
        and c.data.get("dm_permission") is not False
        and 1 in (c.data.get("contexts") or [1])
    ]
    problems: list[str] = []
    for command in dm_commands:
        for path, options in leaf_commands(command):
            entities = (_USER, _CHANNEL, _ROLE, _MENTIONABLE)
            if any(o.get("required") and o["type"] in entities for o in options):
                continue  # a DM offers no server members or channels to pick
            given = {o["name"]: ordinary_value(harness, o, 0) for o in options if o.get("required")}
            result = await harness.emu.run_command(
                member, None, None, path, options=given, check=False
            )
            with contextlib.suppress(TimeoutError):
                await result.final()
            text = answer_text(result)
            if result.missed_deadline or (not text and result.modal is None):
                problems.append(f"/{path} in a DM: no answer")
            elif messages.SOMETHING_WENT_WRONG in text:
                problems.append(f"/{path} in a DM: generic error")
    forged_ids = [
        f"panel:{group.id}:next",
        "panel:99999999999999999999999:end",
        f"privacy:erase:{harness.people.leader}",
        "followup:write:99999999999999999999",
        "rsvp:99999999999999999999:attending",
        "agreement:99999999999999999999:accept",
    ]
    for custom_id in forged_ids:
        forged = forged_dm(harness, member, custom_id)
        clicked = await harness.emu.click(member, forged, custom_id, check=False)
        with contextlib.suppress(TimeoutError):
            await clicked.final()
        text = answer_text(clicked)
        if clicked.missed_deadline or not text:
            problems.append(f"{custom_id} in a DM: no answer")
        elif messages.SOMETHING_WENT_WRONG in text:
            problems.append(f"{custom_id} in a DM: generic error")
    assert problems == []
