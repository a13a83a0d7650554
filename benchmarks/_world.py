"""A bot, the emulator and a fresh SQLite database, shared by the benchmarks."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.clock import ManualClock
from bot.db.engine import create_engine
from bot.db.models import Base
from tests.e2e.conftest import START, Harness
from tests.emulator.control import Emulator


@asynccontextmanager
async def benchmark_world(member_count: int = 5) -> AsyncIterator[Harness]:
    """The same world the end-to-end tests use, outside pytest."""
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}")
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        clock = ManualClock(START)
        async with Emulator(now=clock.now) as emu:
            harness = Harness(emu, engine, clock)
            await harness.setup_server(member_count)
            await harness.start_bot()
            try:
                yield harness
            finally:
                await harness.stop_bot()
        await engine.dispose()
