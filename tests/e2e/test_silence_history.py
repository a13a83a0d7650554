"""Finding the silences in force never reads their history.

Overwrite changes are never deleted (a lifted one is kept, marked restored), so a society
adds a few hundred thousand a year. A statement that found the changes in force by reading
them all grew with every meeting ever held: with 100,000 restored changes on SQLite, the
read a phase change waits for took 8.3 ms instead of 0.9 ms. Every statement a phase change
and a reconciliation run on that table must reach the open changes through an index.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.models import Base
from tests.e2e.conftest import Harness, leader_says, meeting_group, statements_run

pytestmark = pytest.mark.e2e


async def full_reads_of(
    table: Table, engine: AsyncEngine, statement: str, values: Any
) -> list[str]:
    """The steps of the statement's plan that read all of `table` or all of one of its
    indexes (a condition on an index's second column still reads all of it)."""
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", values)
            # SQLite says SEARCH for a seek, SCAN for reading a table or index through.
            steps = [str(detail) for detail in plan.scalars(3)]
            return [step for step in steps if step.startswith(f"SCAN {table.name}")]
        # Told to avoid sequential scans wherever an index can serve: with a handful of
        # rows PostgreSQL would otherwise read the table whatever indexes exist.
        await connection.exec_driver_sql("SET enable_seqscan = off")
        plan = await connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", values)
        (document,) = plan.scalar_one()
    leading = {str(index.name): index.columns[0].name for index in table.indexes}
    leading[str(table.primary_key.name)] = table.primary_key.columns[0].name
    return [
        f"{node['Node Type']} {node.get('Index Name', '')} {node.get('Index Cond', '')}"
        for node in _nodes(document["Plan"])
        if (node.get("Relation Name") == table.name and node["Node Type"] == "Seq Scan")
        or (
            node.get("Index Name") in leading
            and leading[node["Index Name"]] not in node.get("Index Cond", "")
        )
    ]


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


async def test_a_phase_change_and_a_reconciliation_find_the_silences_in_force_by_index(
    harness: Harness, engine: AsyncEngine
) -> None:
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    await leader_says(harness, group, "session start")
    await leader_says(harness, group, "case present", member=presenter, label="a case")
    await leader_says(harness, group, "phase set", phase="questions")
    with statements_run(engine) as run:
        await leader_says(harness, group, "phase set", phase="discussion")
        assert not harness.emu.can_speak(presenter)
        await leader_says(harness, group, "phase set", phase="questions")
        assert harness.emu.can_speak(presenter)
        assert await harness.bot.sessions.recover() == []
    changes = Base.metadata.tables["overwrite_changes"]
    reads = [
        (statement, values)
        for statement, values in run
        if statement.lstrip().upper().startswith("SELECT")
        and "overwrite_changes.restored_at IS NULL" in statement
    ]
    # Each change reads the group with its changes in force; the reconciliation reads
    # those of meetings no longer live.
    assert len(reads) >= 3
    for statement, values in reads:
        assert await full_reads_of(changes, engine, statement, values) == [], statement
