"""Keeping under Discord's global rate limit instead of running into it, people first.

Discord allows a bot about 50 requests a second across all routes (interaction
callbacks and webhooks aside). discord.py only reacts to a 429 after the fact and
gives up after five tries, and every 429 counts towards the 10,000 invalid
requests in 10 minutes that get a bot's IP banned. So the bot paces itself.

When the budget is short, who waits matters: a leader's click must not queue
behind a thousand reminders or a start-up check of every server. Each request
carries the priority of the work it belongs to (a context variable, inherited by
the tasks that work starts), and a freed slot goes to the most urgent waiter. A few
slots of every window are people's alone, so a click during a reminder burst does not
wait for one to free at all.

The budget is taken where Discord counts it: as the request leaves (an aiohttp trace
hook), after discord.py has waited out the route's own bucket and before each retry.
Taken earlier, a slot would be spent on a request then parked for seconds behind a
per-route bucket (10 moves per 10 s in a server), and the slot wasted. And it is given
back only a window after the answer came back: Discord counted the request somewhere
between leaving and answering, so a slot held that long can never share one of
Discord's seconds with fifty others, however unevenly the requests travel.
"""

from __future__ import annotations

import asyncio
import enum
import heapq
import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import aiohttp
import discord
from yarl import URL

# Interaction responses and follow-ups are not counted by Discord's global limit.
EXEMPT_PREFIXES = ("/interactions/", "/webhooks/")
# Discord's global limit: 50 requests a second (docs, "Rate Limits"), counted in windows
# of its own. A slot is held until a second after its request's answer (see above), so
# the bot's window is exactly Discord's: no margin for requests arriving unevenly.
REQUESTS_PER_SECOND = 50
WINDOW = 1.0
# Each global 429 (Discord counting differently from us) widens the window this much;
# every full window's worth of grants without one narrows it back by a fifth of that.
WIDEN_ON_429 = 0.05
NARROW_AFTER_CALM = 0.01
MAX_WINDOW = 1.5
# Slots of each window that reminders and background work leave free, so that a leader's
# change finds one at once even while a thousand reminders go out (3 requests per
# change; reminders then go at 45/s, not 50).
RESERVED_FOR_PEOPLE = 5
# Past this many grants of one priority in a window, reminders and background requests
# are spaced evenly (a window's worth over the window) instead of going out fifty at once:
# a bunch fills both ends' event loops at once, so a leader's click waits behind it even
# with the first slot. A phase change during 1,700 reminders, p99 against idle: 2.3-3.0x
# bunched, 1.3-1.8x spaced (benchmarks/priority.py). People's requests are never spaced:
# a change's three or four requests leave together, and spacing them (as it did whenever
# people's work passed ten requests a second) held its third request 40 ms.
SPACE_AFTER = 10
# As discord.py does with its own buckets: once this many are known, those unused this
# long (nothing queued, refilled, no slot of their gate held) are forgotten. A bucket is
# a route in one channel or server, and a national bot touches tens of thousands.
FORGET_BUCKETS_PAST = 256
BUCKET_IDLE_AFTER = 300.0


class Priority(enum.IntEnum):
    """Whose work a request is for; lower goes first."""

    PEOPLE = 0  # commands, clicks, voice changes, the live meeting's cues
    TIMED = 1  # reminders and follow-up prompts: due at a minute, not a millisecond
    BACKGROUND = 2  # start-up checks, planning, syncing, retention


# Unmarked work (gateway events, interactions) is someone's action: served first.
work_priority: ContextVar[Priority] = ContextVar("work_priority", default=Priority.PEOPLE)


@contextmanager
def priority(level: Priority) -> Iterator[None]:
    """Run a block (and the tasks it starts) at `level`."""
    token = work_priority.set(level)
    try:
        yield
    finally:
        work_priority.reset(token)


class SlidingWindowLimiter:
    """At most `limit` requests counted in any `window` seconds, however Discord places
    them between leaving and answering: a grant holds its slot until `window` after it
    is released (its answer came back), or for as long as `release` is told. Waiters
    are served by priority, then arrival, and `reserved` of the slots only for people's
    work; past `space_after` grants of one priority in a window (if given), reminders
    and background work go at most one per `window / limit` (people's never). Nobody
    holds a lock while waiting: one timer hands out each freed slot."""

    def __init__(self, limit: int, window: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, *, reserved: int = 0,
                 space_after: int | None = None) -> None:
        self._limit = limit
        self._reserved = min(reserved, limit - 1)
        self._space_after = space_after
        self._window = self._base_window = window
        self._calm = 0  # grants since the last global 429
        self._clock = clock
        self._slot_numbers = itertools.count()
        self._unanswered: set[int] = set()  # granted slots whose answer has not come back
        self._freeing: list[float] = []  # heap: when each answered slot frees
        self._granted_by_rank: dict[int, deque[float]] = {}
        self._waiting: list[tuple[int, int, asyncio.Future[int]]] = []
        self._arrivals = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = 0.0
        self._paused_until = 0.0

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def rate(self) -> float:
        """Grants per second at the current pace."""
        return self._limit / self._window

    def waiting(self) -> int:
        """Requests queued for a slot (for benchmarks and the leader's progress note)."""
        return sum(1 for _, _, future in self._waiting if not future.done())

    def idle(self) -> bool:
        """Nothing waits and no slot is held: forgetting this limiter loses nothing."""
        return not self.waiting() and self._held() == 0

    def expected_wait(self) -> float:
        """Seconds a request queued now would wait, at the current pace."""
        return max(self._paused_until - self._clock(), 0.0) + self.waiting() / self.rate

    def slow_down(self, retry_after: float) -> None:
        """Discord answered a global 429: grant nothing for `retry_after` seconds, then
        go on at a slightly slower pace (our count and Discord's disagree)."""
        self._paused_until = max(self._paused_until, self._clock() + retry_after)
        self._window = min(self._window + WIDEN_ON_429, MAX_WINDOW)
        self._calm = 0

    def _grant(self, rank: int) -> int:
        if self._space_after is not None and rank != Priority.PEOPLE:
            self._granted_by_rank.setdefault(rank, deque()).append(self._clock())
        slot = next(self._slot_numbers)
        self._unanswered.add(slot)
        self._calm += 1
        if self._calm >= self._limit and self._window > self._base_window:
            self._calm = 0
            self._window = max(self._window - NARROW_AFTER_CALM, self._base_window)
        return slot

    async def acquire(self, level: Priority | None = None) -> int:
        """Wait for a slot; returns it, to `release` once the request is answered."""
        rank = work_priority.get() if level is None else level
        if not self._waiting and self._has_room(rank):
            return self._grant(rank)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (rank, next(self._arrivals), future))
        self._hand_out()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # granted, then cancelled
                self.release(future.result())
            raise

    def release(self, slot: int, frees_in: float | None = None) -> None:
        """The slot's request was answered (or failed): it frees a window from now, or in
        `frees_in` seconds when Discord said when the window that counted it ends."""
        if slot not in self._unanswered:
            return
        self._unanswered.discard(slot)
        heapq.heappush(self._freeing,
                       self._clock() + (self._window if frees_in is None else frees_in))
        if self._waiting:
            self._hand_out()

    def _slots(self, rank: int) -> int:
        """How many grants a window may hold when the next one is for `rank`."""
        return self._limit if rank == Priority.PEOPLE else self._limit - self._reserved

    def _held(self) -> int:
        """Slots taken now: unanswered ones, and answered ones not yet freed."""
        now = self._clock()
        while self._freeing and self._freeing[0] <= now:
            heapq.heappop(self._freeing)
        return len(self._unanswered) + len(self._freeing)

    def _has_room(self, rank: int) -> bool:
        now = self._clock()
        if now < self._paused_until:
            return False
        return self._held() < self._slots(rank) and now >= self._spaced_until(rank)

    def _spaced_until(self, rank: int) -> float:
        """When the next grant for `rank` may go, by the even spacing past `space_after`
        of its own grants in the window (none recorded for people: no spacing)."""
        own = self._granted_by_rank.get(rank)
        if not own or self._space_after is None:
            return 0.0
        expired = self._clock() - self._window
        while own and own[0] <= expired:
            own.popleft()
        if len(own) < self._space_after:
            return 0.0
        return own[-1] + self._window / self._limit

    def _hand_out(self) -> None:
        """Grant freed slots to the most urgent waiters; wake again when the next frees
        for the most urgent one left (sooner than planned if a more urgent one came). A
        slot still waiting for its answer frees by `release`, not by the clock."""
        while self._waiting:
            rank, _, future = self._waiting[0]
            if future.done():  # a cancelled waiter gives its place up
                heapq.heappop(self._waiting)
            elif self._has_room(rank):
                heapq.heappop(self._waiting)
                future.set_result(self._grant(rank))
            else:
                break
        if not self._waiting:
            return
        now = self._clock()
        due = max(self._paused_until, self._spaced_until(self._waiting[0][0]))
        # The answered slot whose expiry brings the count under the limit, if any.
        expiring = self._held() - self._slots(self._waiting[0][0])
        if expiring >= len(self._freeing):
            if due <= now:
                return  # only an answer can free a slot
        elif expiring >= 0:
            due = max(due, heapq.nsmallest(expiring + 1, self._freeing)[-1])
        if self._timer is not None and self._timer_due <= due:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_due = due
        self._timer = asyncio.get_running_loop().call_later(max(due - now, 0), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._hand_out()


def limiter_for(share: float) -> SlidingWindowLimiter:
    """This process's part of the global budget. Discord counts every request made with
    the bot's token against one 50 a second, whichever process sends it, so a process
    holding half the shards takes half (each shard's part of the guilds, and so of the
    work, is about the same). Reserved slots and spacing shrink alike."""
    def part(whole: int) -> int:
        return max(int(whole * share), 1)

    return SlidingWindowLimiter(part(REQUESTS_PER_SECOND), WINDOW,
                                reserved=part(RESERVED_FOR_PEOPLE),
                                space_after=part(SPACE_AFTER))


@dataclass(eq=False)  # each request is itself, whatever its route
class _Ticket:
    """One REST request of the bot, from the call until discord.py returns it."""

    bucket: str
    # Answered (not refused with a 429): what is left is discord.py sleeping out the
    # bucket it emptied, which holds no request queued behind it past the refill.
    answered: bool = False


@dataclass
class _Bucket:
    """What Discord last said about one per-route bucket (X-RateLimit-* headers)."""

    limit: int = 1
    per: float = 0.0  # the longest Reset-After seen: the bucket's window
    refills_at: float = 0.0  # when an exhausted bucket (Remaining 0, or a 429) refills
    pending: list[_Ticket] = field(default_factory=list)
    last_used: float = 0.0
    # Once the bucket has been emptied: its requests held from leaving until the window
    # that counted them ends (as their answer says). discord.py counts a bucket by its
    # answers, which can come back out of order (an answer from the last window read
    # after one from this window), and then sends a full bucket into a window already
    # begun.
    gate: SlidingWindowLimiter | None = None

    def idle(self, now: float) -> bool:
        """Unused long enough, and holding nothing back, to be forgotten."""
        return (not self.pending and now - self.last_used >= BUCKET_IDLE_AFTER
                and self.refills_at <= now and (self.gate is None or self.gate.idle()))

    def emptied(self, clock: Callable[[], float]) -> None:
        """The bucket ran dry: gate it from now on (anew if Discord changed its size)."""
        if self.per > 0 and (self.gate is None or self.gate.limit != self.limit):
            self.gate = SlidingWindowLimiter(self.limit, self.per, clock)


class Watch:
    """The requests one piece of work (a phase change) made, to tell its waiting."""

    def __init__(self, pace: DiscordPace) -> None:
        self._pace = pace
        self.tickets: list[_Ticket] = []

    def waiting_on_discord(self) -> bool:
        """Whether some of its requests are still unanswered (queued, or on the wire)."""
        return any(self._pace.is_pending(t) for t in self.tickets)

    def expected_wait(self) -> float:
        """Seconds until the slowest of its unanswered requests is likely sent."""
        return max((self._pace.expected_wait(t) for t in self.tickets), default=0.0)


_watch: ContextVar[Watch | None] = ContextVar("_watch", default=None)
# Requests announced by `DiscordPace.expecting` and not made yet, already in their queues.
_expected: ContextVar[list[_Ticket] | None] = ContextVar("_expected", default=None)


def bucket_key(route: discord.http.Route) -> str:
    """The bucket discord.py counts a route's requests in: the route and its major
    parameters (its channel, server or webhook)."""
    return f"{route.key}:{route.major_parameters}"


class DiscordPace:
    """The bot's side of Discord's rate limits: the global limiter, fed by the answers'
    headers, and an estimate of how long a request still waits."""

    def __init__(self, limiter: SlidingWindowLimiter,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limiter = limiter
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self.global_429s = 0
        self.route_429s = 0

    @contextmanager
    def watch(self) -> Iterator[Watch]:
        """Follow the requests made in this block (and the tasks it starts)."""
        watch = Watch(self)
        token = _watch.set(watch)
        try:
            yield watch
        finally:
            _watch.reset(token)

    def is_pending(self, ticket: _Ticket) -> bool:
        bucket = self._buckets.get(ticket.bucket)
        return bucket is not None and ticket in bucket.pending

    def expected_wait(self, ticket: _Ticket) -> float:
        """The route's bucket (its refill, then one window per full bucket of unanswered
        requests ahead), then the global queue; an answered request waits for the refill
        alone."""
        bucket = self._buckets.get(ticket.bucket)
        if bucket is None or ticket not in bucket.pending:
            return 0.0
        refill = max(bucket.refills_at - self._clock(), 0.0)
        if ticket.answered:
            return refill
        ahead = sum(not t.answered for t in bucket.pending[:bucket.pending.index(ticket)])
        return refill + (ahead // bucket.limit) * bucket.per + self.limiter.expected_wait()

    @contextmanager
    def expecting(self, routes: Iterable[discord.http.Route]) -> Iterator[None]:
        """Queue the requests this block is about to make in their buckets now, so that a
        wait told meanwhile counts them and everything queued before them: a change
        whose move is still behind its own overwrite must count every move planned in
        its server (ten a server per 10 s), not only those already sent. Each request
        made in the block takes its place; one not made leaves the queue with the block."""
        expected = [_Ticket(bucket_key(route)) for route in routes]
        for ticket in expected:
            self._queue(ticket)
        token = _expected.set(expected)
        try:
            yield
        finally:
            _expected.reset(token)
            for ticket in expected:  # announced, never made
                self._buckets[ticket.bucket].pending.remove(ticket)

    def _queue(self, ticket: _Ticket) -> None:
        now = self._clock()
        bucket = self._buckets.get(ticket.bucket)
        if bucket is None:
            if len(self._buckets) >= FORGET_BUCKETS_PAST:
                for key in [k for k, known in self._buckets.items() if known.idle(now)]:
                    del self._buckets[key]
            bucket = self._buckets[ticket.bucket] = _Bucket()
        bucket.last_used = now
        bucket.pending.append(ticket)
        watch = _watch.get()
        if watch is not None:
            watch.tickets.append(ticket)

    @contextmanager
    def _following(self, key: str) -> Iterator[_Ticket]:
        expected = _expected.get() or []
        ticket = next((t for t in expected if t.bucket == key), None)
        if ticket is None:
            ticket = _Ticket(key)
            self._queue(ticket)
        else:
            expected.remove(ticket)  # queued (and watched) since it was announced
        try:
            yield ticket
        finally:
            self._buckets[key].pending.remove(ticket)

    def heard(self, key: str, status: int, headers: Any,
              retry_after: float | None = None) -> None:
        """Learn from an answer's headers: the bucket's size and refill, a global 429
        (`retry_after`: the body's exact figure; the header is rounded up to seconds)."""
        now = self._clock()
        if is_global_429(status, headers):
            self.global_429s += 1
            self.limiter.slow_down(retry_after or _seconds(headers.get("Retry-After"), 1.0))
            return
        bucket = self._buckets.get(key)
        if bucket is None:
            return
        reset_after = _seconds(headers.get("X-RateLimit-Reset-After"), 0.0)
        if "X-RateLimit-Limit" in headers:
            bucket.limit = max(int(headers["X-RateLimit-Limit"]), 1)
            bucket.per = max(bucket.per, reset_after)
        if status == 429:
            self.route_429s += 1
            bucket.refills_at = now + (reset_after or _seconds(headers.get("Retry-After"), 1.0))
            bucket.emptied(self._clock)
        elif headers.get("X-RateLimit-Remaining") == "0":
            bucket.refills_at = now + reset_after
            bucket.emptied(self._clock)

    def gate(self, key: str) -> SlidingWindowLimiter | None:
        """The bucket's own limiter, once it has been emptied (see `_Bucket.gate`)."""
        bucket = self._buckets.get(key)
        return None if bucket is None else bucket.gate


def is_global_429(status: int, headers: Any) -> bool:
    return status == 429 and bool(headers.get("X-RateLimit-Global")
                                  or headers.get("X-RateLimit-Scope") == "global")


def _seconds(value: str | None, default: float) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default


_current_ticket: ContextVar[_Ticket | None] = ContextVar("_current_ticket", default=None)


def pace_requests(http: discord.http.HTTPClient, limiter: SlidingWindowLimiter) -> DiscordPace:
    """Make every counted REST request of this client wait for the limiter as it leaves
    (retries included), and learn from every answer. Call before the client logs in."""
    pace = DiscordPace(limiter)
    send: Callable[..., Awaitable[Any]] = http.request

    async def followed(route: discord.http.Route, **kwargs: Any) -> Any:
        with pace._following(bucket_key(route)) as ticket:
            token = _current_ticket.set(ticket)
            try:
                return await send(route, **kwargs)
            finally:
                _current_ticket.reset(token)

    def counted(url: URL) -> bool:
        api = URL(discord.http.Route.BASE).path
        path = url.path
        return path.startswith(api + "/") and not path[len(api):].startswith(EXEMPT_PREFIXES)

    async def leaving(_: aiohttp.ClientSession, request: SimpleNamespace,
                      params: aiohttp.TraceRequestStartParams) -> None:
        if not counted(params.url):
            return
        ticket = _current_ticket.get()
        gate = None if ticket is None else pace.gate(ticket.bucket)
        if gate is not None:
            request.route_slot = gate, await gate.acquire()
        try:
            request.slot = await limiter.acquire()
        except BaseException:
            give_back(request)  # no answer will come to give it back
            raise

    def give_back(request: SimpleNamespace, window_ends_in: float | None = None) -> None:
        """Free the request's slots. Its route slot frees when the bucket's window that
        counted it ends, if the answer said (`window_ends_in`): Discord refills a bucket
        whole, so holding each slot a full window from its own answer would hold a
        leader's move back behind a refill Discord has already made."""
        route_slot = getattr(request, "route_slot", None)
        if route_slot is not None:
            gate, slot = route_slot
            gate.release(slot, window_ends_in)
        slot = getattr(request, "slot", None)
        if slot is not None:
            limiter.release(slot)

    async def failed(_: aiohttp.ClientSession, request: SimpleNamespace,
                     __: aiohttp.TraceRequestExceptionParams) -> None:
        give_back(request)

    async def answered(_: aiohttp.ClientSession, request: SimpleNamespace,
                       params: aiohttp.TraceRequestEndParams) -> None:
        response, retry_after = params.response, None
        reset_after = response.headers.get("X-RateLimit-Reset-After")
        give_back(request, None if reset_after is None else _seconds(reset_after, 0.0))
        if not counted(params.url):
            return
        if is_global_429(response.status, response.headers):
            # Read here (aiohttp keeps the body for discord.py): the exact pause.
            with suppress(aiohttp.ClientError, ValueError, KeyError, TypeError):
                retry_after = float((await response.json(content_type=None))["retry_after"])
        ticket = _current_ticket.get()
        if ticket is not None:
            ticket.answered = response.status != 429  # refused: it goes again
        pace.heard("" if ticket is None else ticket.bucket, response.status, response.headers,
                   retry_after)

    trace = http.http_trace or aiohttp.TraceConfig()
    trace.on_request_start.append(leaving)
    trace.on_request_end.append(answered)
    trace.on_request_exception.append(failed)
    http.http_trace = trace
    setattr(http, "request", followed)  # noqa: B010 - an instance attribute, by design
    return pace
