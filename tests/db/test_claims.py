"""Interaction claims: a burst shares a few transactions, and each interaction is still
taken on by one process only."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import InteractionClaims
from bot.clock import ManualClock
from bot.db.models import ClaimedInteraction

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def test_a_burst_of_claims_is_a_few_transactions_and_each_taken_once(
    engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    commits: list[object] = []
    event.listen(engine.sync_engine, "commit", commits.append)
    ours = InteractionClaims(session_factory, ManualClock(NOW))
    theirs = InteractionClaims(session_factory, ManualClock(NOW))  # a second process
    ids = list(range(1, 301))
    mine = await asyncio.gather(*(ours.claim(i) for i in ids))
    assert all(mine)
    assert len(commits) <= 5  # 300 claims, not 300 commits
    # The other process, and a second delivery to this one, take none of them on.
    assert not any(await asyncio.gather(*(theirs.claim(i) for i in ids[:50])))
    assert not await ours.claim(1)
    both = await asyncio.gather(ours.claim(1000), ours.claim(1000), theirs.claim(1000))
    assert sorted(both) == [False, False, True]
    async with session_factory() as session:
        stored = await session.scalar(select(func.count()).select_from(ClaimedInteraction))
    assert stored == 301
