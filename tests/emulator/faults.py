"""Rate limits as Discord applies them (50/s global, per-route buckets, invalid-request
counting) and injected faults: 429, 5xx, latency."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# Interaction endpoints are not bound by the global limit (Discord docs, "Rate Limits").
_GLOBAL_EXEMPT = ("/interactions/", "/webhooks/")

# The routes the silences use, as the emulator names them (and tests hold or fault them).
MEMBER_ROUTE = "/guilds/{guild_id}/members/{user_id}"
OVERWRITE_ROUTE = "/channels/{channel_id}/permissions/{target}"

# Discord's usual bucket sizes (the X-RateLimit-Limit it answers) for the routes the bot
# leans on; each bucket is per major parameter (channel or guild).
DISCORD_BUCKETS: dict[tuple[str | None, str], tuple[int, float]] = {
    ("POST", "/channels/{channel_id}/messages"): (5, 5.0),
    ("PATCH", MEMBER_ROUTE): (10, 10.0),
    ("PUT", OVERWRITE_ROUTE): (10, 10.0),
    ("DELETE", OVERWRITE_ROUTE): (10, 10.0),
}
# 401, 403 and 429 (but not 429s of scope "shared") count towards Discord's ban of
# 10,000 invalid requests per 10 minutes (Discord docs, "Invalid Request Limit").
INVALID_STATUSES = frozenset({401, 403, 429})
INVALID_LIMIT = 10_000
INVALID_WINDOW = 600.0


@dataclass
class RequestRecord:
    """One REST request as seen here (``route`` is the template, ``path`` the real one)."""

    method: str
    route: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[str]
    time: float
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # of the response
    # X-Audit-Log-Reason, decoded: what the server's moderators read in the audit log.
    audit_reason: str | None = None
    # Which client sent it, when several run (each bot process names itself here).
    user_agent: str = ""


@dataclass
class FaultResponse:
    """An error response the server sends instead of running the handler."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class UnservedRoute(ValueError):
    """A fault registered on a route the emulator does not serve would never fire."""


@dataclass
class FaultRule:
    """One registered fault; ``fired`` counts the requests it answered (assert on it)."""

    route: str
    method: str | None
    remaining: int
    status: int
    retry_after: float = 0.0
    scope: str = "user"
    fired: int = 0

    def matches(self, method: str, route: str) -> bool:
        return self.route == route and self.method in (None, method)


@dataclass
class _Bucket:
    limit: int
    per: float
    window_start: float = 0.0
    count: int = 0


@dataclass
class Faults:
    """Fault and rate-limit configuration; mutate it from tests (``emu.faults``)."""

    # (method, route template) pairs the server answers; empty means "not checked".
    served: frozenset[tuple[str, str]] = frozenset()
    latency: float = 0.0
    jitter: float = 0.01
    global_limit: int | None = 50
    global_window: float = 1.0
    default_bucket: tuple[int, float] = (10_000, 1.0)
    global_hits: int = 0
    invalid_limit: int = INVALID_LIMIT
    invalid_window: float = INVALID_WINDOW
    invalid_total: int = 0
    banned: bool = False
    _invalid: deque[float] = field(default_factory=deque)
    _rules: list[FaultRule] = field(default_factory=list)
    _limits: dict[tuple[str | None, str], tuple[int, float]] = field(
        default_factory=lambda: dict(DISCORD_BUCKETS)
    )
    _buckets: dict[tuple[str, str, str], _Bucket] = field(default_factory=dict)
    _global: _Bucket = field(default_factory=lambda: _Bucket(50, 1.0, -1.0))

    def rate_limit(
        self,
        route: str,
        *,
        method: str | None = None,
        retry_after: float = 0.05,
        times: int = 1,
        is_global: bool = False,
        shared: bool = False,
    ) -> FaultRule:
        """Answer the next ``times`` requests on ``route`` (a template) with 429.

        ``shared`` is Discord's per-resource limit (``X-RateLimit-Scope: shared``), which
        does not count as an invalid request."""
        scope = "global" if is_global else "shared" if shared else "user"
        return self._add(FaultRule(route, method, times, 429, retry_after, scope))

    def server_error(
        self, route: str, *, method: str | None = None, status: int = 500, times: int = 1
    ) -> FaultRule:
        """Answer the next ``times`` requests on ``route`` with an error status (5xx, 403...)."""
        return self._add(FaultRule(route, method, times, status))

    def missing_permissions(
        self, route: str, *, method: str | None = None, times: int = 1
    ) -> FaultRule:
        """Answer the next ``times`` requests on ``route`` with Discord's 403 50013, as when
        a permission was taken from the bot and its cache has not heard yet."""
        return self._add(FaultRule(route, method, times, 403))

    def _add(self, rule: FaultRule) -> FaultRule:
        """Register a rule, refusing one that no request could ever match."""
        self.check_served(rule.route, rule.method)
        self._rules.append(rule)
        return rule

    def check_served(self, route: str, method: str | None) -> None:
        """Raise `UnservedRoute` unless some request could match (faults and holds)."""
        if self.served and not any(
            route == served and method in (None, verb) for verb, served in self.served
        ):
            raise UnservedRoute(
                f"the emulator serves no {method or 'request'} on {route!r}; "
                "a fault there would never fire"
            )

    def set_bucket_limit(
        self, route: str, limit: int, per: float, *, method: str | None = None
    ) -> None:
        """Give a route a real per-bucket limit (e.g. 10 member PATCHes per 10 s per guild)."""
        self.check_served(route, method)
        self._limits[(method, route)] = (limit, per)

    def enforce_global_limit(self, limit: int = 50, window: float = 1.0) -> None:
        """Discord's global limit (on by default): ``limit`` requests per ``window`` seconds,
        counted in windows that open with the first request, like every Discord bucket."""
        self.global_limit, self.global_window = limit, window
        self._global = _Bucket(limit, window, -window)

    def check(self, method: str, route: str, major: str) -> FaultResponse | None:
        """Decide whether this request is answered by a fault instead of its handler."""
        for rule in self._rules:
            if rule.remaining > 0 and rule.matches(method, route):
                rule.remaining -= 1
                rule.fired += 1
                if rule.status == 429:
                    return _too_many(rule.retry_after, scope=rule.scope)
                if rule.status == 403:
                    return FaultResponse(403, {"message": "Missing Permissions", "code": 50013}, {})
                return FaultResponse(
                    rule.status, {"message": f"{rule.status}: Server Error", "code": 0}, {}
                )
        now = time.monotonic()
        if self.global_limit is not None and not route.startswith(_GLOBAL_EXEMPT):
            window = self._global
            if now >= window.window_start + self.global_window:
                window.window_start, window.count = now, 0
            if window.count >= self.global_limit:
                self.global_hits += 1
                wait = window.window_start + self.global_window - now
                return _too_many(round(max(wait, 0.001), 3), scope="global")
            window.count += 1
        bucket = self._bucket(method, route, major, now)
        bucket.count += 1
        if bucket.count > bucket.limit:
            response = _too_many(self._reset_after(bucket, now), scope="user")
            response.headers.update(self._headers(method, route, bucket, now))
            return response
        return None

    def delay(self) -> float:
        """How long this request takes on the wire: the fixed latency plus random jitter."""
        return self.latency + random.uniform(0.0, self.jitter)

    def count_response(self, status: int, headers: dict[str, str]) -> None:
        """Count an invalid request; at the limit the bot is banned, as Discord bans its IP."""
        if status not in INVALID_STATUSES or headers.get("X-RateLimit-Scope") == "shared":
            return
        now = time.monotonic()
        self.invalid_total += 1
        self._invalid.append(now)
        while self._invalid and self._invalid[0] <= now - self.invalid_window:
            self._invalid.popleft()
        if len(self._invalid) >= self.invalid_limit:
            self.banned = True

    @property
    def invalid_requests(self) -> int:
        """Invalid (401/403/429) requests in the last ``invalid_window`` seconds."""
        cutoff = time.monotonic() - self.invalid_window
        return sum(1 for moment in self._invalid if moment > cutoff)

    def headers(self, method: str, route: str, major: str) -> dict[str, str]:
        """X-RateLimit-* headers for a response (errors included, as on Discord)."""
        now = time.monotonic()
        return self._headers(method, route, self._bucket(method, route, major, now), now)

    def _bucket(self, method: str, route: str, major: str, now: float) -> _Bucket:
        key = (method, route, major)
        bucket = self._buckets.get(key)
        if bucket is None:
            limit, per = self._limits.get(
                (method, route), self._limits.get((None, route), self.default_bucket)
            )
            bucket = self._buckets[key] = _Bucket(limit, per, now)
        if now >= bucket.window_start + bucket.per:
            bucket.window_start, bucket.count = now, 0
        return bucket

    @staticmethod
    def _reset_after(bucket: _Bucket, now: float) -> float:
        return round(max(bucket.window_start + bucket.per - now, 0.001), 3)

    def _headers(self, method: str, route: str, bucket: _Bucket, now: float) -> dict[str, str]:
        reset_after = self._reset_after(bucket, now)
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(bucket.limit - bucket.count, 0)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": hashlib.md5(f"{method} {route}".encode()).hexdigest(),
        }


def _too_many(retry_after: float, *, scope: str) -> FaultResponse:
    """Discord's 429: discord.py only retries when ``Via`` is present and the body is JSON."""
    is_global = scope == "global"
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(max(1, round(retry_after))),
        "X-RateLimit-Scope": scope,
    }
    if is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": is_global,
    }
    if is_global:
        body["code"] = 0
    return FaultResponse(429, body, headers)


class HeldRequest:
    """A request the server stops before handling, so a test can act "between two calls".

    ``await held.reached()`` returns once the bot has sent it; then ``release()`` lets
    Discord handle it, or ``refuse()`` answers 503 without handling it (Discord never
    saw it: what a request cut off by the sender's death amounts to).
    """

    def __init__(self, method: str | None, route: str | None, skip: int) -> None:
        self.method, self.route, self.skip = method, route, skip
        self.record: RequestRecord | None = None
        self._reached = asyncio.Event()
        self._decision: asyncio.Future[bool] | None = None

    def matches(self, record: RequestRecord) -> bool:
        return self.method in (None, record.method) and self.route in (None, record.route)

    async def reached(self, within: float = 10.0) -> RequestRecord:
        """Wait until the held request has arrived."""
        await asyncio.wait_for(self._reached.wait(), within)
        assert self.record is not None
        return self.record

    @property
    def is_reached(self) -> bool:
        return self._reached.is_set()

    def release(self) -> None:
        self._decide(True)

    def refuse(self) -> None:
        self._decide(False)

    def _decide(self, handle: bool) -> None:
        if self._decision is None:
            self._decision = asyncio.get_running_loop().create_future()
        if not self._decision.done():
            self._decision.set_result(handle)

    async def wait(self, record: RequestRecord) -> bool:
        """Called by the server for the held request: True means handle it."""
        self.record = record
        if self._decision is None:
            self._decision = asyncio.get_running_loop().create_future()
        self._reached.set()
        return await self._decision


@dataclass
class Holds:
    """Requests to hold, in the order registered; each holds one request then retires."""

    pending: list[HeldRequest] = field(default_factory=list)
    retired: list[HeldRequest] = field(default_factory=list)

    def add(self, held: HeldRequest) -> HeldRequest:
        self.pending.append(held)
        return held

    def take(self, record: RequestRecord) -> HeldRequest | None:
        """The hold this request falls to, if any (counting down each hold's ``skip``)."""
        for held in self.pending:
            if not held.matches(record):
                continue
            if held.skip > 0:
                held.skip -= 1
                continue
            self.pending.remove(held)
            self.retired.append(held)
            return held
        return None

    def refuse_all(self) -> None:
        """Let the server stop: whatever is still held is answered without being handled."""
        for held in [*self.pending, *self.retired]:
            held.refuse()
