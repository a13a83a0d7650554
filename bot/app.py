"""Start-up: build every long-lived part once and inject it into the bot."""

from __future__ import annotations

import asyncio
import logging
import pkgutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import discord
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import cogs
from bot.clock import Clock, SystemClock
from bot.command_tree import CheckedCommandTree
from bot.config import Settings
from bot.db.engine import create_engine, create_session_factory, database_unavailable
from bot.db.queries import claim_interaction
from bot.logs import withhold_content_from_logs
from bot.ratelimit import REQUESTS_PER_SECOND, SlidingWindowLimiter, pace_requests
from bot.scheduler import JobScheduler
from bot.services.cases import CaseService
from bot.services.followups import FollowUpService
from bot.services.groups import GroupService
from bot.services.privacy import PrivacyService
from bot.services.rooms import RoomService
from bot.services.sessions import SessionService
from bot.services.silence import OverwriteLedger, SilenceKeeper

log = logging.getLogger(__name__)

# Seconds the claim may take, so the command still has time to answer within 3 s.
CLAIM_TIMEOUT = 1.0


def bot_intents() -> discord.Intents:
    """Only what the features use: no message content, no member list, no presence."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.voice_states = True
    intents.guild_scheduled_events = True
    return intents


def extension_names() -> list[str]:
    """Every module in cogs/, loaded as a discord.py extension."""
    return sorted(
        f"{cogs.__name__}.{module.name}" for module in pkgutil.iter_modules(cogs.__path__)
    )


@dataclass(frozen=True)
class Dependencies:
    """What the bot's services share, built once at start-up."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    clock: Clock
    jobs: JobScheduler


class BalintBot(commands.Bot):
    """The bot: slash commands only, with its dependencies injected."""

    def __init__(self, deps: Dependencies, **options: object) -> None:
        # The bot never joins voice itself (it manages permissions and moves
        # people), so discord.py's warnings about missing voice libraries are noise.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        # Before the first record: discord.py logs payloads at DEBUG.
        withhold_content_from_logs()
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=bot_intents(),
            help_command=None,
            chunk_guilds_at_startup=False,
            member_cache_flags=discord.MemberCacheFlags.from_intents(bot_intents()),
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CheckedCommandTree,
            **options,  # type: ignore[arg-type]
        )
        self.deps = deps
        self._act_once_on_interactions()
        pace_requests(self.http, SlidingWindowLimiter(REQUESTS_PER_SECOND))
        # Set once Discord has been reconciled with the database after connecting.
        self.reconciled = asyncio.Event()
        self.groups = GroupService(deps.session_factory, deps.clock)
        self.ledger = OverwriteLedger(self.http, deps.session_factory, deps.clock, self.get_channel)
        self.rooms = RoomService(self.http, deps.session_factory, deps.clock, self.ledger)
        self.cases = CaseService(deps.session_factory, deps.clock)
        self.silence = SilenceKeeper(self, deps.session_factory, self.ledger, self.rooms)
        self.sessions = SessionService(
            self, deps.session_factory, deps.clock, deps.jobs, self.silence, self.rooms
        )
        self.followups = FollowUpService(self, deps.session_factory, deps.clock, deps.jobs)
        self.privacy = PrivacyService(deps.session_factory, deps.clock, deps.jobs, self.followups)

    def _act_once_on_interactions(self) -> None:
        """Claim each interaction in the database before acting on it: two processes run
        by mistake with one token and one database both receive it, and only the first
        to claim it may answer; the other stays silent."""
        act = self._connection.parsers["INTERACTION_CREATE"]

        def parse_interaction_create(data: Any) -> None:
            task = asyncio.get_running_loop().create_task(self._act_if_claimed(act, data))
            self._claiming.add(task)
            task.add_done_callback(self._claiming.discard)

        self._claiming: set[asyncio.Task[None]] = set()
        self._connection.parsers["INTERACTION_CREATE"] = parse_interaction_create

    async def _act_if_claimed(self, act: Callable[[Any], None], data: Any) -> None:
        try:
            async with self.session_factory() as session:
                claimed = await asyncio.wait_for(
                    claim_interaction(session, int(data["id"]), self.clock.now()),
                    CLAIM_TIMEOUT,
                )
        except Exception as error:
            if not database_unavailable(error):
                raise
            # Without the database nobody can claim it; the command itself then answers
            # "try again in a moment" (or hands a follow-up back) within the deadline.
            claimed = True
        if claimed:
            act(data)
        else:
            log.info("interaction %s is being handled by another process", data["id"])

    @property
    def session_factory(self) -> async_sessionmaker[AsyncSession]:
        return self.deps.session_factory

    @property
    def clock(self) -> Clock:
        return self.deps.clock

    @property
    def jobs(self) -> JobScheduler:
        return self.deps.jobs

    async def setup_hook(self) -> None:
        for name in extension_names():
            await self.load_extension(name)
        await self._sync_commands()
        self.jobs.start()

    async def _sync_commands(self) -> None:
        guild_id = self.deps.settings.dev_guild_id
        if guild_id is None:
            synced = await self.tree.sync()
            log.info("synced %d application commands globally", len(synced))
            return
        guild = discord.Object(id=guild_id)
        self.tree.copy_global_to(guild=guild)
        synced = await self.tree.sync(guild=guild)
        log.info("synced %d application commands to the development server", len(synced))

    async def close(self) -> None:
        self.jobs.shutdown()
        await super().close()


def build_bot(settings: Settings, engine: AsyncEngine, clock: Clock | None = None) -> BalintBot:
    """The one place where the bot and its dependencies are put together."""
    clock = clock or SystemClock()
    deps = Dependencies(
        settings=settings,
        session_factory=create_session_factory(engine),
        clock=clock,
        jobs=JobScheduler(clock),
    )
    return BalintBot(deps)


async def run_bot(settings: Settings) -> None:
    """Run until the bot is closed or the process gets SIGTERM/SIGINT."""
    assert settings.discord_token is not None
    engine = create_engine(settings.database_url)
    try:
        bot = build_bot(settings, engine)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, lambda: asyncio.ensure_future(bot.close()))
        async with bot:
            await bot.start(settings.discord_token.get_secret_value())
    finally:
        await engine.dispose()
