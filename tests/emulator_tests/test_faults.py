"""Rate limits and server errors, handled by discord.py's real HTTP client."""

from __future__ import annotations

import asyncio
import time

import discord
import pytest

from tests.emulator.faults import UnservedRoute
from tests.emulator.permissions import P

from .conftest import Scene

MESSAGES = "/channels/{channel_id}/messages"


async def test_injected_429_is_waited_out(scene: Scene, channel: discord.TextChannel) -> None:
    """discord.py sleeps retry_after and retries; the message is sent once."""
    fault = scene.emu.faults.rate_limit(MESSAGES, method="POST", retry_after=0.1)
    await channel.send("hello")
    assert fault.fired == 1
    first, second = scene.emu.requests("POST", MESSAGES)
    assert (first.status, second.status) == (429, 200)
    assert second.time - first.time >= 0.1
    assert [m.content for m in scene.emu.messages(channel.id)] == ["hello"]


async def test_5xx_is_retried(scene: Scene, channel: discord.TextChannel) -> None:
    """A 502 is retried by discord.py (after its own 1 s backoff)."""
    fault = scene.emu.faults.server_error(MESSAGES, method="POST", status=502)
    await channel.send("hello")
    assert fault.fired == 1
    assert [r.status for r in scene.emu.requests("POST", MESSAGES)] == [502, 200]


async def test_rate_limit_headers_are_sent(scene: Scene, channel: discord.TextChannel) -> None:
    """Successful responses carry X-RateLimit-*; a real bucket limit makes discord.py wait."""
    scene.emu.faults.set_bucket_limit(MESSAGES, 2, 0.2, method="POST")
    for text in ("a", "b", "c"):
        await channel.send(text)
    statuses = [r.status for r in scene.emu.requests("POST", MESSAGES)]
    assert statuses == [200, 200, 200]  # pre-emptively waited on remaining == 0
    times = [r.time for r in scene.emu.requests("POST", MESSAGES)]
    assert times[2] - times[0] >= 0.15


async def test_global_limit_of_50_per_second(scene: Scene, channel: discord.TextChannel) -> None:
    """With enforcement on, a burst of 60 gets global 429s, is retried, and never exceeds 50
    in a window. The window is wider than Discord's second so that a loaded test machine
    still sends the whole burst inside one window."""
    window = 3.0
    started = time.monotonic()
    scene.emu.faults.enforce_global_limit(50, window)  # a fresh window opens with the next request
    message = await channel.send("x")
    await asyncio.gather(*(channel.fetch_message(message.id) for _ in range(60)))
    served = sorted(r.time for r in scene.emu.request_log if r.status == 200 and r.time >= started)
    assert len(served) == 61
    assert scene.emu.faults.global_hits > 0
    assert len([t for t in served if t < served[0] + window]) == 50
    rejected = [r for r in scene.emu.request_log if r.status == 429]
    assert rejected
    assert all(r.route == "/channels/{channel_id}/messages/{message_id}" for r in rejected)


def test_a_fault_on_a_route_not_served_is_refused(scene: Scene) -> None:
    """A misspelt route template would never fire: registering it raises at once."""
    with pytest.raises(UnservedRoute, match="target_id"):
        scene.emu.faults.server_error("/channels/{channel_id}/permissions/{target_id}")
    with pytest.raises(UnservedRoute):
        scene.emu.faults.rate_limit(MESSAGES, method="PATCH")
    with pytest.raises(UnservedRoute):
        scene.emu.faults.set_bucket_limit("/channels/{id}/messages", 1, 1.0)
    assert scene.emu.faults.server_error(MESSAGES, method="POST").fired == 0


async def test_realistic_by_default(scene: Scene, channel: discord.TextChannel) -> None:
    """Without any set-up: the 50/s global limit, Discord's message bucket (5 per 5 s per
    channel), a little latency, and rate-limit headers on errors too."""
    faults = scene.emu.faults
    assert (faults.global_limit, faults.global_window) == (50, 1.0)
    assert faults.jitter > 0
    for text in "abcdef":
        await channel.send(text)
    posts = scene.emu.requests("POST", MESSAGES)
    assert [r.status for r in posts] == [200] * 6  # discord.py waited for the bucket
    assert posts[5].time - posts[0].time >= 4.0
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(1)
    refused = scene.emu.requests("GET", "/channels/{channel_id}/messages/{message_id}")[-1]
    assert refused.status == 404
    assert refused.headers["X-RateLimit-Limit"]
    assert "X-RateLimit-Remaining" in refused.headers


async def test_invalid_requests_are_counted_and_shared_429s_are_not(
    scene: Scene, channel: discord.TextChannel
) -> None:
    """403s and 429s count towards the ban; a 429 of scope "shared" does not."""
    faults = scene.emu.faults
    faults.rate_limit(MESSAGES, method="POST", retry_after=0.01, shared=True)
    await channel.send("through a shared limit")
    assert scene.emu.requests("POST", MESSAGES)[0].headers["X-RateLimit-Scope"] == "shared"
    assert faults.invalid_requests == 0
    faults.rate_limit(MESSAGES, method="POST", retry_after=0.01)
    await channel.send("through a user limit")
    assert faults.invalid_requests == 1
    await scene.emu.set_overwrite(channel.id, scene.emu.bot_id, deny=int(P.SEND_MESSAGES))
    with pytest.raises(discord.Forbidden):
        await channel.send("no permission")
    assert faults.invalid_requests == faults.invalid_total == 2


async def test_too_many_invalid_requests_get_the_bot_banned(
    scene: Scene, channel: discord.TextChannel
) -> None:
    """At the limit (10,000 in 10 minutes on Discord; 3 here) every request gets
    Cloudflare's HTML 429, which discord.py cannot retry."""
    scene.emu.faults.invalid_limit = 3
    for _ in range(3):
        with pytest.raises(discord.NotFound):
            await channel.fetch_message(1)
    assert scene.emu.faults.invalid_requests == 0  # 404s are not invalid requests
    await scene.emu.set_overwrite(channel.id, scene.emu.bot_id, deny=int(P.SEND_MESSAGES))
    for _ in range(3):
        with pytest.raises(discord.Forbidden):
            await channel.send("no")
    assert scene.emu.faults.banned
    with pytest.raises(discord.HTTPException) as refused:
        await channel.fetch_message(1)
    assert refused.value.status == 429
