"""A phase change after years of meetings, against the same change on the first day.

Overwrite changes are never deleted (a lifted one is kept, marked restored): a society
of a thousand groups adds a few hundred thousand a year. Three balint-bot processes,
each against its own emulator and database, are sampled in turn: one on a fresh
database, one after BENCH_HISTORY restored changes (default 100,000, four per past
meeting of the group, on its own room and chat), and one with that history and without
the index of changes in force (the schema before migration 0006), which shows what the
index is for. Figures: `/phase set discussion` → the move that silences the presenter,
and `/phase set questions` → the move that gives SPEAK back, p50 and p99, with the
ratios to the fresh database.

`python -m benchmarks.history` (BENCH_SAMPLES per direction, default 100;
BENCH_DATABASE=postgresql for PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks._side_by_side import Side, latency_only, percentile, second_emulator
from benchmarks.phases import SAMPLE_SPACING, World, bot_side, timed_change
from bot.db.models import Group, Meeting, MeetingStatus, OverwriteChange
from bot.domain.phases import Channel
from bot.services.silence import SILENCE_REASONS, TEXT_SILENCE, VOICE_SILENCE
from tests.e2e.conftest import START

SAMPLES = int(os.environ.get("BENCH_SAMPLES", "100"))
HISTORY = int(os.environ.get("BENCH_HISTORY", "100000"))
CHANGES_PER_MEETING = 4
INSERTED_AT_ONCE = 5_000


def with_history(drop_index: bool) -> Callable[[AsyncEngine, list[Group]], Awaitable[None]]:
    """Past meetings of the group, each with its silences laid and lifted."""

    async def add(engine: AsyncEngine, groups: list[Group]) -> None:
        (group,) = groups
        meetings = HISTORY // CHANGES_PER_MEETING
        async with engine.begin() as connection:
            rows = [
                {
                    "group_id": group.id,
                    "scheduled_start": START - timedelta(days=7 * (index + 1)),
                    "planned_end": START - timedelta(days=7 * (index + 1), minutes=-90),
                    "status": MeetingStatus.ENDED,
                    "created_at": START,
                    "voice_channel_id": group.voice_channel_id,
                    "revision": 0,
                }
                for index in range(meetings)
            ]
            for at in range(0, len(rows), INSERTED_AT_ONCE):
                await connection.execute(insert(Meeting), rows[at : at + INSERTED_AT_ONCE])
            past = await connection.scalars(
                select(Meeting.id).where(Meeting.status == MeetingStatus.ENDED)
            )
            # Two presenters a meeting, each silenced in the room and in the chat.
            silences = [
                (group.voice_channel_id, VOICE_SILENCE, SILENCE_REASONS[Channel.VOICE]),
                (group.text_channel_id, TEXT_SILENCE, SILENCE_REASONS[Channel.TEXT]),
            ]
            changes = [
                {
                    "meeting_id": meeting_id,
                    "channel_id": channel,
                    "target_id": 1000 + (2 * index + presenter) % 12,
                    "target_is_role": False,
                    "applied_allow": 0,
                    "applied_deny": deny,
                    "reason": reason,
                    "applied_at": START,
                    "restored_at": START,
                }
                for index, meeting_id in enumerate(past)
                for presenter in range(CHANGES_PER_MEETING // len(silences))
                for channel, deny, reason in silences
            ]
            for at in range(0, len(changes), INSERTED_AT_ONCE):
                await connection.execute(
                    insert(OverwriteChange), changes[at : at + INSERTED_AT_ONCE]
                )
            if drop_index:
                await connection.execute(text("DROP INDEX ix_overwrite_changes_in_force"))

    return add


async def measure(folder: Path) -> None:
    async with AsyncExitStack() as stack:
        sides: list[tuple[str, Side, World]] = []
        for name, prepare in (
            ("fresh database", None),
            (f"{HISTORY:,} restored changes", with_history(drop_index=False)),
            (f"{HISTORY:,} restored changes, no index", with_history(drop_index=True)),
        ):
            emu = await second_emulator(stack)
            place = folder / str(len(sides))
            place.mkdir()
            # The groups are set up by a bot in this process, which talks to this emulator.
            with emu.patch_discord():
                side, world = await bot_side(stack, emu, place, 1, prepare)
            latency_only(emu)
            for phase in ("discussion", "questions"):
                await timed_change(side, world, phase)
            sides.append((name, side, world))
        silenced: dict[str, list[float]] = {name: [] for name, _, _ in sides}
        lifted: dict[str, list[float]] = {name: [] for name, _, _ in sides}
        for index in range(SAMPLES):
            for name, side, world in sides[index % 3 :] + sides[: index % 3]:
                await asyncio.sleep(SAMPLE_SPACING)
                silenced[name].append((await timed_change(side, world, "discussion"))[0])
                await asyncio.sleep(SAMPLE_SPACING)
                lifted[name].append((await timed_change(side, world, "questions"))[0])
        for label, samples in (
            ("/phase set discussion → presenter silenced (the move)", silenced),
            ("/phase set questions → SPEAK given back (the move)", lifted),
        ):
            fresh = samples[sides[0][0]]
            parts = []
            for name, _, _ in sides:
                p50, p99 = percentile(samples[name], 0.5), percentile(samples[name], 0.99)
                ratio = p50 / percentile(fresh, 0.5), p99 / percentile(fresh, 0.99)
                parts.append(
                    f"{name}: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
                    f"({ratio[0]:.2f}× / {ratio[1]:.2f}×)"
                )
            print(f"{label}, {SAMPLES} samples each: " + " | ".join(parts))


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(measure(Path(folder)))


if __name__ == "__main__":
    main()
