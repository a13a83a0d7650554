"""The end-to-end harness: the real bot, on a fresh database, against the emulator.

`harness` starts the bot (discord.py's real HTTP and gateway code) with a manual
clock; `harness.people` are simulated Discord users. Helpers act the way a
person would (running slash commands, clicking buttons) and wait for the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Coroutine, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import BalintBot, build_bot
from bot.clock import ManualClock
from bot.config import SecretStr, Settings
from bot.db.models import Group
from tests.emulator.contract import Contract
from tests.emulator.control import Emulator
from tests.emulator.fixtures import configure_from_environment
from tests.emulator.interactions import InteractionResult
from tests.emulator.state import ChannelType, Message

# A Monday morning in Sydney (Sunday evening UTC), far from any DST change.
START = datetime(2026, 5, 10, 21, 0, tzinfo=UTC)
# A ceiling, not a target: on a loaded machine (2 cores shared by many test runs) a start-up
# that takes 1 s alone can take several; 5 s made set-ups fail under load.
STARTUP_LIMIT = 60.0

# The in-process bot whose work is being created: every task started while it is set
# (and every task those start, which inherit it) belongs to that bot, so `kill_bot`
# can end all of them as the death of its process would.
_RUNNING_FOR: contextvars.ContextVar[BalintBot | None] = contextvars.ContextVar(
    "running_for", default=None
)


class TaskOwners:
    """A task factory that files each new task under the bot it was created for."""

    def __init__(self) -> None:
        self.tasks: dict[int, set[asyncio.Task[Any]]] = {}

    def __call__(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Generator[Any, None, Any] | Coroutine[Any, Any, Any],
        **options: Any,
    ) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **options)
        context = options.get("context") or contextvars.copy_context()
        owner = context.get(_RUNNING_FOR)
        if owner is not None:
            owned = self.tasks.setdefault(id(owner), set())
            owned.add(task)
            task.add_done_callback(owned.discard)
        return task

    def of(self, bot: BalintBot) -> set[asyncio.Task[Any]]:
        return set(self.tasks.get(id(bot), ()))


@dataclass
class People:
    """The simulated people of the test server."""

    admin: int
    leader: int
    members: list[int]
    outsider: int
    everyone: list[int] = field(default_factory=list)


class Harness:
    """One emulated server with the bot running; helpers to act as its people."""

    def __init__(self, emu: Emulator, engine: AsyncEngine, clock: ManualClock,
                 owners: TaskOwners | None = None) -> None:
        self.emu = emu
        self.engine = engine
        self.clock = clock
        self.owners = owners or TaskOwners()
        self.bot: BalintBot
        self.guild_id = 0
        self.lobby_id = 0
        self.people: People
        self.work: BotWork

    async def setup_server(self, member_count: int = 5) -> None:
        admin = await self.emu.create_user("admin")
        guild = await self.emu.create_guild("Rural Balint Society", owner=admin.id)
        self.guild_id = guild.id
        lobby = await self.emu.create_channel(guild.id, "Lobby", ChannelType.VOICE)
        self.lobby_id = lobby.id
        users = [await self.emu.create_user(name) for name in
                 ["dr-leader", *[f"dr-{i}" for i in range(1, member_count + 1)], "outsider"]]
        for user in users:
            await self.emu.add_member(guild.id, user.id)
        self.people = People(admin=admin.id, leader=users[0].id,
                             members=[u.id for u in users[1:-1]], outsider=users[-1].id)

    def settings(self) -> Settings:
        """Settings from these arguments and the defaults (built directly, not `load`ed),
        never from a developer's .env file or shell: a DEV_GUILD_ID there would sync the
        commands to a server the emulator does not have, a HEARTBEAT_FILE would be written
        by every test's bot."""
        return Settings(discord_token=SecretStr(self.emu.token),
                        database_url="sqlite+aiosqlite:///unused-in-tests.db")

    async def start_bot(self) -> BalintBot:
        """A new bot process on the same database and emulator; ready when this returns."""
        bot = build_bot(self.settings(), self.engine, self.clock)
        self.work = BotWork(bot)
        loop = asyncio.get_running_loop()
        if loop.get_task_factory() is not self.owners:
            loop.set_task_factory(self.owners)
        running_for = _RUNNING_FOR.set(bot)
        try:
            await self.emu.start_client(bot, within=STARTUP_LIMIT)
        finally:
            _RUNNING_FOR.reset(running_for)
        await asyncio.wait_for(bot.reconciled.wait(), timeout=STARTUP_LIMIT)
        await bot.jobs.wait_idle()
        self.bot = bot
        return bot

    async def stop_bot(self, bot: BalintBot | None = None) -> None:
        await self.emu.stop_client(bot or self.bot)

    async def kill_bot(self, bot: BalintBot | None = None) -> None:
        """The process dies: everything it was running stops where it stands.

        Its timers, every task it started (event handlers, interactions, jobs, the
        gateway loop) are cancelled and awaited, so a transaction it had open is
        rolled back and its pooled database connections are dropped, as when the
        operating system ends a process. None of the bot's own clean-up runs.
        """
        bot = bot or self.bot
        bot.jobs.shutdown()
        self.emu._clients.pop(id(bot), None)
        while owned := self.owners.of(bot):
            for task in owned:
                task.cancel()
            await asyncio.gather(*owned, return_exceptions=True)
        with contextlib.suppress(Exception):
            if bot.ws is not None:
                await bot.ws.close(code=4000)
        with contextlib.suppress(Exception):
            await bot.http.close()
        await self.engine.dispose()

    async def settle(self, within: float = 30.0) -> None:
        """Wait until the bot has finished all it was doing: every gateway event dispatched so
        far parsed, its event handlers and interaction callbacks done, its REST calls
        answered and its jobs run. With latency and delayed events that is the only safe
        moment to look at Discord's state."""
        async with asyncio.timeout(within):
            quiet = 0
            while quiet < 2:
                await self.emu.settle(self.bot, within=within)
                await self.bot.jobs.wait_idle()
                busy = self.work.busy()
                if busy:
                    quiet = 0
                    await asyncio.wait(busy, timeout=0.05)
                elif self.work.in_flight:
                    quiet = 0
                    await asyncio.sleep(0.005)
                else:
                    quiet += 1
                    await asyncio.sleep(0)

    async def advance(self, delta: timedelta) -> None:
        await self.clock.advance(delta)
        await self.settle()

    # Acting as people ------------------------------------------------------------------

    async def command(self, user_id: int, command: str, channel_id: int | None = None,
                      *, within: float = 5.0, **options: Any) -> InteractionResult:
        """Run a slash command and wait up to `within` s for the complete answer."""
        result = await self.emu.run_command(user_id, self.guild_id, channel_id or
                                            self.default_channel(), command, **options)
        await result.final(within)
        await self.settle()
        return result

    def default_channel(self) -> int:
        return self.lobby_id

    async def create_group(self, name: str = "Tuesday group", timezone: str = "Australia/Sydney",
                           **options: Any) -> Group:
        result = await self.command(self.people.admin, "group create", name=name,
                                    leader=self.people.leader, timezone=timezone, **options)
        text = answer_text(result)
        assert "Created" in text, text
        async with self.bot.session_factory() as session:
            from sqlalchemy import select

            return (await session.execute(select(Group).where(Group.name == name))).scalar_one()

    async def add_and_accept(self, group: Group, user_id: int, role: str = "member") -> None:
        """A leader invites someone and they click Accept on the agreement DM."""
        result = await self.command(self.people.leader, "group add", group.text_channel_id,
                                    member=user_id, role=role)
        assert "Invited" in answer_text(result), answer_text(result)
        dm = self.latest_dm_with_buttons(user_id)
        accept = await self.emu.click(user_id, dm, button_id(dm, "Accept"))
        await self.settle()
        assert "Welcome" in answer_text(accept), answer_text(accept)

    def latest_dm_with_buttons(self, user_id: int) -> Message:
        return [m for m in self.emu.dms(user_id) if m.components][-1]


# Tasks discord.py starts for the bot's work: event handlers, app commands, views, modals.
_WORK_TASKS = ("discord.py: ", "CommandTree-invoker", "discord-ui-view-dispatch-",
               "discord-ui-modal-dispatch-", "discord-ui-dynamic-item-")


class BotWork:
    """What a bot is still doing: REST requests on the wire and handler tasks running.

    Counts at the HTTP client's `request`, the one door every REST call goes through,
    so a request waiting for a rate-limit bucket counts as work in progress too."""

    def __init__(self, bot: BalintBot) -> None:
        self.bot = bot
        self.in_flight = 0
        request = bot.http.request

        async def counted(route: Any, **kwargs: Any) -> Any:
            self.in_flight += 1
            try:
                return await request(route, **kwargs)
            finally:
                self.in_flight -= 1

        setattr(bot.http, "request", counted)  # noqa: B010 - instance attribute, by design

    def busy(self) -> set[asyncio.Task[Any]]:
        """Handler tasks not yet done (the caller's own task excluded), and discord.py's
        wait for GUILD_CREATEs after a READY, which ends in on_ready (the bot reconciles)."""
        current = asyncio.current_task()
        tasks = {task for task in asyncio.all_tasks()
                 if task is not current and not task.done()
                 and task.get_name().startswith(_WORK_TASKS)}
        ready: asyncio.Task[Any] | None = getattr(self.bot._connection, "_ready_task", None)
        if ready is not None and not ready.done():
            tasks.add(ready)
        return tasks


def answer_text(result: InteractionResult) -> str:
    """Everything the bot answered: the response, its edits, follow-ups and embeds."""
    parts: list[str] = []
    for message in ([result.message] if result.message else []) + result.followups:
        parts.append(message.content or "")
        for embed in message.embeds:
            parts += [embed.get("title", ""), embed.get("description", "")]
            parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(p for p in parts if p)


def button_id(message: Message, label: str) -> str:
    for row in message.components:
        for component in row.get("components", []):
            if component.get("label", "").endswith(label) or component.get("label") == label:
                return str(component["custom_id"])
    raise AssertionError(f"no button {label!r} on the message")


@pytest.fixture
def clock() -> ManualClock:
    """The test's clock: the bot's and Discord's "now"."""
    return ManualClock(START)


@pytest.fixture
async def emulator(clock: ManualClock) -> AsyncIterator[Emulator]:
    """The emulator on the test's clock from its first id on: Discord's "now" (snowflakes,
    message timestamps, timeouts, "event starts in the past") follows the test's clock, as
    it would follow the real one."""
    async with Emulator(now=clock.now) as emu:
        configure_from_environment(emu)
        yield emu


@pytest.fixture
async def harness(emulator: Emulator, engine: AsyncEngine,
                  clock: ManualClock) -> AsyncIterator[Harness]:
    """The running bot in a server with an admin, a leader, five members and an outsider."""
    # Every body the bot sends and every JSON answer is checked against Discord's spec.
    contract = emulator.server.contract = Contract()
    harness = Harness(emulator, engine, clock)
    await harness.setup_server()
    await harness.start_bot()
    yield harness
    with contextlib.suppress(Exception):
        await harness.stop_bot()
    assert not contract.violations, "traffic that breaks Discord's OpenAPI spec:\n" + "\n".join(
        dict.fromkeys(str(v) for v in contract.violations))


async def meeting_group(harness: Harness, *, members: int = 4, name: str = "Tuesday group",
                        in_voice: bool = True) -> Group:
    """A group with `members` accepted members and its leader, all in its room if asked."""
    group = await harness.create_group(name=name)
    for user_id in harness.people.members[:members]:
        await harness.add_and_accept(group, user_id)
    if in_voice:
        for user_id in [harness.people.leader, *harness.people.members[:members]]:
            await harness.emu.join_voice(user_id, group.voice_channel_id or 0)
    return group


async def leader_says(harness: Harness, group: Group, command: str,
                      **options: Any) -> InteractionResult:
    """The leader runs a command in the group's own text channel."""
    return await harness.command(harness.people.leader, command, group.text_channel_id,
                                 **options)


async def to_discussion(harness: Harness, group: Group, presenter: int) -> None:
    """Start the meeting, choose the presenter of case 1 and push them back."""
    started = await leader_says(harness, group, "session start")
    assert "has started" in answer_text(started), answer_text(started)
    chosen = await leader_says(harness, group, "case present", member=presenter,
                               label="the farmer who would not rest")
    assert "presents case 1" in answer_text(chosen), answer_text(chosen)
    moved = await leader_says(harness, group, "phase set", phase="discussion")
    assert "Discussion" in answer_text(moved), answer_text(moved)


async def present_case(harness: Harness, group: Group, presenter: int,
                       label: str = "the farmer who would not rest") -> Any:
    """A whole meeting in which `presenter` presents one case; returns the stored Case."""
    from sqlalchemy import select

    from bot.db.models import Case

    started = await leader_says(harness, group, "session start")
    assert "has started" in answer_text(started), answer_text(started)
    chosen = await leader_says(harness, group, "case present", member=presenter, label=label)
    assert "presents case" in answer_text(chosen), answer_text(chosen)
    ended = await leader_says(harness, group, "session end")
    assert "summary" in answer_text(ended), answer_text(ended)
    async with harness.bot.session_factory() as session:
        return (await session.execute(
            select(Case).where(Case.label == label).order_by(Case.id.desc())
        )).scalars().first()


@contextlib.contextmanager
def statements_run(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement sent to the database meanwhile, with the values bound to it."""
    run: list[tuple[str, Any]] = []

    def capture(*args: Any) -> None:
        _connection, _cursor, statement, parameters, _context, _many = args
        run.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield run
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
