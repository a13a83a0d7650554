"""The websocket gateway: handshake, heartbeats, sequenced dispatch, resume, chunking, and
Discord's unkind parts: op 7 Reconnect, op 9 (resumable or not), withheld heartbeat ACKs,
expiring sessions, and events that arrive late, twice or never."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from . import payloads
from .state import State

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_MS = 41250
# How long Discord keeps a dropped session resumable (not documented; minutes in practice).
SESSION_TTL = 120.0
# Discord's limit per session; beyond it IDENTIFY is refused with 4011 "Sharding required".
GUILDS_PER_SHARD = 2500
# Delivered once and in time even in the late/twice mode: the handshake, and interactions
# (whose 3 s deadline runs from when Discord sends them; one-delivery is tested apart).
_ALWAYS_ONCE = frozenset({"READY", "RESUMED", "GUILD_CREATE", "INTERACTION_CREATE"})

# Intent bits (https://discord.com/developers/docs/events/gateway#gateway-intents).
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_VOICE_STATES = 1 << 7
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15
GUILD_SCHEDULED_EVENTS = 1 << 16

_EVENT_INTENT = {
    "GUILD_CREATE": GUILDS,
    "GUILD_UPDATE": GUILDS,
    "GUILD_DELETE": GUILDS,
    "GUILD_ROLE_CREATE": GUILDS,
    "GUILD_ROLE_UPDATE": GUILDS,
    "GUILD_ROLE_DELETE": GUILDS,
    "CHANNEL_CREATE": GUILDS,
    "CHANNEL_UPDATE": GUILDS,
    "CHANNEL_DELETE": GUILDS,
    "THREAD_CREATE": GUILDS,
    "THREAD_UPDATE": GUILDS,
    "THREAD_DELETE": GUILDS,
    "GUILD_MEMBER_ADD": GUILD_MEMBERS,
    "GUILD_MEMBER_UPDATE": GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": GUILD_MEMBERS,
    "VOICE_STATE_UPDATE": GUILD_VOICE_STATES,
    "GUILD_SCHEDULED_EVENT_CREATE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_UPDATE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_DELETE": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_USER_ADD": GUILD_SCHEDULED_EVENTS,
    "GUILD_SCHEDULED_EVENT_USER_REMOVE": GUILD_SCHEDULED_EVENTS,
}
_MESSAGE_EVENTS = frozenset(
    {"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"}
)


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives a guild's events, as Discord computes it."""
    return (guild_id >> 22) % shard_count


def guild_of(event: str, data: dict[str, Any]) -> int | None:
    """The guild an event belongs to; None for DMs and other events of no guild."""
    if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
        return int(data["id"])
    guild_id = data.get("guild_id")
    return int(guild_id) if guild_id else None


def wants(intents: int, event: str, data: dict[str, Any]) -> bool:
    """Whether a session with these intents receives the event (unlisted events always go)."""
    if event in _MESSAGE_EVENTS:
        return bool(intents & (GUILD_MESSAGES if data.get("guild_id") else DIRECT_MESSAGES))
    needed = _EVENT_INTENT.get(event)
    return needed is None or bool(intents & needed)


@dataclass
class Session:
    """A gateway session; survives dropped sockets so RESUME can replay what was missed."""

    id: str
    intents: int
    seq: int = 0
    sent: list[tuple[int, str]] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    dropped_at: float | None = None
    expired: bool = False
    # [shard_id, shard_count] from IDENTIFY; a client that sends none holds the one shard.
    shard: tuple[int, int] = (0, 1)

    def receives(self, guild_id: int | None) -> bool:
        """Guild events go to the guild's shard; DMs and the like only to shard 0."""
        shard_id, count = self.shard
        return shard_id == (0 if guild_id is None else shard_of(guild_id, count))


@dataclass
class EventFaults:
    """Events as Discord documents them ("Consistency"): late, twice, or never.

    ``delay`` is the most an event waits (random, order kept); ``duplicate`` the chance it
    is sent twice; ``drop`` names events to lose (how many of each)."""

    delay: float = 0.0
    duplicate: float = 0.0
    drop: dict[str, int] = field(default_factory=dict)
    delayed: int = 0
    duplicated: int = 0
    dropped: int = 0

    @property
    def active(self) -> bool:
        """Whether events go through the late/twice queue."""
        return self.delay > 0 or self.duplicate > 0


class Gateway:
    """Speaks the gateway protocol to discord.py over plain TEXT JSON frames."""

    def __init__(
        self,
        state: State,
        bot_id: int,
        token_ok: Callable[[str], bool],
        url: Callable[[], str],
    ) -> None:
        self.state = state
        self.bot_id = bot_id
        self.token_ok = token_ok
        self.url = url
        self.sessions: dict[str, Session] = {}
        self.identifies = 0
        self.resumes = 0
        self.connected = asyncio.Event()
        self.heartbeat_interval_ms = HEARTBEAT_INTERVAL_MS
        self.ack_heartbeats = True
        self.heartbeats = 0
        self.session_ttl = SESSION_TTL
        self.refused_resumes = 0
        self.events = EventFaults()
        # What GET /gateway/bot recommends, and the most guilds one session may hold.
        self.recommended_shards = 1
        self.guilds_per_shard = GUILDS_PER_SHARD
        self._queue: list[tuple[float, str, dict[str, Any]]] = []
        self._pump: asyncio.Task[None] | None = None

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp websocket handler: HELLO, then serve opcodes until the socket closes."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        session: Session | None = None
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op, data = frame.get("op"), frame.get("d")
            if op == 1:
                self.heartbeats += 1
                if self.ack_heartbeats:
                    await self._send(ws, {"op": 11})
            elif op == 2:
                session = await self._identify(ws, data)
            elif op == 6:
                session = await self._resume(ws, data)
            elif op == 8 and session is not None:
                await self._chunk(session, data)
        if session is not None and session.ws is ws:
            session.ws = None
            session.dropped_at = time.monotonic()
        return ws

    @staticmethod
    async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        await ws.send_str(json.dumps(frame))

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        if not self.token_ok(str(data.get("token", ""))):
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        shard = _valid_shard(data.get("shard", [0, 1]))
        if shard is None:
            await ws.close(code=4010, message=b"Invalid shard")
            return None
        bot = self.state.users[self.bot_id]
        guilds = [
            g for g in self.state.guilds.values()
            if self.bot_id in g.members and shard_of(g.id, shard[1]) == shard[0]
        ]
        if len(guilds) > self.guilds_per_shard:
            await ws.close(code=4011, message=b"Sharding required")
            return None
        self.identifies += 1
        session = Session(
            id=secrets.token_hex(16), intents=int(data.get("intents", 0)), shard=shard
        )
        # Discord lets one token hold several sessions (a bot run twice gets every event
        # twice); a session whose socket is gone is not resumed once its bot identifies anew.
        self.sessions = {
            key: live for key, live in self.sessions.items()
            if live.ws is not None and not live.ws.closed
        }
        self.sessions[session.id] = session
        ready = {
            "v": 10,
            "user": {**payloads.user(bot), "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.url(),
            "application": {"id": str(self.bot_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "_trace": ["emulator"],
        }
        if "shard" in data:
            ready["shard"] = list(shard)
        async with session.lock:
            session.ws = ws
        await self._emit(session, "READY", ready)
        channels = self.state.channels_by_guild()
        for guild in guilds:
            if guild.unavailable:  # stays as READY listed it until the outage ends
                continue
            await self._emit(
                session,
                "GUILD_CREATE",
                payloads.guild_create(self.state, guild, channels.get(guild.id, ([], []))),
            )
        self.connected.set()
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is not None and (session.expired or (
            session.dropped_at is not None
            and time.monotonic() - session.dropped_at > self.session_ttl
        )):
            self.sessions.pop(session.id, None)
            session = None
        if session is None or not self.token_ok(str(data.get("token", ""))):
            self.refused_resumes += 1
            await self._send(ws, {"op": 9, "d": False})
            return None
        self.resumes += 1
        seq = int(data.get("seq") or 0)
        async with session.lock:
            for number, frame in session.sent:
                if number > seq:
                    await ws.send_str(frame)
            session.ws, session.dropped_at = ws, None
        await self._emit(session, "RESUMED", {"_trace": ["emulator"]})
        self.connected.set()
        return session

    async def _chunk(self, session: Session, data: dict[str, Any]) -> None:
        guild_ids = data["guild_id"] if isinstance(data["guild_id"], list) else [data["guild_id"]]
        query = str(data.get("query") or "").lower()
        user_ids = {int(u) for u in data.get("user_ids") or []}
        limit = int(data.get("limit") or 0)
        for guild_id in guild_ids:
            guild = self.state.guilds[int(guild_id)]
            members = [
                m
                for m in guild.members.values()
                if (not user_ids or m.user_id in user_ids)
                and self.state.users[m.user_id].username.lower().startswith(query)
            ]
            if limit:
                members = members[:limit]
            chunk: dict[str, Any] = {
                "guild_id": str(guild.id),
                "members": [payloads.member(self.state, m) for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [str(u) for u in user_ids - {m.user_id for m in members}],
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            await self._emit(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _emit(self, session: Session, event: str, data: dict[str, Any]) -> None:
        async with session.lock:
            session.seq += 1
            frame = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data})
            session.sent.append((session.seq, frame))
            ws = session.ws
            if ws is not None and not ws.closed:
                try:
                    await ws.send_str(frame)
                except ConnectionError:
                    session.ws = None

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to every session whose intents ask for it (buffered while disconnected).

        With :attr:`events` set, it may be lost, or queued to arrive later (and maybe twice)."""
        if self.events.drop.get(event, 0) > 0:
            self.events.drop[event] -= 1
            self.events.dropped += 1
            return
        if self.events.active or self._queue:
            due = time.monotonic() + random.uniform(0.0, self.events.delay)
            if self._queue:
                due = max(due, self._queue[-1][0])
            self._queue.append((due, event, data))
            if self._pump is None or self._pump.done():
                self._pump = asyncio.create_task(self._deliver_late(), name="emulator-late-events")
            return
        await self._send_event(event, data)

    @property
    def pending(self) -> int:
        """Events queued by the late/twice mode and not yet sent."""
        return len(self._queue)

    async def _deliver_late(self) -> None:
        """Send queued events in order once due, some of them twice."""
        while self._queue:
            due, event, data = self._queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                self.events.delayed += 1
            await self._send_event(event, data)
            if event not in _ALWAYS_ONCE and random.random() < self.events.duplicate:
                self.events.duplicated += 1
                await self._send_event(event, data)
            self._queue.pop(0)

    async def _send_event(self, event: str, data: dict[str, Any]) -> None:
        guild_id = guild_of(event, data)
        guild = self.state.guilds.get(guild_id) if guild_id is not None else None
        if guild is not None and guild.unavailable and event != "GUILD_DELETE":
            return  # nothing of a guild in an outage reaches the bot
        for session in list(self.sessions.values()):
            if session.receives(guild_id) and wants(session.intents, event, data):
                await self._emit(session, event, self._visible(session, event, data))

    def _visible(self, session: Session, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Without MESSAGE_CONTENT guild messages arrive empty unless by or mentioning the bot."""
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE") or session.intents & MESSAGE_CONTENT:
            return data
        author = data.get("author", {}).get("id")
        mentioned = any(u["id"] == str(self.bot_id) for u in data.get("mentions", []))
        if not data.get("guild_id") or author == str(self.bot_id) or mentioned:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    async def drop(self) -> None:
        """Close the socket with a resumable code; the client RESUMEs and gets the missed events."""
        self.connected.clear()
        for session in self.sessions.values():
            async with session.lock:
                ws, session.ws = session.ws, None
                session.dropped_at = time.monotonic()
            if ws is not None:
                await ws.close(code=4000, message=b"Emulator dropped the connection")

    async def invalidate(self, *, resumable: bool = False, shard_id: int | None = None) -> None:
        """Send op 9 (to one shard's session if given). Not resumable: the session is
        forgotten, forcing a fresh IDENTIFY; resumable (``d: true``): the client
        reconnects and RESUMEs."""
        self.connected.clear()
        sessions = [
            s for s in self.sessions.values() if shard_id is None or s.shard[0] == shard_id
        ]
        if not resumable:
            for session in sessions:
                self.sessions.pop(session.id, None)
        for session in sessions:
            if session.ws is not None and not session.ws.closed:
                await self._send(session.ws, {"op": 9, "d": resumable})

    async def reconnect(self) -> None:
        """Send op 7 Reconnect, as Discord does before moving a session: the client closes
        and RESUMEs."""
        self.connected.clear()
        for session in self.sessions.values():
            if session.ws is not None and not session.ws.closed:
                await self._send(session.ws, {"op": 7, "d": None})

    def expire_sessions(self) -> None:
        """Let every session expire, as after a long outage: a later RESUME gets op 9 false."""
        for session in self.sessions.values():
            session.expired = True

    async def close(self) -> None:
        """Close every socket at shutdown (late events still queued are lost)."""
        if self._pump is not None:
            self._pump.cancel()
        self._queue.clear()
        for session in self.sessions.values():
            if session.ws is not None:
                await session.ws.close(code=1001)


def _valid_shard(value: Any) -> tuple[int, int] | None:
    """IDENTIFY's `shard`: [shard_id, num_shards] with 0 <= shard_id < num_shards."""
    if (
        not isinstance(value, list) or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return None
    shard_id, count = value
    return (shard_id, count) if 0 <= shard_id < count else None
