"""Start-up: build every long-lived part once and inject it into the bot."""

from __future__ import annotations

import asyncio
import logging
import pkgutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import discord
from discord.ext import commands
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import cogs
from bot.clock import Clock, SystemClock
from bot.command_tree import CheckedCommandTree
from bot.config import Settings
from bot.db.engine import create_engine, create_session_factory, database_unavailable
from bot.db.queries import CLAIMS_PRUNED_EVERY, claim_interactions
from bot.health import Heartbeat
from bot.logs import withhold_content_from_logs
from bot.ratelimit import limiter_for, pace_requests
from bot.replies import HANDLED_ELSEWHERE
from bot.scheduler import JobScheduler
from bot.services.attendance import AttendanceService
from bot.services.cases import CaseService
from bot.services.followups import FollowUpService
from bot.services.frame import FrameService
from bot.services.groups import GroupService
from bot.services.privacy import PrivacyService
from bot.services.rooms import RoomService
from bot.services.rounds import RoundService
from bot.services.sessions import SessionService
from bot.services.silence import OverwriteLedger, SilenceKeeper

log = logging.getLogger(__name__)

# Seconds the claim may take, so the command still has time to answer within 3 s.
CLAIM_TIMEOUT = 1.0
# Interactions claimed by their acknowledgement, which Discord accepts once: the phase
# changes (`/phase next|back|set`, the session panel's buttons) acknowledge before
# anything else (bot/replies.py: `defer_first`); the process Discord refuses (40060)
# stays silent. The commands that only read are claimed by their answer the same way:
# they write nothing, so the process refused has changed nothing, and the claim's
# transaction would be most of their time. (A stray process does send its refused
# acknowledgement: other interactions keep the database claim, so a stray process makes
# no request for them at all.)
_APPLICATION_COMMAND, _COMPONENT = 2, 3
_SUBCOMMAND_TYPES = (1, 2)
_CLAIMED_BY_ACKNOWLEDGEMENT = frozenset({
    "phase next", "phase back", "phase set",
    # Read-only: the answer is their only effect.
    "group info", "group agreement", "schedule show", "schedule rsvps", "case list", "help",
})
# Every button of the session panel (cogs/sessions.py: `PanelButton`) defers first.
_PANEL_BUTTONS = "panel:"


def acknowledged_first(data: Any) -> bool:
    """Whether an INTERACTION_CREATE is claimed by its acknowledgement (see above) and
    acts without a claim in the database, which would stand between the leader and the
    silence, or between a reader and the answer."""
    body = data.get("data") or {}
    if data.get("type") == _APPLICATION_COMMAND:
        names = [str(body.get("name"))]
        options = body.get("options") or []
        while options and options[0].get("type") in _SUBCOMMAND_TYPES:
            names.append(str(options[0].get("name")))
            options = options[0].get("options") or []
        return " ".join(names) in _CLAIMED_BY_ACKNOWLEDGEMENT
    if data.get("type") == _COMPONENT:
        return str(body.get("custom_id", "")).startswith(_PANEL_BUTTONS)
    return False


def bot_intents() -> discord.Intents:
    """Only what the features use: no message content, no member list, no presence."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.voice_states = True
    intents.guild_scheduled_events = True
    return intents


def extension_names() -> list[str]:
    """Every module in cogs/, loaded as a discord.py extension, but the private ones ("_…")."""
    return sorted(
        f"{cogs.__name__}.{module.name}"
        for module in pkgutil.iter_modules(cogs.__path__)
        if not module.name.startswith("_")
    )


@dataclass(frozen=True)
class Dependencies:
    """What the bot's services share, built once at start-up."""

    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    clock: Clock
    jobs: JobScheduler


class InteractionClaims:
    """Claims that arrive together share one transaction (a group commit): 500 clicks
    in the same second are a few INSERTs on the way to their answers, not 500 commits
    each queued behind the last while the 3 s deadline runs."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._pending: dict[int, asyncio.Future[bool]] = {}
        self._writer: asyncio.Task[None] | None = None
        self._pruned_at: datetime | None = None

    async def claim(self, interaction_id: int) -> bool:
        """True if this process is the first to take the interaction on."""
        if interaction_id in self._pending:
            return False  # delivered twice while the first delivery is being claimed
        claimed = asyncio.get_running_loop().create_future()
        self._pending[interaction_id] = claimed
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return await asyncio.shield(claimed)

    async def _write(self) -> None:
        """Claim whatever is waiting, in one transaction, until nothing is."""
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                now = self._clock.now()
                prune = self._pruned_at is None or now - self._pruned_at >= CLAIMS_PRUNED_EVERY
                try:
                    async with self._session_factory() as session:
                        taken = await claim_interactions(session, list(batch), now, prune=prune)
                except Exception as error:
                    for future in batch.values():
                        if not future.done():
                            future.set_exception(error)
                            future.exception()  # a waiter that gave up need not read it
                    continue
                if prune:
                    self._pruned_at = now
                for interaction_id, future in batch.items():
                    if not future.done():
                        future.set_result(interaction_id in taken)
        finally:
            self._writer = None


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
        self.pace = pace_requests(self.http, limiter_for(deps.settings.shards().share))
        # Set once Discord has been reconciled with the database after connecting.
        self.reconciled = asyncio.Event()
        # Servers not sent by `ready` or taken away by an outage since: the work that
        # follows `ready` could not see them, so each is announced when back (`server_back`).
        self.servers_away: set[int] = set()
        self.groups = GroupService(deps.session_factory, deps.clock)
        self.ledger = OverwriteLedger(self.http, deps.session_factory, deps.clock, self.get_channel)
        self.rooms = RoomService(self.http, deps.session_factory, deps.clock, self.ledger)
        self.cases = CaseService(deps.session_factory, deps.clock)
        self.silence = SilenceKeeper(
            self, deps.session_factory, self.ledger, self.rooms, self.pace
        )
        self.sessions = SessionService(
            self, deps.session_factory, deps.clock, deps.jobs, self.silence, self.rooms
        )
        self.followups = FollowUpService(self, deps.session_factory, deps.clock, deps.jobs)
        self.attendance = AttendanceService(deps.session_factory, deps.clock)
        self.frame = FrameService(self, deps.session_factory, deps.clock, deps.jobs, self.sessions)
        self.rounds = RoundService(self, deps.session_factory, deps.clock, deps.jobs, self.sessions)
        self.privacy = PrivacyService(
            deps.session_factory, deps.clock, deps.jobs, self.followups, self.frame
        )
        self.heartbeat: Heartbeat | None = None
        if deps.settings.heartbeat_file is not None:
            self._keep_heartbeat(Heartbeat(deps.settings.heartbeat_file, deps.clock))

    async def on_ready(self) -> None:
        self.servers_away.update(guild.id for guild in self.guilds if guild.unavailable)

    async def on_guild_unavailable(self, guild: discord.Guild) -> None:
        self.servers_away.add(guild.id)

    async def on_guild_available(self, guild: discord.Guild) -> None:
        """discord.py also says this of every server sent before `ready`; only a server
        that was away is news."""
        if guild.id in self.servers_away:
            self.servers_away.discard(guild.id)
            self.dispatch("server_back", guild)

    def _keep_heartbeat(self, heartbeat: Heartbeat) -> None:
        """The file follows the gateway: up on READY and RESUMED, down on every disconnect."""
        self.heartbeat = heartbeat

        async def up() -> None:
            heartbeat.set_connected(True)

        async def down() -> None:
            heartbeat.set_connected(False)

        self.add_listener(up, "on_ready")
        self.add_listener(up, "on_resumed")
        self.add_listener(down, "on_disconnect")

    def _act_once_on_interactions(self) -> None:
        """Claim each interaction in the database before acting on it: two processes run
        by mistake with one token and one database both receive it, and only the first
        to claim it may answer; the other stays silent. The phase changes and the commands
        that only read are claimed by their acknowledgement instead (`acknowledged_first`)."""
        act = self._connection.parsers["INTERACTION_CREATE"]

        def parse_interaction_create(data: Any) -> None:
            if acknowledged_first(data):
                act(data)
                return
            task = asyncio.get_running_loop().create_task(self._act_if_claimed(act, data))
            self._claiming.add(task)
            task.add_done_callback(self._claiming.discard)

        self._claiming: set[asyncio.Task[None]] = set()
        self._claims = InteractionClaims(self.deps.session_factory, self.deps.clock)
        self._connection.parsers["INTERACTION_CREATE"] = parse_interaction_create

    async def _act_if_claimed(self, act: Callable[[Any], None], data: Any) -> None:
        try:
            claimed = await asyncio.wait_for(self._claims.claim(int(data["id"])), CLAIM_TIMEOUT)
        except Exception as error:
            if not database_unavailable(error):
                raise
            # Without the database nobody can claim it; the command itself then answers
            # "try again in a moment" (or hands a follow-up back) within the deadline.
            claimed = True
        if claimed:
            act(data)
        else:
            log.info(HANDLED_ELSEWHERE, data["id"])

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
        if self.heartbeat is not None:
            self.heartbeat.start()

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
        if self.heartbeat is not None:
            self.heartbeat.stop()
        await super().close()


class ShardedBalintBot(BalintBot, commands.AutoShardedBot):
    """The bot holding some of the bot's shards (one connection each), run as one of
    several processes on one database: Discord sends it only its shards' guilds."""

    async def on_shard_ready(self, shard_id: int) -> None:
        """discord.py says `ready` once, when every shard first is; a shard that later
        identifies anew (its session lost, its guilds sent again) would go without the
        reconciliation that follows `ready`, as an unsharded bot's new session does not."""
        if self.is_ready():
            self.dispatch("ready")


def build_bot(settings: Settings, engine: AsyncEngine, clock: Clock | None = None) -> BalintBot:
    """The one place where the bot and its dependencies are put together."""
    clock = clock or SystemClock()
    shards = settings.shards()
    deps = Dependencies(
        settings=settings,
        session_factory=create_session_factory(engine),
        clock=clock,
        jobs=JobScheduler(clock, shards),
    )
    if shards.count is None:
        return BalintBot(deps)
    return ShardedBalintBot(
        deps, shard_count=shards.count, shard_ids=list(shards.ids or range(shards.count))
    )


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
