"""The websocket gateway: handshake, heartbeats, sequenced dispatch, resume, chunking."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from . import payloads
from .state import State

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL_MS = 41250

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

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        """aiohttp websocket handler: HELLO, then serve opcodes until the socket closes."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        await self._send(ws, {"op": 10, "d": {"heartbeat_interval": HEARTBEAT_INTERVAL_MS}})
        session: Session | None = None
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            op, data = frame.get("op"), frame.get("d")
            if op == 1:
                await self._send(ws, {"op": 11})
            elif op == 2:
                session = await self._identify(ws, data)
            elif op == 6:
                session = await self._resume(ws, data)
            elif op == 8 and session is not None:
                await self._chunk(session, data)
        if session is not None and session.ws is ws:
            session.ws = None
        return ws

    @staticmethod
    async def _send(ws: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        await ws.send_str(json.dumps(frame))

    async def _identify(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        if not self.token_ok(str(data.get("token", ""))):
            await ws.close(code=4004, message=b"Authentication failed.")
            return None
        self.identifies += 1
        session = Session(id=secrets.token_hex(16), intents=int(data.get("intents", 0)))
        self.sessions = {session.id: session}
        bot = self.state.users[self.bot_id]
        guilds = [g for g in self.state.guilds.values() if self.bot_id in g.members]
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
        async with session.lock:
            session.ws = ws
        await self._emit(session, "READY", ready)
        for guild in guilds:
            await self._emit(session, "GUILD_CREATE", payloads.guild_create(self.state, guild))
        self.connected.set()
        return session

    async def _resume(self, ws: web.WebSocketResponse, data: dict[str, Any]) -> Session | None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not self.token_ok(str(data.get("token", ""))):
            await self._send(ws, {"op": 9, "d": False})
            return None
        self.resumes += 1
        seq = int(data.get("seq") or 0)
        async with session.lock:
            for number, frame in session.sent:
                if number > seq:
                    await ws.send_str(frame)
            session.ws = ws
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
        """Send an event to every session whose intents ask for it (buffered while disconnected)."""
        for session in list(self.sessions.values()):
            if wants(session.intents, event, data):
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
            if ws is not None:
                await ws.close(code=4000, message=b"Emulator dropped the connection")

    async def invalidate(self) -> None:
        """Send op 9 (not resumable) and forget the session, forcing a fresh IDENTIFY."""
        self.connected.clear()
        sessions, self.sessions = self.sessions, {}
        for session in sessions.values():
            if session.ws is not None and not session.ws.closed:
                await self._send(session.ws, {"op": 9, "d": False})

    async def close(self) -> None:
        """Close every socket at shutdown."""
        for session in self.sessions.values():
            if session.ws is not None:
                await session.ws.close(code=1001)
