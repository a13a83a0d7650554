"""The test-facing :class:`Emulator`: start/patch, set up a world, act as people, inspect."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

import discord
import yarl

from . import automation, payloads
from .faults import Faults, HeldRequest, RequestRecord
from .gateway import Gateway, shard_of
from .interactions import (
    APPLICATION_COMMAND,
    AUTOCOMPLETE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    EmulatorError,
    InteractionFailed,
    InteractionResult,
    Registry,
    base_payload,
    check_command_visible,
    command_data,
    component_data,
    modal_data,
    new_result,
)
from .permissions import P, has
from .server import Server, bot_id_from_token, served_routes, token_for
from .state import (
    AppCommand,
    Channel,
    ChannelType,
    Guild,
    Member,
    Message,
    Overwrite,
    Role,
    ScheduledEvent,
    State,
    User,
)
from .world import World

EVERYONE_DEFAULT = int(
    P.CREATE_INSTANT_INVITE
    | P.ADD_REACTIONS
    | P.STREAM
    | P.VIEW_CHANNEL
    | P.SEND_MESSAGES
    | P.EMBED_LINKS
    | P.ATTACH_FILES
    | P.READ_MESSAGE_HISTORY
    | P.CONNECT
    | P.SPEAK
    | P.CHANGE_NICKNAME
    | P.USE_APPLICATION_COMMANDS
    | P.CREATE_PUBLIC_THREADS
    | P.SEND_MESSAGES_IN_THREADS
    | (1 << 25)  # USE_VAD
)
BOT_DEFAULT = int(
    EVERYONE_DEFAULT
    | P.MANAGE_CHANNELS
    | P.MANAGE_ROLES
    | P.MANAGE_MESSAGES
    | P.MOVE_MEMBERS
    | P.MUTE_MEMBERS
    | P.DEAFEN_MEMBERS
    | P.MANAGE_EVENTS
    | P.CREATE_EVENTS
    | P.MANAGE_THREADS
    | P.MANAGE_NICKNAMES
)


class Emulator:
    """A local Discord: ``async with Emulator() as emu`` starts it and points discord.py at it.

    Setup and people's actions are coroutines because they dispatch gateway events to a
    connected bot; inspection methods are plain functions over the in-memory state.
    """

    def __init__(
        self, *, bot_name: str = "balint-bot", now: Callable[[], dt.datetime] | None = None
    ):
        self.state = State(now or (lambda: dt.datetime.now(dt.UTC)))
        bot = User(id=self.state.new_id(), username=bot_name, bot=True)
        self.state.users[bot.id] = bot
        self.bot_id = self.application_id = bot.id
        self.token = token_for(bot.id)
        self.faults = Faults(served=served_routes())
        self.registry = Registry()
        self.interactions: list[InteractionResult] = []
        self.gateway = Gateway(self.state, bot.id, self._token_ok, lambda: self.gateway_url)
        self.world = World(self.state, self.gateway, bot.id, "")
        self.server = Server(self.world, self.gateway, self.registry, self.faults, self._token_ok)
        self._clients: dict[int, asyncio.Task[None]] = {}
        self._restore: contextlib.ExitStack | None = None
        # Overwrites people (not the bot) set, by (channel, target): what must stay intact.
        self.admin_overwrites: dict[tuple[int, int], Overwrite] = {}

    # lifecycle -------------------------------------------------------------------

    def _token_ok(self, token: str) -> bool:
        return bot_id_from_token(token) == self.bot_id

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.server.port}"

    @property
    def gateway_url(self) -> str:
        """ws://127.0.0.1:PORT/ (also the resume_gateway_url)."""
        return f"ws://127.0.0.1:{self.server.port}/"

    async def start(self) -> None:
        """Listen on a free port."""
        await self.server.start()
        self.world.base_url = self.base_url

    async def stop(self) -> None:
        """Stop any clients started here, then the server."""
        for task in list(self._clients.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._clients.clear()
        await self.server.stop()

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py's REST base and default gateway here; restore both afterwards."""
        base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = f"{self.base_url}/api/v10"
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway

    async def __aenter__(self) -> Emulator:
        await self.start()
        self._restore = contextlib.ExitStack()
        self._restore.enter_context(self.patch_discord())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
        if self._restore is not None:
            self._restore.close()

    async def start_client(
        self,
        client: discord.Client,
        token: str | None = None,
        *,
        within: float = 5.0,
        guild_ready_timeout: float = 0.05,
    ) -> None:
        """Run ``client.start(token)`` in a task and return once it is ready (on_ready fired).

        ``guild_ready_timeout`` is how long discord.py waits for more GUILD_CREATEs; the
        default 2 s would make every test slow.
        """
        client._connection.guild_ready_timeout = guild_ready_timeout
        task = asyncio.create_task(
            client.start(token or self.token), name="emulated-discord-client"
        )
        self._clients[id(client)] = task
        ready = asyncio.create_task(client.wait_until_ready())
        done, _ = await asyncio.wait(
            {task, ready}, timeout=within, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if task in done:
                task.result()
            raise TimeoutError("discord client did not become ready")

    async def stop_client(self, client: discord.Client) -> None:
        """Close the client and wait for its task."""
        await client.close()
        task = self._clients.pop(id(client), None)
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def connected(
        self, client: discord.Client, token: str | None = None
    ) -> AsyncIterator[discord.Client]:
        """``async with emu.connected(bot):`` — started and ready inside, closed after."""
        await self.start_client(client, token)
        try:
            yield client
        finally:
            await self.stop_client(client)

    # setup -------------------------------------------------------------------------

    async def create_user(self, name: str, *, bot: bool = False) -> User:
        """A Discord account, not yet in any guild."""
        user = User(id=self.state.new_id(), username=name, bot=bot, global_name=name)
        self.state.users[user.id] = user
        return user

    async def create_guild(
        self,
        name: str,
        *,
        owner: int | None = None,
        bot_permissions: int = BOT_DEFAULT,
        everyone_permissions: int = EVERYONE_DEFAULT,
        shard: tuple[int, int] | None = None,
    ) -> Guild:
        """A guild with @everyone, an owner, and the bot holding a managed role with
        ``bot_permissions`` (see :meth:`bot_role`); ``shard=(shard_id, shard_count)``
        picks an id that falls on that shard."""
        owner_id = owner if owner is not None else (await self.create_user(f"{name}-owner")).id
        guild_id = self.state.new_id()
        while shard is not None and shard_of(guild_id, shard[1]) != shard[0]:
            guild_id = self.state.new_id()
        guild = Guild(id=guild_id, name=name, owner_id=owner_id)
        guild.roles[guild.id] = Role(guild.id, guild.id, "@everyone", everyone_permissions, 0)
        bot_role = Role(
            self.state.new_id(),
            guild.id,
            self.state.users[self.bot_id].username,
            bot_permissions,
            1,
            managed_bot_id=self.bot_id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[owner_id] = Member(guild.id, owner_id)
        guild.members[self.bot_id] = Member(guild.id, self.bot_id, roles=[bot_role.id])
        self.state.guilds[guild.id] = guild
        joined = payloads.guild_create(self.state, guild)
        # Joining a new guild: Discord sends no `unavailable` (false means "back from an
        # outage"), which is how clients tell a join from a guild becoming available.
        joined.pop("unavailable")
        await self.gateway.dispatch("GUILD_CREATE", joined)
        return guild

    async def guild_outage(self, guild_id: int) -> None:
        """A Discord outage takes the guild away: GUILD_DELETE with `unavailable` true,
        then none of its events until :meth:`guild_back` (docs, Gateway "Guild Delete")."""
        guild = self.state.guild(guild_id)
        await self.gateway.dispatch("GUILD_DELETE", {"id": str(guild.id), "unavailable": True})
        guild.unavailable = True

    async def guild_back(self, guild_id: int) -> None:
        """The outage ends: a full GUILD_CREATE with `unavailable` false, which clients
        tell from a join by that field."""
        guild = self.state.guild(guild_id)
        guild.unavailable = False
        await self.gateway.dispatch("GUILD_CREATE", payloads.guild_create(self.state, guild))

    def bot_role(self, guild_id: int) -> Role:
        """The bot's managed role in a guild."""
        return next(
            r for r in self.state.guild(guild_id).roles.values() if r.managed_bot_id == self.bot_id
        )

    async def add_member(
        self, guild_id: int, user_id: int, *, roles: Iterable[int] = (), nick: str | None = None
    ) -> Member:
        """Add a user to a guild (GUILD_MEMBER_ADD)."""
        guild = self.state.guild(guild_id)
        member = Member(guild_id, user_id, roles=list(roles), nick=nick)
        guild.members[user_id] = member
        data = payloads.member(self.state, member)
        data["guild_id"] = str(guild_id)
        await self.gateway.dispatch("GUILD_MEMBER_ADD", data)
        return member

    async def create_role(
        self, guild_id: int, name: str, permissions: int = 0, *, position: int | None = None
    ) -> Role:
        """A role; by default just below the bot's role so the bot can manage it."""
        guild = self.state.guild(guild_id)
        wanted = position if position is not None else self.bot_role(guild_id).position
        role = Role(self.state.new_id(), guild_id, name, permissions, wanted)
        await self.world.insert_role(guild, role)
        return role

    async def edit_role(
        self,
        guild_id: int,
        role_id: int,
        *,
        permissions: int | None = None,
        name: str | None = None,
    ) -> Role:
        """Change a role as a server admin would (e.g. take a permission from the bot's role)."""
        role = self.state.role(guild_id, role_id)
        if permissions is not None:
            role.permissions = permissions
        if name is not None:
            role.name = name
        await self.world.role_changed(role)
        return role

    async def set_member_roles(self, guild_id: int, user_id: int, roles: Iterable[int]) -> Member:
        """Replace a member's roles as an admin would (GUILD_MEMBER_UPDATE)."""
        member = self.state.member(guild_id, user_id)
        member.roles = list(roles)
        await self.world.member_changed(member)
        return member

    async def create_channel(
        self,
        guild_id: int,
        name: str,
        type: ChannelType = ChannelType.TEXT,
        *,
        parent_id: int | None = None,
        overwrites: Iterable[Overwrite] = (),
        user_limit: int = 0,
        topic: str | None = None,
        available_tags: Iterable[str] = (),
        flags: int = 0,
    ) -> Channel:
        """A guild channel (CHANNEL_CREATE). Forums get ``available_tags`` by name and
        ``flags`` (``Channel.REQUIRE_TAG``)."""
        self.state.guild(guild_id)
        channel = Channel(
            id=self.state.new_id(),
            type=ChannelType(type),
            name=name,
            guild_id=guild_id,
            parent_id=parent_id,
            position=len(self.state.guild_channels(guild_id)),
            overwrites={o.id: o for o in overwrites},
            user_limit=user_limit,
            topic=topic,
            flags=flags,
        )
        channel.available_tags = [
            {
                "id": str(self.state.new_id()),
                "name": tag,
                "moderated": False,
                "emoji_id": None,
                "emoji_name": None,
            }
            for tag in available_tags
        ]
        self.state.channels[channel.id] = channel
        for overwrite in overwrites:
            self.admin_overwrites[(channel.id, overwrite.id)] = dataclasses.replace(overwrite)
        await self.world.channel_changed(channel, created=True)
        return channel

    async def set_overwrite(
        self, channel_id: int, target_id: int, *, allow: int = 0, deny: int = 0
    ) -> Overwrite:
        """An admin edits an overwrite (role if ``target_id`` is a role, else member)."""
        channel = self.state.channel(channel_id)
        guild = self.state.guild(channel.guild_id or 0)
        overwrite = Overwrite(target_id, 0 if target_id in guild.roles else 1, allow, deny)
        self.admin_overwrites[(channel_id, target_id)] = dataclasses.replace(overwrite)
        await self.world.set_overwrite(channel, overwrite)
        return overwrite

    async def set_dms_open(self, user_id: int, open_: bool) -> None:
        """Whether a user accepts DMs from the bot (closed → 50007 on send)."""
        self.state.user(user_id).dms_open = open_

    # people ------------------------------------------------------------------------

    def _guild_with_member(self, user_id: int, channel: Channel) -> Guild:
        guild = self.state.guild(channel.guild_id or 0)
        if user_id not in guild.members:
            raise EmulatorError(f"user {user_id} is not a member of {guild.name}")
        return guild

    async def join_voice(self, user_id: int, channel_id: int) -> None:
        """Connect (or switch) a member to a voice channel; refused without VIEW_CHANNEL+CONNECT
        or when the channel is full (unless they have MOVE_MEMBERS)."""
        channel = self.state.channel(channel_id)
        if not channel.is_voice:
            raise EmulatorError(f"#{channel.name} is not a voice channel")
        guild = self._guild_with_member(user_id, channel)
        perms = self.world.perms(user_id, channel)
        if not has(perms, P.VIEW_CHANNEL | P.CONNECT):
            raise EmulatorError(f"user {user_id} cannot connect to #{channel.name}")
        occupants = [
            v
            for v in guild.voice_states.values()
            if v.channel_id == channel_id and v.user_id != user_id
        ]
        if (
            channel.user_limit
            and len(occupants) >= channel.user_limit
            and not perms & P.MOVE_MEMBERS
        ):
            raise EmulatorError(f"#{channel.name} is full")
        await self.world.set_voice(guild, user_id, channel_id)

    async def leave_voice(self, user_id: int) -> None:
        """Disconnect a member from voice in whichever guild they are connected."""
        for guild in self.state.guilds.values():
            if user_id in guild.voice_states:
                await self.world.set_voice(guild, user_id, None)

    async def send_message(self, user_id: int, channel_id: int, content: str) -> Message:
        """A person posts in a guild channel or in their DM with the bot (MESSAGE_CREATE)."""
        channel = self.state.channel(channel_id)
        if channel.type == ChannelType.DM and user_id not in channel.recipient_ids:
            raise EmulatorError(f"user {user_id} is not in DM channel {channel_id}")
        message = self.world.build_message(channel, user_id, {"content": content}, [])
        try:
            self.world.check_can_post(channel, user_id, message)
        except Exception as error:
            raise EmulatorError(f"user {user_id} cannot post in {channel_id}: {error}") from error
        return await self.world.post_message(message)

    async def send_dm(self, user_id: int, content: str) -> Message:
        """A person writes to the bot in DMs."""
        channel = await self.world.dm_channel(user_id)
        return await self.send_message(user_id, channel.id, content)

    async def subscribe_event(self, user_id: int, guild_id: int, event_id: int) -> None:
        """A person clicks "Interested" on a scheduled event."""
        event = self.state.event(guild_id, event_id)
        if user_id not in event.subscriber_ids:
            event.subscriber_ids.append(user_id)
            await self.gateway.dispatch(
                "GUILD_SCHEDULED_EVENT_USER_ADD",
                {
                    "guild_scheduled_event_id": str(event_id),
                    "user_id": str(user_id),
                    "guild_id": str(guild_id),
                },
            )

    def _find_command(self, guild_id: int | None, name: str) -> AppCommand:
        scoped = [c for c in self.state.commands.values() if c.name == name and c.type == 1]
        for command in sorted(scoped, key=lambda c: c.guild_id is None):
            if command.guild_id in (None, guild_id):
                return command
        raise EmulatorError(
            f"/{name} is not synced for guild {guild_id} (did the bot call tree.sync?)"
        )

    async def _command_context(
        self,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        command: str,
    ) -> tuple[Channel, AppCommand, list[str]]:
        channel = (
            (await self.world.dm_channel(user_id))
            if channel_id is None
            else self.state.channel(channel_id)
        )
        if guild_id is not None:
            self._guild_with_member(user_id, channel)
            if channel.guild_id != guild_id:
                raise EmulatorError(f"channel {channel.id} is not in guild {guild_id}")
        name, *path = command.split()
        found = self._find_command(guild_id, name)
        check_command_visible(self.world, found, user_id, channel)
        return channel, found, path

    async def run_command(
        self,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        command: str,
        /,
        *,
        options: dict[str, Any] | None = None,
        within: float = 5.0,
        check: bool = True,
        **kwargs: Any,
    ) -> InteractionResult:
        """A person runs ``/command sub opt=value``; returns once the bot answered (or missed the
        3 s deadline: raises :class:`InteractionFailed` if ``check``). ``channel_id=None`` → DM."""
        channel, found, path = await self._command_context(user_id, guild_id, channel_id, command)
        data = command_data(
            self.world, found, path, {**(options or {}), **kwargs}, channel, user_id
        )
        result = new_result(APPLICATION_COMMAND, user_id, channel, self.world, name=command)
        return await self._interact(result, data, {}, within, check)

    async def autocomplete(
        self,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        command: str,
        /,
        *,
        focused: str,
        options: dict[str, Any] | None = None,
        within: float = 5.0,
        **kwargs: Any,
    ) -> list[dict[str, Any]]:
        """A person types into option ``focused``; returns the bot's choices."""
        channel, found, path = await self._command_context(user_id, guild_id, channel_id, command)
        values = {focused: "", **(options or {}), **kwargs}
        data = command_data(self.world, found, path, values, channel, user_id, focused=focused)
        result = new_result(AUTOCOMPLETE, user_id, channel, self.world, name=command)
        await self._interact(result, data, {}, within, True)
        return result.choices or []

    async def click(
        self,
        user_id: int,
        message: Message | int,
        custom_id: str,
        *,
        values: list[str] | None = None,
        within: float = 5.0,
        check: bool = True,
    ) -> InteractionResult:
        """A person clicks a button (or picks ``values`` in a select) on a guild or DM message."""
        found = message if isinstance(message, Message) else self._message(message)
        channel = self.state.channel(found.channel_id)
        if found.ephemeral and not self._ephemeral_for(found, user_id):
            raise EmulatorError("an ephemeral message is only visible to its recipient")
        if channel.guild_id is not None:
            self._guild_with_member(user_id, channel)
            if not self.world.perms(user_id, channel) & P.VIEW_CHANNEL:
                raise EmulatorError(f"user {user_id} cannot see #{channel.name}")
        data = component_data(found, custom_id, values)
        result = new_result(
            MESSAGE_COMPONENT, user_id, channel, self.world, source_message_id=found.id
        )
        extra = {"message": payloads.message(self.state, found)}
        return await self._interact(result, data, extra, within, check)

    async def submit_modal(
        self,
        user_id: int,
        modal_result: InteractionResult,
        values: dict[str, str | list[str]],
        *,
        within: float = 5.0,
        check: bool = True,
        deliveries: int = 1,
    ) -> InteractionResult:
        """A person fills in and submits the modal the bot opened in ``modal_result``.

        ``deliveries=2`` sends the same INTERACTION_CREATE twice, as a replayed gateway
        event would: the bot must act on it once (only one callback can succeed)."""
        if modal_result.modal is None:
            raise EmulatorError("the bot did not answer with a modal")
        channel = self.state.channel(modal_result.channel_id)
        data = modal_data(modal_result.modal, values)
        result = new_result(
            MODAL_SUBMIT,
            user_id,
            channel,
            self.world,
            source_message_id=modal_result.source_message_id,
        )
        result.trigger = modal_result
        extra: dict[str, Any] = {}
        if modal_result.source_message_id is not None:
            extra["message"] = payloads.message(
                self.state, self._message(modal_result.source_message_id)
            )
        return await self._interact(result, data, extra, within, check, deliveries)

    def _ephemeral_for(self, message: Message, user_id: int) -> bool:
        return any(
            r.user_id == user_id and message in (r.message, *r.followups) for r in self.interactions
        )

    def _message(self, message_id: int) -> Message:
        if message_id in self.state.ephemeral:
            return self.state.ephemeral[message_id]
        for stored in self.state.messages.values():
            if message_id in stored:
                return stored[message_id]
        raise EmulatorError(f"unknown message {message_id}")

    async def _interact(
        self,
        result: InteractionResult,
        data: dict[str, Any],
        extra: dict[str, Any],
        within: float,
        check: bool,
        deliveries: int = 1,
    ) -> InteractionResult:
        self.registry.add(result)
        self.interactions.append(result)
        payload = {**base_payload(self.world, result, data), **extra}
        for _ in range(deliveries):
            await self.gateway.dispatch("INTERACTION_CREATE", payload)
        await result.wait_for(lambda r: r.responded or r.missed_deadline, within)
        if check and result.missed_deadline:
            raise InteractionFailed(
                f"the bot did not answer {result.name or result.type} within "
                f"{self.registry.deadline} s"
            )
        return result

    # faults ------------------------------------------------------------------------

    def hold(
        self, route: str | None = None, *, method: str | None = None, skip: int = 0
    ) -> HeldRequest:
        """Hold the bot's next request on ``route`` (any route if None) after ``skip`` of them.

        Raises `UnservedRoute` for a route this emulator does not serve: it could never fire.
        """
        if route is not None:
            self.faults.check_served(route, method)
        return self.server.holds.add(HeldRequest(method, route, skip))

    async def drop_gateway(self) -> None:
        """Close the gateway socket; the client RESUMEs and missed events are replayed."""
        await self.gateway.drop()

    async def invalidate_session(
        self, *, resumable: bool = False, shard_id: int | None = None
    ) -> None:
        """Op 9 (only to that shard's session if given): not resumable, the client must
        IDENTIFY again and gets a fresh READY; resumable (``d: true``), it RESUMEs."""
        await self.gateway.invalidate(resumable=resumable, shard_id=shard_id)

    async def request_reconnect(self) -> None:
        """Op 7 Reconnect: the client closes the socket and RESUMEs."""
        await self.gateway.reconnect()

    async def wait_connected(self, within: float = 5.0) -> None:
        """Wait until the client is connected again after a drop or invalidation."""
        await asyncio.wait_for(self.gateway.connected.wait(), within)

    async def archive_idle_threads(self) -> list[Channel]:
        """Archive the threads idle for their auto_archive_duration by now (THREAD_UPDATE),
        as Discord does in the background; also done before every request and in settle."""
        return await self.world.archive_idle_threads()

    async def settle(self, client: discord.Client, within: float = 2.0) -> None:
        """Wait until the client has parsed every event dispatched so far (its cache is current).

        discord.py records a frame's sequence number and parses it without yielding, so a
        client whose ``ws.sequence`` reached ours has applied everything."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        await self.archive_idle_threads()
        await automation.run(self.world)  # e.g. an event ended now that the clock moved
        while self.gateway.pending:  # events held back by the late/twice mode
            if loop.time() > deadline:
                raise TimeoutError("late events were not delivered")
            await asyncio.sleep(0.002)
        # Each socket's own session's count: a second client on the same token (two bot
        # processes run by mistake) has its own sequence, and so has each shard.
        shards = client.shards if isinstance(client, discord.AutoShardedClient) else None
        for shard_id in list(shards or [None]):
            ws = client._connection._get_websocket(shard_id=shard_id)
            own = self.gateway.sessions.get(getattr(ws, "session_id", None) or "")
            target = own.seq if own is not None else max(
                (s.seq for s in self.gateway.sessions.values()), default=0
            )
            while ws is None or (ws.sequence or 0) < target:
                if loop.time() > deadline:
                    raise TimeoutError(f"client did not reach gateway sequence {target}")
                await asyncio.sleep(0.001)
                ws = client._connection._get_websocket(shard_id=shard_id)

    # inspection --------------------------------------------------------------------

    @property
    def request_log(self) -> list[RequestRecord]:
        """Every REST request, in arrival order."""
        return self.server.log

    def requests(self, method: str | None = None, route: str | None = None) -> list[RequestRecord]:
        """Logged requests filtered by method and/or route template."""
        return [
            r for r in self.server.log if method in (None, r.method) and route in (None, r.route)
        ]

    @property
    def missed_deadlines(self) -> list[InteractionResult]:
        """Interactions the bot did not answer within the deadline."""
        return self.registry.missed

    def guild(self, guild_id: int) -> Guild:
        """A guild's state."""
        return self.state.guild(guild_id)

    def channel(self, channel_id: int) -> Channel:
        """A channel's state (threads and DMs too)."""
        return self.state.channel(channel_id)

    def channels(self, guild_id: int, type: ChannelType | None = None) -> list[Channel]:
        """A guild's channels and threads, optionally of one type."""
        found = self.state.guild_channels(guild_id) + self.state.threads(guild_id)
        return [c for c in found if type is None or c.type == type]

    def member(self, guild_id: int, user_id: int) -> Member:
        """A member's state."""
        return self.state.member(guild_id, user_id)

    def messages(self, channel_id: int) -> list[Message]:
        """Non-ephemeral messages of a channel or thread, oldest first."""
        return sorted(self.state.messages.get(channel_id, {}).values(), key=lambda m: m.id)

    def dms(self, user_id: int) -> list[Message]:
        """The DM conversation between the bot and a user, oldest first."""
        channel = self.state.dm_channel(user_id)
        return [] if channel is None else self.messages(channel.id)

    def permissions_for(self, user_id: int, channel_id: int) -> int:
        """Effective permissions by Discord's algorithm."""
        return self.world.perms(user_id, self.state.channel(channel_id))

    def overwrites(self, channel_id: int) -> dict[int, Overwrite]:
        """A channel's permission overwrites by target id."""
        return self.state.channel(channel_id).overwrites

    def voice_channel_of(self, user_id: int) -> int | None:
        """The voice channel a user is connected to, if any."""
        for guild in self.state.guilds.values():
            if user_id in guild.voice_states:
                return guild.voice_states[user_id].channel_id
        return None

    def can_speak(self, user_id: int) -> bool:
        """Whether others hear the user: connected, SPEAK at last join/move, not server-muted."""
        for guild in self.state.guilds.values():
            if user_id in guild.voice_states:
                return self.world.can_speak(guild, user_id)
        return False

    def scheduled_events(self, guild_id: int) -> list[ScheduledEvent]:
        """A guild's scheduled events."""
        return list(self.state.guild(guild_id).events.values())

    def commands(self, guild_id: int | None = None) -> list[AppCommand]:
        """Synced commands: global ones, or one guild's."""
        return [c for c in self.state.commands.values() if c.guild_id == guild_id]
