"""The aiohttp app: REST under /api/v10 (logged, rate-limited, faultable), gateway, files."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from . import automation
from .contract import Contract
from .errors import ApiError, unauthorized
from .faults import Faults, Holds, RequestRecord
from .gateway import Gateway
from .interactions import Registry
from .rest import Call, Handler, application, channels, events, guilds, interactions
from .world import Upload, World

API = "/api/v10"
_TOKEN_ROUTES = ("/interactions/", "/webhooks/")
_MAJOR = ("channel_id", "guild_id", "webhook_token")

AiohttpHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_for(bot_id: int) -> str:
    """A token shaped like Discord's: base64 of the bot id, a timestamp part, an HMAC part."""
    head = base64.b64encode(str(bot_id).encode()).decode().rstrip("=")
    return f"{head}.ZW11bA.{'x' * 27}"


def bot_id_from_token(token: str) -> int | None:
    """The user id in a token's first segment, as Discord derives it."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    head = parts[0] + "=" * (-len(parts[0]) % 4)
    try:
        return int(base64.b64decode(head, validate=True).decode())
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def _audit_reason(request: web.Request) -> str | None:
    """The audit-log reason, which clients send percent-encoded."""
    raw = request.headers.get("X-Audit-Log-Reason")
    return None if raw is None else urllib.parse.unquote(raw)


def json_response(status: int, data: Any, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with Content-Type exactly ``application/json``: discord.py compares it verbatim."""
    return web.Response(
        status=status,
        body=json.dumps(data).encode(),
        headers={**(headers or {}), "Content-Type": "application/json"},
    )


async def parse_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """A JSON body, or multipart ``payload_json`` plus ``files[n]`` parts."""
    if request.content_type == "multipart/form-data":
        body: Any = None
        uploads: list[Upload] = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.name == "payload_json":
                body = json.loads(await part.text())
            else:
                uploads.append(
                    Upload(
                        field=part.name or "",
                        filename=part.filename or "file",
                        content_type=part.headers.get("Content-Type", "application/octet-stream"),
                        data=bytes(await part.read()),
                    )
                )
        return body, uploads
    if request.can_read_body:
        text = await request.text()
        return (json.loads(text) if text else None), []
    return None, []


def served_routes() -> frozenset[tuple[str, str]]:
    """Every (method, route template) the REST API answers."""
    return frozenset(
        (method, template)
        for module in (application, interactions, channels, guilds, events)
        for method, template, _ in module.routes.table
    )


class Server:
    """Owns the aiohttp app and the request log; handlers work on the shared :class:`World`."""

    def __init__(
        self,
        world: World,
        gateway: Gateway,
        registry: Registry,
        faults: Faults,
        token_ok: Callable[[str], bool],
    ) -> None:
        self.world = world
        self.gateway = gateway
        self.registry = registry
        self.faults = faults
        self.token_ok = token_ok
        self.log: list[RequestRecord] = []
        self.holds = Holds()
        self.contract: Contract | None = None
        self.port = 0
        self._runner: web.AppRunner | None = None

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        for module in (application, interactions, channels, guilds, events):
            for method, template, handler in module.routes.table:
                app.router.add_route(method, API + template, self._endpoint(template, handler))
        app.router.add_route("*", API + "/{tail:.*}", self._endpoint("?", _not_found))
        return app

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._runner = web.AppRunner(self._app(), handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Close sockets and the listener."""
        self.holds.refuse_all()
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _endpoint(self, template: str, handler: Handler) -> AiohttpHandler:
        async def endpoint(request: web.Request) -> web.StreamResponse:
            record = RequestRecord(
                method=request.method,
                route=template,
                path=request.path.removeprefix(API),
                query=dict(request.query),
                json=None,
                files=[],
                time=time.monotonic(),
                audit_reason=_audit_reason(request),
                user_agent=request.headers.get("User-Agent", ""),
            )
            self.log.append(record)
            response = await self._respond(request, record, handler)
            record.status, record.headers = response.status, dict(response.headers)
            self.faults.count_response(response.status, record.headers)
            if self.contract is not None:
                self._check_contract(self.contract, record, response)
            return response

        return endpoint

    @staticmethod
    def _check_contract(contract: Contract, record: RequestRecord, response: web.Response) -> None:
        if record.json is not None:
            contract.check_request(record.method, record.route, record.path, record.json)
        if response.content_type == "application/json" and isinstance(response.body, bytes):
            contract.check_response(
                record.method, record.route, record.path, response.status,
                json.loads(response.body),
            )

    async def _respond(
        self, request: web.Request, record: RequestRecord, handler: Handler
    ) -> web.Response:
        delay = self.faults.delay()
        if delay:
            await asyncio.sleep(delay)
        if self.faults.banned:
            return _cloudflare_ban()
        major = next((request.match_info[k] for k in _MAJOR if k in request.match_info), "")
        try:
            body, uploads = await parse_body(request)
            record.json, record.files = body, [u.filename for u in uploads]
            if not record.route.startswith(_TOKEN_ROUTES):
                auth = request.headers.get("Authorization", "")
                if not auth.startswith("Bot ") or not self.token_ok(auth[4:]):
                    raise unauthorized()
            held = self.holds.take(record)
            if held is not None and not await held.wait(record):
                return json_response(503, {"message": "upstream connect error", "code": 0})
            fault = self.faults.check(request.method, record.route, major)
            if fault is not None:
                return json_response(fault.status, fault.body, fault.headers)
            await self.world.archive_idle_threads()  # Discord's background auto-archive
            await automation.run(self.world)  # what Discord did on its own since
            result = await handler(Call(self.world, self.registry, request, body, uploads))
        except ApiError as error:
            headers = self.faults.headers(request.method, record.route, major)
            return json_response(error.status, error.payload(), headers)
        headers = self.faults.headers(request.method, record.route, major)
        if result is None:
            return web.Response(status=204, headers=headers)
        return json_response(200, result, headers)

    async def _attachment(self, request: web.Request) -> web.Response:
        stored = self.world.state.files.get(int(request.match_info["attachment_id"]))
        if stored is None:
            return web.Response(status=404)
        return web.Response(body=stored.data, headers={"Content-Type": stored.content_type})


def _cloudflare_ban() -> web.Response:
    """What a banned IP gets: Cloudflare's HTML 429 (error 1015), no ``Via``, no JSON."""
    return web.Response(
        status=429,
        text="<html><title>Error 1015</title><body>You are being rate limited.</body></html>",
        content_type="text/html",
    )


async def _not_found(call: Call) -> Any:
    raise ApiError(404, 0, "404: Not Found")
