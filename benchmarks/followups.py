"""Follow-ups' speed: the modal's answer against the 3 s deadline, REST calls, and the digest.

Figures printed:
- the REST requests one follow-up makes, from modal submission to its forum post;
- the time from a modal submission of 4,000 characters (the limit) to the first
  answer (p50, p99), side by side with the bare discord.py bot (benchmarks/_baseline.py)
  deferring, posting the text and answering: each client in its own process against its
  own emulator, sampled in turn, times on the emulator's clock (benchmarks/_side_by_side.py).
  It must stay far below Discord's 3 s, since saving happens before that answer;
- the nudge's scan of a 4,000-character follow-up (the limit);
- `new_since_previous_meeting` over 200 cases with 10 follow-ups each.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from benchmarks._side_by_side import (
    DATABASE,
    compare,
    latency_only,
    launch,
    quiet,
    second_emulator,
)
from benchmarks._world import benchmark_world
from bot.clock import ManualClock
from bot.db.models import Case, CaseStatus, FollowUp, Meeting
from bot.domain.identifiers import scan
from bot.services.followups import MAX_TEXT
from tests.conftest import fresh_database
from tests.e2e.conftest import Harness, meeting_group, present_case
from tests.e2e.processes import database_env
from tests.emulator.control import Emulator

SUBMISSIONS = 100
SENTENCE = "She came back twice and we talked about her son. "
TEXT = (SENTENCE * (MAX_TEXT // len(SENTENCE) + 1))[:MAX_TEXT]
DIGEST_CASES = 200
DIGEST_FOLLOWUPS = 10


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


async def _submit(
    emu: Emulator, user_id: int, guild_id: int, channel_id: int, case_id: int, text: str
) -> float:
    """Seconds from the modal submission to the client's first answer (the deferral)."""
    opened = await emu.run_command(
        user_id, guild_id, channel_id, "followup write", case=str(case_id)
    )
    submitted = await emu.submit_modal(user_id, opened, {"text": text})
    await submitted.final()
    await quiet(emu, 0.01)
    # Both ends on the emulator's clock: when the interaction was created and when the
    # client's first callback was accepted, not when this coroutine got around to looking.
    assert submitted.responded_at is not None
    return submitted.responded_at - submitted.created


async def writing() -> None:
    async with benchmark_world() as harness:
        group = await meeting_group(harness)
        presenter = harness.people.members[0]
        case = await present_case(harness, group, presenter)
        start = len(harness.emu.request_log)
        await _submit(
            harness.emu,
            presenter,
            harness.guild_id,
            harness.default_channel(),
            case.id,
            "How it went on.",
        )
        calls = Counter(
            f"{r.method} {r.route}"
            for r in harness.emu.request_log[start:]
            if "/interactions/" not in r.route and "/webhooks/" not in r.route
        )
        print(
            f"REST requests to post one follow-up (interaction answers aside): "
            f"{sum(calls.values())}"
        )
        for route, count in sorted(calls.items()):
            print(f"  {count} × {route}")
    assert len(TEXT) == MAX_TEXT
    scans = []
    for _ in range(200):
        started = time.perf_counter()
        scan(TEXT)
        scans.append(time.perf_counter() - started)
    print(f"nudge scan of {len(TEXT):,} characters: {_percentiles(scans)}")


async def first_answer(folder: Path) -> None:
    """Modal submission → first answer, balint-bot's process against the bare one's."""
    async with Emulator() as bot_emu, AsyncExitStack() as stack:
        bare_emu = await second_emulator(stack)
        engine = await stack.enter_async_context(fresh_database(DATABASE, folder))
        harness = Harness(bot_emu, engine, ManualClock(datetime.now(UTC)))
        bot_emu.state.now = harness.clock.now
        await harness.setup_server()
        await harness.start_bot()
        group = await meeting_group(harness)
        presenter = harness.people.members[0]
        case = await present_case(harness, group, presenter)
        await harness.stop_bot()
        bot_emu.state.now = lambda: datetime.now(UTC)
        env = await database_env(engine)
        bot = await launch("balint-bot", "benchmarks._bot", bot_emu, folder, **env)
        stack.push_async_callback(bot.stop)
        guild = await bare_emu.create_guild("Baseline society")
        writer = await bare_emu.create_user("dr-writer")
        await bare_emu.add_member(guild.id, writer.id)
        channel = await bare_emu.create_channel(guild.id, "follow-ups")
        bare = await launch("bare", "benchmarks._baseline", bare_emu, folder)
        stack.push_async_callback(bare.stop)
        for emu in (bot_emu, bare_emu):
            latency_only(emu)
        sides = [
            (bot_emu, presenter, harness.guild_id, harness.default_channel(), case.id),
            (bare_emu, writer.id, guild.id, channel.id, 0),
        ]
        samples: list[list[float]] = [[], []]
        for index in range(SUBMISSIONS):
            for which in (0, 1) if index % 2 else (1, 0):
                samples[which].append(await _submit(*sides[which], TEXT))
        compare(f"modal submission ({len(TEXT):,} characters) → first answer", *samples)


async def digest() -> None:
    async with benchmark_world() as harness:
        group = await meeting_group(harness)
        await present_case(harness, group, harness.people.members[0])
        async with harness.bot.session_factory() as session:
            meeting_id = (await session.execute(select(Meeting.id))).scalar_one()
            now = harness.clock.now()
            for index in range(DIGEST_CASES):
                case = Case(
                    group_id=group.id,
                    meeting_id=meeting_id,
                    presenter_id=index + 1,
                    label=f"case {index}",
                    status=CaseStatus.PRESENTED,
                    offered_at=now,
                    presented_at=now,
                )
                session.add(case)
                await session.flush()
                for number in range(DIGEST_FOLLOWUPS):
                    session.add(
                        FollowUp(
                            case_id=case.id,
                            author_id=index + 1,
                            text="x" * 500,
                            submission_key=f"{index}-{number}",
                            created_at=now + timedelta(minutes=number),
                            post_attempts=0,
                        )
                    )
            await session.commit()
        samples = []
        for _ in range(50):
            started = time.perf_counter()
            listed = await harness.bot.followups.new_since_previous_meeting(group.id, 0)
            samples.append(time.perf_counter() - started)
        assert len(listed) == DIGEST_CASES
        print(
            f"new_since_previous_meeting, {DIGEST_CASES} cases × {DIGEST_FOLLOWUPS} "
            f"follow-ups (SQLite): {_percentiles(samples)}"
        )


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(writing())
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(first_answer(Path(folder)))
    asyncio.run(digest())


if __name__ == "__main__":
    main()
