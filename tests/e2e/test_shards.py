"""The bot as several processes: two processes holding two shards each (of four), on one
database, against an emulator that routes every guild to its shard as Discord does.

Each process is a real OS process on the test's clock (`BALINT_TEST_CLOCK_AT`); the
test moves the emulator's and both processes' time together. Every request is
tagged with the process that made it (User-Agent), so the test sees who did what.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import ShardedBalintBot
from bot.config import Settings
from bot.db.models import Group
from bot.domain.shards import Shards, shard_of
from tests.e2e.conftest import Harness, People, answer_text
from tests.e2e.processes import BotProcess, launch_bot_process
from tests.e2e.test_schedule import FIRST_TUESDAY, schedule
from tests.emulator.state import ChannelType

SHARD_COUNT = 4
PROCESSES = {"low": (0, 1), "high": (2, 3)}
WEEK = timedelta(days=7)
REMINDER = "Will you be there"
WARNING_CUE, END_CUE = "Two minutes left", "is up"
PROMPT_BUTTON = "followup:write:"
# Leaders of different servers acting in the same moment (a burst, not a stampede).
CONCURRENT_COMMANDS = 6

# Two processes sharing one SQLite file would only queue on its single writer; the
# set-up that runs several is PostgreSQL (docker-compose.yml).
pytestmark: list[pytest.MarkDecorator] = []


@pytest.fixture
def postgresql_only(engine: AsyncEngine) -> None:
    if engine.url.get_backend_name() != "postgresql":
        pytest.skip("several bot processes share one PostgreSQL database, not a SQLite file")


@dataclass
class Society:
    """One server with one group: its leader and the member who presents."""

    guild_id: int
    leader: int
    member: int
    group: Group

    @property
    def process(self) -> str:
        """The name of the process whose shards hold this server."""
        return next(name for name, ids in PROCESSES.items()
                    if Shards(SHARD_COUNT, ids).owns(self.guild_id))


async def found(harness: Harness, n: int) -> Society:
    """A server on shard n % 4 with a scheduled weekly group, set up by the in-process bot."""
    emu = harness.emu
    admin, leader, member = [await emu.create_user(f"{role}-{n}")
                             for role in ("admin", "leader", "member")]
    guild = await emu.create_guild(f"Society {n}", owner=admin.id,
                                   shard=(n % SHARD_COUNT, SHARD_COUNT))
    lobby = await emu.create_channel(guild.id, "Lobby", ChannelType.VOICE)
    for user in (leader, member):
        await emu.add_member(guild.id, user.id)
    harness.guild_id, harness.lobby_id = guild.id, lobby.id
    harness.people = People(admin=admin.id, leader=leader.id, members=[member.id], outsider=0)
    group = await harness.create_group(name=f"Group {n}")
    await harness.add_and_accept(group, member.id)
    await schedule(harness, group)
    return Society(guild.id, leader.id, member.id, group)


class ShardedBot:
    """The societies, and the bot running as two processes of two shards each."""

    def __init__(self, harness: Harness, workdir: Path, societies: list[Society]) -> None:
        self.harness = harness
        self.emu = harness.emu
        self.workdir = workdir
        self.societies = societies
        self.processes: dict[str, BotProcess] = {}
        self.starts = 0

    async def start(self, name: str, shards: tuple[int, ...] | None = None) -> None:
        """Start (or start again) one process at the test's time, holding its shards of
        PROCESSES unless told others; returns once it is IDLE."""
        self.starts += 1
        self.processes[name] = await launch_bot_process(
            self.emu, self.harness.engine, self.workdir / f"{name}-{self.starts}.log", {
                "SHARD_COUNT": str(SHARD_COUNT),
                "SHARD_IDS": ",".join(map(str, shards or PROCESSES[name])),
                "BALINT_TEST_CLOCK_AT": self.harness.clock.now().isoformat(),
                "BALINT_TEST_NAME": f"process/{name}",
            },
        )

    async def stop(self) -> None:
        for process in self.processes.values():
            await process.stop()

    async def move_to(self, when: datetime) -> None:
        """Discord's and every running process's clock to `when`; returns once their due
        work is done."""
        await self.harness.clock.set(when)
        await asyncio.gather(*(p.move_clock(when) for p in self.processes.values()
                               if p.process.returncode is None))

    async def everyone_says(self, command: str, *, expect: str, **options: str) -> None:
        """Each leader runs the command in their group's channel, several at once; with
        `presenter` the group's member is named."""
        at_once = asyncio.Semaphore(CONCURRENT_COMMANDS)

        async def say(society: Society) -> None:
            named: dict[str, Any] = {
                k: society.member if v == "presenter" else v for k, v in options.items()
            }
            async with at_once:
                result = await self.emu.run_command(
                    society.leader, society.guild_id, society.group.text_channel_id, command,
                    within=10.0, **named)
                await result.final(10.0)
            assert expect in answer_text(result), answer_text(result)

        await asyncio.gather(*(say(s) for s in self.societies))
        await self.move_to(self.harness.clock.now())  # waits for what the commands set off

    def posts(self, society: Society, text: str) -> list[str]:
        channel = society.group.text_channel_id or 0
        return [m.content for m in self.emu.messages(channel) if text in m.content]

    def prompts(self, society: Society) -> int:
        return len([m for m in self.emu.dms(society.member)
                    if any(c.startswith(PROMPT_BUTTON) for c in m.custom_ids())])

    def who_acted_for(self) -> dict[int, set[str]]:
        """For each server, the processes that sent a request about it (its channels, its
        guild routes, its interactions, and the DMs to its people)."""
        by_channel = {}
        for society in self.societies:
            by_channel[society.guild_id] = society.guild_id
            for channel in self.emu.channels(society.guild_id):
                by_channel[channel.id] = society.guild_id
            for user_id in (society.leader, society.member):
                dm = self.emu.state.dm_channel(user_id)
                if dm is not None:
                    by_channel[dm.id] = society.guild_id
        interactions = {r.id: r.guild_id for r in self.emu.interactions}
        acted: dict[int, set[str]] = {}
        for record in self.emu.request_log:
            name = re.search(r"process/(\w+)", record.user_agent)
            if name is None:
                continue  # the in-process bot that set the societies up
            ids = [int(i) for i in re.findall(r"/(\d+)(?=/|$)", record.path)]
            guild = next((by_channel[i] for i in ids if i in by_channel), None)
            if guild is None and ids and record.path.startswith("/interactions/"):
                guild = interactions.get(ids[0])
            if guild is not None:
                acted.setdefault(guild, set()).add(name.group(1))
        return acted


@pytest.fixture
async def sharded(harness: Harness, tmp_path: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """`request.param` servers set up, then the bot handed over to the two processes."""
    societies = [await found(harness, n) for n in range(request.param)]
    await harness.stop_bot()
    bot = ShardedBot(harness, tmp_path, societies)
    try:
        await asyncio.gather(*(bot.start(name) for name in PROCESSES))
        yield bot
    finally:
        await bot.stop()


@pytest.mark.parametrize("sharded", [40], indirect=True)
async def test_two_processes_of_two_shards_run_a_day_of_meetings_each_thing_once(
    sharded: ShardedBot,
) -> None:
    bot = sharded
    assert {s.process for s in bot.societies} == set(PROCESSES)
    # The reminders, a day and a quarter of an hour before.
    await bot.move_to(FIRST_TUESDAY - timedelta(hours=24) + timedelta(minutes=1))
    assert [len(bot.posts(s, REMINDER)) for s in bot.societies] == [1] * len(bot.societies)
    await bot.move_to(FIRST_TUESDAY - timedelta(minutes=14))
    assert [len(bot.posts(s, REMINDER)) for s in bot.societies] == [2] * len(bot.societies)

    # The meetings: everyone in the room, a case, the phases' cues, the end.
    await bot.move_to(FIRST_TUESDAY)
    for society in bot.societies:
        for user_id in (society.leader, society.member):
            await bot.emu.join_voice(user_id, society.group.voice_channel_id or 0)
    await bot.everyone_says("session start", expect="has started")
    await bot.everyone_says("case present", expect="presents case", member="presenter",
                            label="a long night")
    await bot.move_to(FIRST_TUESDAY + timedelta(hours=1))
    for society in bot.societies:
        assert len(bot.posts(society, WARNING_CUE)) == 1
        assert len(bot.posts(society, END_CUE)) == 1
    await bot.everyone_says("session end", expect="summary")

    # The follow-up prompt, three days before the next meeting.
    await bot.move_to(FIRST_TUESDAY + WEEK - timedelta(days=3, minutes=-1))
    assert [bot.prompts(s) for s in bot.societies] == [1] * len(bot.societies)
    await bot.move_to(FIRST_TUESDAY + WEEK - timedelta(hours=23))
    assert [bot.prompts(s) for s in bot.societies] == [1] * len(bot.societies)
    assert [len(bot.posts(s, REMINDER)) for s in bot.societies] == [3] * len(bot.societies)

    # Every interaction answered once, by the process holding its server's shard; and
    # nothing about a server was done by the other process.
    assert not bot.emu.missed_deadlines
    callbacks = [r for r in bot.emu.requests("POST") if r.path.endswith("/callback")
                 and "process/" in r.user_agent]
    assert len(callbacks) == len({r.path for r in callbacks}) == 3 * len(bot.societies)
    acted = bot.who_acted_for()
    assert {s.guild_id: acted.get(s.guild_id) for s in bot.societies} == {
        s.guild_id: {s.process} for s in bot.societies
    }


@pytest.mark.parametrize("sharded", [8], indirect=True)
async def test_a_killed_process_does_its_servers_overdue_work_once_when_it_returns(
    sharded: ShardedBot,
) -> None:
    bot = sharded
    high = [s for s in bot.societies if s.process == "high"]
    low = [s for s in bot.societies if s.process == "low"]
    await bot.processes["high"].kill()

    await bot.move_to(FIRST_TUESDAY - timedelta(hours=23))
    assert [len(bot.posts(s, REMINDER)) for s in low] == [1] * len(low)
    assert [len(bot.posts(s, REMINDER)) for s in high] == [0] * len(high)

    await bot.start("high")  # at start-up it finds its servers' reminders overdue
    await bot.move_to(FIRST_TUESDAY - timedelta(hours=22))
    assert [len(bot.posts(s, REMINDER)) for s in bot.societies] == [1] * len(bot.societies)
    acted = bot.who_acted_for()
    assert {s.guild_id: acted.get(s.guild_id) for s in bot.societies} == {
        s.guild_id: {s.process} for s in bot.societies
    }


@pytest.mark.parametrize("sharded", [8], indirect=True)
async def test_a_process_started_by_mistake_on_the_same_shards_changes_nothing(
    sharded: ShardedBot,
) -> None:
    """A third process holding every shard (a deployment mistake): Discord sends it every
    server too, and it rebuilds every server's jobs, yet the claims keep each reminder and
    each command to one."""
    bot = sharded
    await bot.start("stray", tuple(range(SHARD_COUNT)))
    await bot.move_to(FIRST_TUESDAY - timedelta(hours=23))
    assert [len(bot.posts(s, REMINDER)) for s in bot.societies] == [1] * len(bot.societies)
    await bot.everyone_says("schedule show", expect="Every week on Tuesday at 19:30")
    # A command that only reads is claimed by its answer: both processes answer it, and
    # Discord accepts one answer per interaction.
    answers = [r for r in bot.emu.requests("POST") if r.path.endswith("/callback")
               and "process/" in r.user_agent and 200 <= r.status < 300]
    assert len(answers) == len({r.path for r in answers}) == len(bot.societies)


async def test_a_shard_that_identifies_anew_is_reconciled(harness: Harness) -> None:
    """One process holding both shards of two: when Discord ends one shard's session
    (op 9, not resumable), that shard identifies anew and the bot reconciles again, as
    an unsharded bot does after its new READY."""
    token, url = harness.settings().discord_token, harness.settings().database_url
    harness.settings = lambda: Settings(  # type: ignore[method-assign]
        discord_token=token, database_url=url, shard_count=2)
    await harness.stop_bot()
    bot = await harness.start_bot()
    assert isinstance(bot, ShardedBalintBot)
    assert sorted(bot.shards) == [0, 1]
    identifies = harness.emu.gateway.identifies
    bot.reconciled.clear()
    await harness.emu.invalidate_session(shard_id=shard_of(harness.guild_id, 2))
    await asyncio.wait_for(bot.reconciled.wait(), 20)  # discord.py waits 5 s to identify
    assert harness.emu.gateway.identifies == identifies + 1
