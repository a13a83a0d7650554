"""REST endpoints under /api/v10, declared per area with :class:`Routes`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..interactions import Registry
from ..world import Upload, World


@dataclass
class Call:
    """One parsed request handed to a handler."""

    world: World
    registry: Registry
    request: web.Request
    body: Any
    uploads: list[Upload]

    def id(self, name: str) -> int:
        """A snowflake path parameter; ``@me`` means the bot."""
        value = self.request.match_info[name]
        return self.world.bot_id if value == "@me" else int(value)

    def param(self, name: str) -> str:
        """A raw path parameter (tokens, ``@original``)."""
        return self.request.match_info[name]

    @property
    def json(self) -> dict[str, Any]:
        """The JSON (or ``payload_json``) body as a dict; empty when absent."""
        return self.body if isinstance(self.body, dict) else {}

    def query_int(self, name: str, default: int | None = None) -> int | None:
        """An integer query parameter."""
        value = self.request.query.get(name)
        return default if value is None else int(value)

    def query_flag(self, name: str) -> bool:
        """A boolean query parameter (``true``/``1``)."""
        return self.request.query.get(name, "").lower() in ("1", "true")


Handler = Callable[[Call], Awaitable[Any]]


class Routes:
    """A list of (method, template, handler); templates match discord.py's ``Route`` paths."""

    def __init__(self) -> None:
        self.table: list[tuple[str, str, Handler]] = []

    def __call__(self, method: str, template: str) -> Callable[[Handler], Handler]:
        """Decorator registering a handler; a handler returning None answers 204."""

        def register(handler: Handler) -> Handler:
            self.table.append((method, template, handler))
            return handler

        return register
