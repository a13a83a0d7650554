"""The bot's own pacing keeps it under Discord's global limit, and serves people first."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import random
import socket
from collections.abc import AsyncIterator
from contextlib import ExitStack
from dataclasses import dataclass

import aiohttp
import discord
import pytest
from aiohttp import web
from yarl import URL

from bot.ratelimit import (
    BUCKET_IDLE_AFTER,
    FORGET_BUCKETS_PAST,
    REQUESTS_PER_SECOND,
    WINDOW,
    DiscordPace,
    Priority,
    SlidingWindowLimiter,
    bucket_key,
    limiter_for,
    pace_requests,
    priority,
)
from bot.services.silence import move_route


async def test_no_more_than_the_limit_in_any_window() -> None:
    """60 acquisitions with a limit of 20 per 0.1 s take at least two more windows."""
    limiter = SlidingWindowLimiter(20, window=0.1)
    loop = asyncio.get_running_loop()
    times: list[float] = []

    async def one() -> None:
        limiter.release(await limiter.acquire())
        times.append(loop.time())

    await asyncio.gather(*(one() for _ in range(60)))
    times.sort()
    assert len(times) == 60
    for index in range(len(times) - 20):
        assert times[index + 20] - times[index] >= 0.1 - 1e-3
    assert times[-1] - times[0] >= 0.2 - 1e-3


async def test_under_the_limit_nobody_waits() -> None:
    limiter = SlidingWindowLimiter(50, window=1.0)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(limiter.acquire() for _ in range(50)))
    assert loop.time() - started < 0.05


async def test_past_the_first_few_reminders_of_a_window_they_are_spaced_evenly() -> None:
    """Fifty reminders at once fill both ends' event loops in one bunch: past
    `space_after` grants of one priority in a window, reminders and background work go
    one per window / limit (the limiter's clock is moved by hand; no timing of this
    machine is measured)."""
    clock = [0.0]
    limiter = SlidingWindowLimiter(40, window=0.4, clock=lambda: clock[0], space_after=5)
    for level in (Priority.TIMED, Priority.BACKGROUND):
        for _ in range(5):  # the first five at once
            await asyncio.wait_for(limiter.acquire(level), 1.0)
        sixth = asyncio.create_task(limiter.acquire(level))
        await asyncio.sleep(0.05)  # its timer fires, finds the clock unmoved, waits on
        assert not sixth.done()
        clock[0] += 0.01  # one spacing (window / limit) after the fifth
        await asyncio.wait_for(sixth, 1.0)
        clock[0] += 1.0  # the next priority starts in a window of its own


async def test_peoples_requests_are_never_spaced() -> None:
    """Leaders changing phase more than ten requests a second (a society's groups all
    meeting at seven) still get each change's requests at once, up to the budget."""
    clock = [0.0]
    limiter = SlidingWindowLimiter(40, window=0.4, clock=lambda: clock[0], space_after=5)
    for _ in range(40):  # with the clock still: any spacing would never end
        await asyncio.wait_for(limiter.acquire(Priority.PEOPLE), 1.0)
    assert limiter.waiting() == 0


async def test_people_go_before_reminders_before_background_whatever_the_arrival() -> None:
    limiter = SlidingWindowLimiter(2, window=0.05)
    limiter.release(await limiter.acquire())
    limiter.release(await limiter.acquire())
    served: list[str] = []

    async def one(name: str, level: Priority) -> None:
        with priority(level):
            limiter.release(await limiter.acquire())
        served.append(name)

    tasks = []
    for name, level in (
        ("sync-1", Priority.BACKGROUND),
        ("sync-2", Priority.BACKGROUND),
        ("reminder", Priority.TIMED),
        ("click", Priority.PEOPLE),
        ("sync-3", Priority.BACKGROUND),
        ("command", Priority.PEOPLE),
    ):
        tasks.append(asyncio.create_task(one(name, level)))
        await asyncio.sleep(0)  # each queued in this order
    assert limiter.waiting() == 6
    await asyncio.gather(*tasks)
    assert served == ["click", "command", "reminder", "sync-1", "sync-2", "sync-3"]


async def test_reminders_leave_the_reserved_slots_to_people() -> None:
    """Six reminders against a limit of 4 with 2 reserved: two go per window; a click
    queued behind them takes a reserved slot at once, without waiting for a window."""
    limiter = SlidingWindowLimiter(4, window=0.5, reserved=2)
    loop = asyncio.get_running_loop()
    sent: list[float] = []

    async def reminder() -> None:
        with priority(Priority.TIMED):
            limiter.release(await limiter.acquire())
        sent.append(loop.time())

    started = loop.time()
    reminders = [asyncio.create_task(reminder()) for _ in range(6)]
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(sent) == 2  # the first window: only the slots not reserved
    assert limiter.waiting() == 4
    for _ in range(2):
        limiter.release(await asyncio.wait_for(limiter.acquire(Priority.PEOPLE), 0.4))
    await asyncio.gather(*reminders)
    assert loop.time() - started >= 2 * 0.5 - 1e-3  # 2 a window: three windows


async def test_a_click_arriving_behind_a_reminder_is_not_held_to_the_reminders_wake_up() -> None:
    """The timer set for a reminder (waiting for a free unreserved slot) is brought forward
    when a click arrives that a reserved slot frees sooner."""
    limiter = SlidingWindowLimiter(3, window=1.0, reserved=1)
    loop = asyncio.get_running_loop()
    limiter.release(await limiter.acquire(Priority.PEOPLE))
    await asyncio.sleep(0.5)
    limiter.release(await limiter.acquire(Priority.PEOPLE))
    # full: a slot frees 0.5 s from now
    limiter.release(await limiter.acquire(Priority.PEOPLE))
    reminder = asyncio.create_task(limiter.acquire(Priority.TIMED))  # its slot: in 1 s
    await asyncio.sleep(0)
    started = loop.time()
    await limiter.acquire(Priority.PEOPLE)
    assert loop.time() - started < 0.8  # the first slot freed (0.5 s), not the reminder's
    await asyncio.wait_for(reminder, 2.0)


async def test_a_waiter_that_gives_up_holds_nobody_up() -> None:
    """No lock is held while waiting: cancelling a waiter frees its place at once."""
    limiter = SlidingWindowLimiter(1, window=0.05)
    limiter.release(await limiter.acquire())
    first = asyncio.create_task(limiter.acquire(Priority.PEOPLE))
    second = asyncio.create_task(limiter.acquire(Priority.BACKGROUND))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.wait_for(second, 1.0)
    assert first.cancelled()
    assert limiter.waiting() == 0


async def test_a_global_429_pauses_every_grant_then_paces_slower() -> None:
    limiter = SlidingWindowLimiter(5, window=0.05)
    loop = asyncio.get_running_loop()
    before = limiter.rate
    limiter.slow_down(0.2)
    started = loop.time()
    await limiter.acquire()
    assert loop.time() - started >= 0.2 - 1e-3  # nothing leaves during Discord's retry_after
    assert limiter.rate < before
    assert limiter.expected_wait() == 0.0


def test_expected_wait_counts_the_queue_at_the_current_pace() -> None:
    clock = [100.0]
    limiter = SlidingWindowLimiter(10, window=1.0, clock=lambda: clock[0])
    assert limiter.expected_wait() == 0.0
    limiter.slow_down(3.0)
    assert limiter.expected_wait() == 3.0


MOVES = "PATCH /guilds/{guild_id}/members/{member_id}:1"


def _pace(clock: list[float]) -> DiscordPace:
    return DiscordPace(SlidingWindowLimiter(50, window=1.0, clock=lambda: clock[0]),
                       clock=lambda: clock[0])


def test_an_emptied_bucket_is_waited_for_one_window_per_full_bucket_ahead() -> None:
    """Ten moves per 10 s in a server: the 25th queued waits for the refill, then two windows."""
    clock = [0.0]
    pace = _pace(clock)
    watches = []
    requests = ExitStack()  # 25 requests on their way, in order
    for _ in range(25):
        with pace.watch() as watch:
            requests.enter_context(pace._following(MOVES))
        watches.append(watch)
    pace.heard(MOVES, 200, {
        "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": "10.000",
    })
    clock[0] = 4.0
    assert watches[0].expected_wait() == 6.0
    assert watches[24].expected_wait() == 6.0 + 2 * 10.0
    requests.close()  # answered: nobody waits any more
    assert watches[24].expected_wait() == 0.0


def test_a_move_announced_before_it_is_made_counts_every_move_queued_before_it() -> None:
    """25 changes in one server, each still before its move (behind its own overwrite):
    the 25th is told the refill and two more windows of ten, not a moment; a move never
    made leaves the queue with its change."""
    clock = [0.0]
    pace = _pace(clock)
    watches = []
    changes = ExitStack()
    for member_id in range(25):
        with pace.watch() as watch:
            changes.enter_context(pace.expecting([move_route(1, member_id)]))
        watches.append(watch)
    pace.heard(bucket_key(move_route(1, 0)), 200, {
        "X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": "10.000",
    })
    clock[0] = 4.0
    assert watches[0].expected_wait() == 6.0
    assert watches[24].expected_wait() == 6.0 + 2 * 10.0
    changes.close()  # the changes ended without their moves
    assert not watches[24].waiting_on_discord()
    assert watches[24].expected_wait() == 0.0


def test_a_routes_429_is_waited_for_and_a_global_one_slows_everyone() -> None:
    clock = [0.0]
    pace = _pace(clock)
    with pace.watch() as watch, pace._following("PUT x:1"):
        pace.heard("PUT x:1", 429, {"Retry-After": "5", "X-RateLimit-Scope": "user"})
        assert watch.expected_wait() == 5.0
        pace.heard("PUT x:1", 429, {"Retry-After": "1", "X-RateLimit-Global": "true"})
        assert watch.expected_wait() == 5.0 + 1.0  # the refill, then the global pause
    assert (pace.route_429s, pace.global_429s) == (1, 1)
    assert pace.limiter.rate < 50


def test_the_bots_window_is_discords_second() -> None:
    """A slot is held until a second after its answer, so no margin is needed (or taken)."""
    assert (REQUESTS_PER_SECOND, WINDOW) == (50, 1.0)


async def test_a_slot_frees_a_window_after_its_answer_not_after_it_left() -> None:
    """Discord may count a request as late as just before answering it: until the answer
    is back the slot stays taken, however long that is, then a window more."""
    clock = [0.0]
    limiter = SlidingWindowLimiter(1, window=1.0, clock=lambda: clock[0])
    first = await limiter.acquire()
    second = asyncio.create_task(limiter.acquire())
    clock[0] = 5.0  # the first left long ago and is still unanswered
    await asyncio.sleep(0.02)
    assert not second.done()
    limiter.release(first)
    await asyncio.sleep(0.02)
    assert not second.done()  # answered just now: Discord's second may still be open
    clock[0] = 6.0
    limiter._on_timer()  # the limiter's own timer, set on the real clock
    await asyncio.wait_for(second, 1.0)


async def test_never_more_than_the_limit_in_any_window_however_requests_travel() -> None:
    """Each request reaches Discord anywhere between leaving and its answer coming back,
    after a random time on the wire: whatever the machine's timing, no window of
    Discord's (starting anywhere) counts more than the limit. Counted by send time
    instead, late arrivals pile onto the next window's."""
    limit, window = 10, 0.05
    limiter = SlidingWindowLimiter(limit, window=window)
    loop = asyncio.get_running_loop()
    randomly = random.Random(13)
    arrivals: list[float] = []
    departures: list[float] = []
    answers: list[float] = []

    async def request() -> None:
        slot = await limiter.acquire()
        left = loop.time()
        departures.append(left)
        await asyncio.sleep(randomly.uniform(0.0, 0.6 * window))
        answered = loop.time()
        answers.append(answered)
        arrivals.append(left + randomly.random() * (answered - left))
        limiter.release(slot)

    await asyncio.gather(*(request() for _ in range(120)))
    arrivals.sort()
    busiest = max(bisect.bisect_left(arrivals, start + window) - index
                  for index, start in enumerate(arrivals))
    assert busiest <= limit
    # The budget was used, not only respected: a full window's worth left at once.
    assert sum(1 for left in departures if left < min(answers)) == limit


async def test_a_request_cancelled_as_its_slot_came_gives_the_slot_back() -> None:
    clock = [0.0]
    limiter = SlidingWindowLimiter(1, window=1.0, clock=lambda: clock[0])
    held = await limiter.acquire()
    waiter = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0)
    clock[0] = 1.0
    limiter.release(held)
    clock[0] = 2.0
    limiter._on_timer()  # the slot goes to the waiter ...
    waiter.cancel()  # ... which is cancelled before it runs
    with contextlib.suppress(asyncio.CancelledError):
        await waiter
    clock[0] = 3.0
    await asyncio.wait_for(limiter.acquire(), 1.0)


async def test_after_a_calm_stretch_the_pace_comes_back() -> None:
    """A widened window narrows again once a window's worth of grants met no 429."""
    limiter = SlidingWindowLimiter(5, window=0.05)
    base = limiter.rate
    limiter.slow_down(0.0)
    limiter.slow_down(0.0)
    slowed = limiter.rate
    for _ in range(5):
        limiter.release(await limiter.acquire())
    assert slowed < limiter.rate < base
    for _ in range(20 * 5):
        limiter.release(await limiter.acquire())
    assert limiter.rate == base


async def test_a_request_that_fails_on_the_wire_gives_its_slot_back() -> None:
    """A request with no answer at all (the connection refused) frees its slot a window
    after failing, like an answered one; kept, it would shrink the budget for good."""
    clock = [0.0]
    limiter = SlidingWindowLimiter(1, window=1.0, clock=lambda: clock[0])
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    pace_requests(http, limiter)
    assert http.http_trace is not None
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    api = URL(discord.http.Route.BASE).path
    async with aiohttp.ClientSession(trace_configs=[http.http_trace]) as session:
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}{api}/users/@me")
    clock[0] = 1.0
    await asyncio.wait_for(limiter.acquire(), 1.0)


def test_processes_split_discords_one_budget_by_their_shards() -> None:
    """Discord counts the bot's token, not a process: two processes of half the shards
    each go at 25 a second, so together they stay within 50."""
    assert limiter_for(1.0).rate == REQUESTS_PER_SECOND / WINDOW
    assert limiter_for(0.5).rate == limiter_for(1.0).rate / 2
    assert limiter_for(0.001).rate == 1 / WINDOW  # never nothing at all


async def test_an_emptied_bucket_holds_its_requests_until_their_window_ends() -> None:
    """Once a route's bucket has been emptied, each of its requests holds a slot from
    leaving until the window that counted it ends (its answer's Reset-After): discord.py
    counts a bucket by its answers, which can come back out of order, and would then
    send a full bucket into a window of Discord's already begun."""
    clock = [0.0]
    pace = _pace(clock)
    with pace._following(MOVES):
        pace.heard(MOVES, 200, {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "1",
                                "X-RateLimit-Reset-After": "10.000"})
        assert pace.gate(MOVES) is None  # never emptied: discord.py's own count is enough
        pace.heard(MOVES, 200, {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0",
                                "X-RateLimit-Reset-After": "9.500"})
    gate = pace.gate(MOVES)
    assert gate is not None
    assert (gate.limit, gate.rate) == (2, 2 / 10.0)  # the bucket's size, its whole window
    first, second = await gate.acquire(), await gate.acquire()
    third = asyncio.create_task(gate.acquire())
    clock[0] = 30.0
    await asyncio.sleep(0.02)
    assert not third.done()  # both unanswered: either may yet be counted
    gate.release(first, 4.0)  # counted in a window that ends 4 s from now
    gate.release(second)  # failed: held a whole window
    clock[0] = 33.9
    gate._on_timer()
    await asyncio.sleep(0.02)
    assert not third.done()
    clock[0] = 34.0  # the first's window is over: Discord has refilled the bucket
    gate._on_timer()
    await asyncio.wait_for(third, 1.0)


def test_buckets_unused_for_minutes_are_forgotten_once_many_are_known() -> None:
    """A national bot touches a route in tens of thousands of channels: as discord.py
    does, past 256 known buckets those idle five minutes are forgotten, but never one
    still in use, still refilling, or whose gate still holds a slot."""
    clock = [0.0]
    pace = _pace(clock)
    busy, refilling = ExitStack(), "PUT /channels/{channel_id}/permissions:refilling"
    busy.enter_context(pace._following("PUT /channels/{channel_id}/permissions:busy"))
    with pace._following(refilling):
        pace.heard(refilling, 200, {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
                                    "X-RateLimit-Reset-After": "1000"})
    for channel_id in range(FORGET_BUCKETS_PAST):
        with pace._following(f"PUT /channels/{{channel_id}}/permissions:{channel_id}"):
            pass
    with pace._following(MOVES):
        pace.heard(MOVES, 200, {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
                                "X-RateLimit-Reset-After": "10"})
    gate = pace.gate(MOVES)
    assert gate is not None
    held = asyncio.run(gate.acquire())  # a move on its way
    clock[0] = BUCKET_IDLE_AFTER - 1
    with pace._following("PUT /channels/{channel_id}/permissions:new"):
        pass
    assert len(pace._buckets) == FORGET_BUCKETS_PAST + 4  # nothing idle long enough yet
    clock[0] = BUCKET_IDLE_AFTER + 10
    with pace._following("PUT /channels/{channel_id}/permissions:newer"):
        pass
    assert set(pace._buckets) == {"PUT /channels/{channel_id}/permissions:busy", refilling,
                                  MOVES, "PUT /channels/{channel_id}/permissions:new",
                                  "PUT /channels/{channel_id}/permissions:newer"}
    assert pace.gate(MOVES) is gate  # still holding a slot: Discord's window not over
    gate.release(held, 0.0)
    clock[0] = 2000.0  # past every refill and window
    for channel_id in range(FORGET_BUCKETS_PAST):  # known again past the threshold
        with pace._following(f"PUT /channels/{{channel_id}}/permissions:{channel_id}"):
            pass
    assert pace.gate(MOVES) is None
    assert refilling not in pace._buckets
    assert "PUT /channels/{channel_id}/permissions:busy" in pace._buckets
    busy.close()


def test_a_bucket_found_larger_gets_a_gate_of_its_new_size() -> None:
    clock = [0.0]
    pace = _pace(clock)
    with pace._following(MOVES):
        pace.heard(MOVES, 429, {"X-RateLimit-Limit": "5", "X-RateLimit-Reset-After": "5",
                                "X-RateLimit-Scope": "user"})
        first = pace.gate(MOVES)
        pace.heard(MOVES, 200, {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": "0",
                                "X-RateLimit-Reset-After": "5"})
    assert first is not None
    assert first.limit == 5
    resized = pace.gate(MOVES)
    assert resized is not None
    assert resized is not first
    assert resized.limit == 10


@dataclass
class _DiscordHttp:
    """discord.py's real HTTP client, paced by the bot, against a small server answering
    member moves with the next of `move_headers`."""

    http: discord.http.HTTPClient
    pace: DiscordPace
    move_headers: list[dict[str, str]]


@pytest.fixture
async def discord_http(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[_DiscordHttp]:
    move_headers: list[dict[str, str]] = []

    async def move(_: web.Request) -> web.Response:
        return web.json_response({}, headers=move_headers.pop(0) if move_headers else {})

    async def me(_: web.Request) -> web.Response:
        return web.json_response({"id": "1", "username": "bot", "discriminator": "0",
                                  "avatar": None})

    app = web.Application()
    app.router.add_patch("/api/v10/guilds/{guild}/members/{member}", move)
    app.router.add_get("/api/v10/users/@me", me)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    pace = pace_requests(http, SlidingWindowLimiter(50))
    try:
        await http.static_login("token")
        yield _DiscordHttp(http, pace, move_headers)
    finally:
        await http.close()
        await runner.cleanup()


async def test_a_gated_requests_slot_frees_when_its_answer_says_the_window_ends(
    discord_http: _DiscordHttp,
) -> None:
    """Through discord.py's real HTTP client and the bot's trace hooks: once the bucket
    was emptied, the next request's slot frees when its answer's Reset-After says, not a
    whole window (the longest Reset-After seen) after it. No timing is asserted."""
    discord_http.move_headers.extend(
        {"X-RateLimit-Limit": "1", "X-RateLimit-Remaining": "0",
         "X-RateLimit-Reset-After": reset, "X-RateLimit-Bucket": "moves"}
        for reset in ("0.6", "0")
    )
    for _ in range(2):
        await discord_http.http.edit_member(7, 8, channel_id=9)
    gate = discord_http.pace.gate(bucket_key(move_route(7, 8)))
    assert gate is not None
    assert gate.rate == 1 / 0.6  # its window: the longest Reset-After seen
    # Its window is over as it answers: the slot is free at once, without waiting.
    taking = asyncio.create_task(gate.acquire())
    await asyncio.sleep(0)
    assert taking.done()


async def test_an_announced_move_is_the_one_discord_py_then_makes(
    discord_http: _DiscordHttp,
) -> None:
    """The move announced for a member is the request discord.py's `edit_member` makes
    (the same bucket): it takes the announced place instead of queueing a second time."""
    pace = discord_http.pace
    with pace.watch() as watch, pace.expecting([move_route(7, 8)]):
        assert watch.waiting_on_discord()  # queued from the announcement on
        await discord_http.http.edit_member(7, 8, channel_id=9)
        assert len(watch.tickets) == 1
        assert not watch.waiting_on_discord()
