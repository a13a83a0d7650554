"""Follow-ups' speed: the modal's answer against the 3 s deadline, REST calls, and the digest.

Figures printed:
- the REST requests one follow-up makes, from modal submission to its forum post;
- the time from a modal submission to the bot's first answer (p50, p99): it must
  stay far below Discord's 3 s, since saving happens before that answer;
- the nudge's scan of a 4,000-character follow-up (the limit);
- `new_since_previous_meeting` over 200 cases with 10 follow-ups each.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import Counter
from datetime import timedelta

from sqlalchemy import select

from benchmarks._world import benchmark_world
from bot.db.models import Case, CaseStatus, FollowUp, Meeting
from bot.domain.identifiers import scan
from bot.services.followups import MAX_TEXT
from tests.e2e.conftest import Harness, meeting_group, present_case

SUBMISSIONS = 100
DIGEST_CASES = 200
DIGEST_FOLLOWUPS = 10


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


async def _submit(harness: Harness, user_id: int, case: Case, text: str) -> float:
    """Seconds from the modal submission to the bot's first answer (the deferral)."""
    opened = await harness.command(user_id, "followup write", case=str(case.id))
    submitted = await harness.emu.submit_modal(user_id, opened, {"text": text})
    await submitted.final()
    # Both ends on the emulator's clock: when the interaction was created and when the
    # bot's first callback was accepted, not when this coroutine got around to looking.
    assert submitted.responded_at is not None
    return submitted.responded_at - submitted.created


async def writing() -> None:
    async with benchmark_world() as harness:
        group = await meeting_group(harness)
        presenter = harness.people.members[0]
        case = await present_case(harness, group, presenter)
        start = len(harness.emu.request_log)
        await _submit(harness, presenter, case, "How it went on.")
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
        sentence = "She came back twice and we talked about her son. "
        text = (sentence * (MAX_TEXT // len(sentence) + 1))[:MAX_TEXT]
        assert len(text) == MAX_TEXT
        samples = [await _submit(harness, presenter, case, text) for _ in range(SUBMISSIONS)]
        print(f"modal submission → first answer: {_percentiles(samples)} over {SUBMISSIONS}")
        scans = []
        for _ in range(200):
            started = time.perf_counter()
            scan(text)
            scans.append(time.perf_counter() - started)
        print(f"nudge scan of {len(text):,} characters: {_percentiles(scans)}")


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
    asyncio.run(digest())


if __name__ == "__main__":
    main()
