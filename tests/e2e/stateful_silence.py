"""Random fault sequences against the presenter's silence (issue 10, point 7).

A hypothesis state machine drives two groups through their meetings (start, next,
back, set, present, extend, end), moves members in and out of their rooms, makes
Discord refuse (403, by taking a permission from the bot), fail (5xx) or rate-limit
(429) the overwrite and move routes, drops the gateway and kills and restarts the
bot. After each step has settled, Discord agrees with the database for every member
of both groups. Used by tests/e2e/test_silence_stateful.py (a modest number of
examples in CI) and `make fuzz-silence` (`main` below: thousands).

The machine is synchronous, as hypothesis wants; each example runs its own event
loop with a fresh emulator and database and the in-process bot on a ManualClock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import discord
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bot.clock import ManualClock
from bot.db.models import Group
from tests.conftest import fresh_database
from tests.e2e.conftest import START, Harness, meeting_group
from tests.e2e.invariant import assert_silence_invariant
from tests.emulator.control import Emulator
from tests.emulator.faults import MEMBER_ROUTE, OVERWRITE_ROUTE

T = TypeVar("T")

FAULT_ROUTES = [("PUT", OVERWRITE_ROUTE), ("DELETE", OVERWRITE_ROUTE), ("PATCH", MEMBER_ROUTE)]
# 500 and 502 discord.py retries by itself (after a real second); 503 and 403 it does not.
FAULT_KINDS = ["403", "429", "500", "502", "503"]
# What a leader does while the fault is waiting: each changes someone's silence.
ACTIONS = ["push_back", "next", "back", "end"]
PHASES = ["check_in", "presentation", "questions", "discussion", "presenter_returns", "closing"]
REFUSABLE = {
    "Manage Roles": discord.Permissions(manage_roles=True).value,
    "Move Members": discord.Permissions(move_members=True).value,
}
MEMBERS_PER_GROUP = 3
# A sequence's moves soon empty Discord's member-move bucket (10 per 10 s per server):
# the answer may then wait that long after its deferral, which is what must be in time.
MOVE_BUCKET_WAIT = 30.0
LONG_RUN_SEQUENCES = 2000
LONG_RUN_STEPS = 30
BETWEEN_STEPS = timedelta(minutes=1, seconds=1)
# Long enough for any retry the bot scheduled (it backs off to hourly) to have run.
RETRIES_DONE = timedelta(hours=1, minutes=1)


class SilenceMachine(RuleBasedStateMachine):
    """Two groups, their people, Discord's faults and the bot's deaths, in any order."""

    database_kind: ClassVar[str] = "sqlite"
    folder: ClassVar[Path] = Path(".")
    # Across all examples of a run: which faults were injected and which fired.
    tally: ClassVar[Counter[str]] = Counter()
    examples: ClassVar[int] = 0

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.exits = contextlib.AsyncExitStack()
        self.refused: dict[str, int] = {}
        self.requests_tallied = 0
        type(self).examples += 1
        self.harness = self.run(self._set_up(type(self).examples))

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    async def _set_up(self, number: int) -> Harness:
        folder = self.folder / f"example-{number}"
        folder.mkdir(parents=True, exist_ok=True)
        engine = await self.exits.enter_async_context(
            fresh_database(self.database_kind, folder))
        clock = ManualClock(START)
        emu = await self.exits.enter_async_context(Emulator(now=clock.now))
        harness = Harness(emu, engine, clock)
        await harness.setup_server(member_count=2 * MEMBERS_PER_GROUP)
        await harness.start_bot()
        self.groups: list[Group] = []
        self.people: list[list[int]] = []
        everyone = harness.people.members
        for index in range(2):
            mine = everyone[index * MEMBERS_PER_GROUP:(index + 1) * MEMBERS_PER_GROUP]
            # meeting_group invites the first members of the server; give each group its own.
            harness.people.members = mine
            self.groups.append(await meeting_group(
                harness, members=MEMBERS_PER_GROUP, name=f"Group {index + 1}"))
            self.people.append([harness.people.leader, *mine])
        harness.people.members = everyone
        return harness

    def teardown(self) -> None:
        async def close() -> None:
            with contextlib.suppress(Exception):
                await self.harness.stop_bot()
            await self.exits.aclose()

        try:
            self.run(close())
        finally:
            self.loop.close()

    # Steps -------------------------------------------------------------------------

    async def _leader(self, group: int, command: str, **options: Any) -> None:
        self.tally[f"/{command}"] += 1
        await self.harness.command(self.harness.people.leader, command,
                                   self.groups[group].text_channel_id,
                                   within=MOVE_BUCKET_WAIT, **options)

    @initialize()
    def both_groups_meet(self) -> None:
        """Sequences begin with both meetings under way: where the faults matter."""
        for group in (0, 1):
            self.start(group)

    @rule(group=st.integers(0, 1))
    def start(self, group: int) -> None:
        self.run(self._leader(group, "session start"))

    @rule(group=st.integers(0, 1), who=st.integers(0, MEMBERS_PER_GROUP))
    def push_back(self, group: int, who: int) -> None:
        """A member presents and goes straight into the discussion, as meetings do."""
        self.present(group, who)
        self.set_phase(group, "discussion")

    @rule(group=st.integers(0, 1), who=st.integers(0, MEMBERS_PER_GROUP))
    def present(self, group: int, who: int) -> None:
        self.run(self._leader(group, "case present", member=self.people[group][who],
                              label=f"case of member {who}"))

    @rule(group=st.integers(0, 1))
    def next(self, group: int) -> None:
        self.run(self._leader(group, "phase next"))

    @rule(group=st.integers(0, 1))
    def back(self, group: int) -> None:
        self.run(self._leader(group, "phase back"))

    @rule(group=st.integers(0, 1), phase=st.sampled_from(PHASES))
    def set_phase(self, group: int, phase: str) -> None:
        self.run(self._leader(group, "phase set", phase=phase))

    @rule(group=st.integers(0, 1), minutes=st.integers(1, 30))
    def extend(self, group: int, minutes: int) -> None:
        self.run(self._leader(group, "phase extend", minutes=minutes))

    @rule(group=st.integers(0, 1))
    def end(self, group: int) -> None:
        self.run(self._leader(group, "session end"))

    @rule(group=st.integers(0, 1), who=st.integers(0, MEMBERS_PER_GROUP))
    def leave_room(self, group: int, who: int) -> None:
        person = self.people[group][who]
        if self.harness.emu.voice_channel_of(person) is not None:
            self.run(self.harness.emu.leave_voice(person))
            self.run(self.harness.settle())

    @rule(group=st.integers(0, 1), who=st.integers(0, MEMBERS_PER_GROUP))
    def join_room(self, group: int, who: int) -> None:
        """Join, or rejoin (leave and come back), the group's room."""
        person = self.people[group][who]
        room = self.groups[group].voice_channel_id or 0
        if self.harness.emu.voice_channel_of(person) == room:
            self.run(self.harness.emu.leave_voice(person))
        self.run(self.harness.emu.join_voice(person, room))
        self.run(self.harness.settle())

    @rule(route=st.sampled_from(FAULT_ROUTES), kind=st.sampled_from(FAULT_KINDS),
          group=st.integers(0, 1), action=st.sampled_from(ACTIONS))
    def fault(self, route: tuple[str, str], kind: str, group: int, action: str) -> None:
        """Discord answers the next request on an overwrite or move route with an error,
        while a leader changes the phase (a 403 as when the bot's cache is behind)."""
        method, template = route
        faults = self.harness.emu.faults
        if kind == "429":
            faults.rate_limit(template, method=method, retry_after=0.05)
        elif kind == "403":
            faults.missing_permissions(template, method=method)
        else:
            faults.server_error(template, method=method, status=int(kind))
        self.tally[f"injected {kind}"] += 1
        if action == "push_back":
            self.push_back(group, 1)
        else:
            getattr(self, action)(group)

    @precondition(lambda self: len(self.refused) < len(REFUSABLE))
    @rule(permission=st.sampled_from(sorted(REFUSABLE)))
    def refuse(self, permission: str) -> None:
        """An admin takes a permission from the bot (which then knows not to ask)."""
        if permission in self.refused:
            return
        role = self.harness.emu.bot_role(self.harness.guild_id)
        self.refused[permission] = role.permissions
        self.run(self.harness.emu.edit_role(self.harness.guild_id, role.id,
                                            permissions=role.permissions & ~REFUSABLE[permission]))
        self.run(self.harness.settle())
        self.tally[f"revoked {permission}"] += 1

    @precondition(lambda self: bool(self.refused))
    @rule()
    def grant_back(self) -> None:
        """The admin gives the permissions back; the bot's retries then get through."""
        role = self.harness.emu.bot_role(self.harness.guild_id)
        everything = role.permissions
        for permission in self.refused:
            everything |= REFUSABLE[permission]
        self.refused.clear()
        self.run(self.harness.emu.edit_role(self.harness.guild_id, role.id,
                                            permissions=everything))
        self.run(self.harness.advance(RETRIES_DONE))

    @rule()
    def drop_gateway(self) -> None:
        async def drop() -> None:
            await self.harness.emu.drop_gateway()
            await self.harness.emu.wait_connected()
            await self.harness.emu.settle(self.harness.bot)
            await self.harness.settle()

        self.run(drop())
        self.tally["gateway drops"] += 1

    @rule()
    def restart(self) -> None:
        async def restart() -> None:
            await self.harness.kill_bot()
            await self.harness.start_bot()

        self.run(restart())
        self.tally["restarts"] += 1

    # The invariant -------------------------------------------------------------------

    @invariant()
    def discord_agrees_with_the_database(self) -> None:
        """While the bot holds its permissions, every member's silence is what is stored.

        A step settles when a minute has passed after it, as between a leader's clicks:
        time for the bot's first retry of whatever Discord answered with a 5xx.
        """
        self.run(self.harness.advance(BETWEEN_STEPS))
        if self.refused:
            return
        self._count_fired()
        self.run(assert_silence_invariant(self.harness))
        self.tally["steps checked"] += 1

    def _count_fired(self) -> None:
        log = self.harness.emu.request_log
        new, self.requests_tallied = log[self.requests_tallied:], len(log)
        for record in new:
            if record.status in (403, 429, 500, 502, 503) and (
                (record.method, record.route) in FAULT_ROUTES
            ):
                self.tally[f"fired {record.status}"] += 1


def run_sequences(database_kind: str, folder: Path, examples: int, steps: int, *,
                  shrink: bool) -> Counter[str]:
    """Run `examples` random sequences of up to `steps` steps; returns what they did.

    Without shrinking a failure is reported as found (shrinking re-runs the bot
    hundreds of times: worth it for the long run, not for CI).
    """
    SilenceMachine.database_kind = database_kind
    SilenceMachine.folder = folder
    SilenceMachine.tally.clear()
    SilenceMachine.examples = 0
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else [])
    run_state_machine_as_test(SilenceMachine, settings=settings(
        max_examples=examples, stateful_step_count=steps, deadline=None, phases=phases,
        suppress_health_check=list(HealthCheck), derandomize=not shrink, database=None,
    ))
    tally = Counter(SilenceMachine.tally)
    tally["sequences"] = SilenceMachine.examples
    return tally


def main() -> None:
    """The long run: `python -m tests.e2e.stateful_silence [sequences]` (`make fuzz-silence`).

    Default 2000 new sequences of up to 30 steps on SQLite (BENCH_DATABASE=postgresql
    for PostgreSQL); a failing one is shrunk and printed by hypothesis.
    """
    logging.basicConfig(level=logging.CRITICAL)
    sequences = int(sys.argv[1]) if len(sys.argv) > 1 else LONG_RUN_SEQUENCES
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        tally = run_sequences(database, Path(folder), sequences, LONG_RUN_STEPS, shrink=True)
    print(f"{tally['sequences']} random fault sequences on {database}, "
          f"{tally['steps checked']} steps checked, in {time.monotonic() - began:.0f} s:")
    for name, count in sorted(tally.items()):
        print(f"  {name}: {count}")


if __name__ == "__main__":
    main()
