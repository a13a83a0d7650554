"""The database going away: commands still answer in time and change nothing.

PostgreSQL only: the outage is a TCP proxy in front of the server that drops every
open connection and refuses new ones, which is what a restart or fail-over looks like
to the bot. SQLite has no connection to lose (the file is opened in-process), so it
has no honest equivalent of this fault.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import messages
from bot.clock import ManualClock
from bot.db.engine import create_engine
from bot.db.models import FollowUp, Meeting, MeetingStatus, VoiceRoom
from bot.services.sessions import CUE_JOB
from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import (
    START,
    Harness,
    answer_text,
    leader_says,
    meeting_group,
    present_case,
)
from tests.e2e.invariant import assert_silence_invariant
from tests.e2e.test_followups import posts_in
from tests.e2e.test_group_rooms import pooled_group_in_lobby
from tests.emulator.control import Emulator
from tests.emulator.faults import OVERWRITE_ROUTE


class DatabaseProxy:
    """Forwards TCP to PostgreSQL until cut; then drops and refuses connections."""

    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self.cut = False
        self.refused = 0
        self.dropped = 0
        self._open: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        assert self._server is not None
        self._server.close()
        self._drop_all()

    def go_down(self) -> None:
        self.cut = True
        self.dropped += self._drop_all()

    def come_back(self) -> None:
        self.cut = False

    def _drop_all(self) -> int:
        writers = list(self._open)
        for writer in writers:
            writer.transport.abort()
        self._open.clear()
        return len(writers)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            self.refused += 1
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self._open.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


@pytest.fixture
async def proxy(database_kind: str) -> AsyncIterator[DatabaseProxy]:
    if database_kind != "postgresql":
        pytest.skip("SQLite is a file opened in-process: there is no connection to cut")
    upstream = create_engine(POSTGRES_URL).url
    proxy = DatabaseProxy(upstream.host or "127.0.0.1", upstream.port or 5432)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def cut_harness(emulator: Emulator, engine: AsyncEngine,
                      proxy: DatabaseProxy) -> AsyncIterator[Harness]:
    """The bot reaching the test's database only through the proxy."""
    async with engine.connect() as conn:
        schema = (await conn.execute(text("SHOW search_path"))).scalar_one()
    url = create_engine(POSTGRES_URL).url.set(host="127.0.0.1", port=proxy.port)
    through_proxy = create_engine(
        url.render_as_string(hide_password=False),
        connect_args={"server_settings": {"search_path": schema}},
    )
    clock = ManualClock(START)
    emulator.state.now = clock.now
    harness = Harness(emulator, through_proxy, clock)
    await harness.setup_server()
    await harness.start_bot()
    yield harness
    with contextlib.suppress(Exception):
        await harness.stop_bot()
    await through_proxy.dispose()


async def test_commands_answer_try_again_while_the_database_is_away(
    cut_harness: Harness, proxy: DatabaseProxy
) -> None:
    harness = cut_harness
    group = await harness.create_group()
    proxy.go_down()
    for command in ("group info", "session start"):
        result = await harness.emu.run_command(
            harness.people.leader, harness.guild_id, group.text_channel_id, command
        )
        await result.final()
        assert result.ephemeral
        assert messages.DATABASE_UNAVAILABLE in answer_text(result)
    assert proxy.dropped + proxy.refused > 0, "the outage never reached the bot"
    proxy.come_back()
    result = await harness.command(harness.people.leader, "group info", group.text_channel_id)
    assert "(leader)" in answer_text(result)


async def test_a_followup_written_while_the_database_is_away_is_handed_back(
    cut_harness: Harness, proxy: DatabaseProxy
) -> None:
    """Never "saved" when it isn't: the author gets their text back, word for word."""
    harness = cut_harness
    group = await meeting_group(harness)
    presenter = harness.people.members[0]
    case = await present_case(harness, group, presenter)
    opened = await harness.command(presenter, "followup write", None, case=str(case.id))
    assert opened.modal is not None, answer_text(opened)
    text = "She came back <@everyone> and we talked\n  for an hour — *twice*."
    proxy.go_down()
    submitted = await harness.emu.submit_modal(presenter, opened, {"text": text})
    await submitted.final()
    assert proxy.dropped + proxy.refused > 0, "the outage never reached the bot"
    assert submitted.ephemeral
    assert submitted.message is not None
    assert "not saved" in (submitted.message.content or "")
    assert [e["description"] for e in submitted.message.embeds] == [text]
    proxy.come_back()
    await harness.settle()
    async with harness.bot.session_factory() as session:
        assert (await session.execute(select(func.count(FollowUp.id)))).scalar_one() == 0
    assert not posts_in(harness, case.forum_thread_id)


async def test_a_start_cut_short_by_the_database_is_rolled_back(
    cut_harness: Harness, proxy: DatabaseProxy
) -> None:
    """The database goes while the pooled room is being opened: the leader is told nothing
    changed, and once the database is back the half-started meeting is undone."""
    harness = cut_harness
    rooms, before, group = await pooled_group_in_lobby(harness)
    held = harness.emu.hold(OVERWRITE_ROUTE, method="PUT")
    started = await harness.emu.run_command(harness.people.leader, harness.guild_id,
                                            group.text_channel_id or 0, "session start")
    await held.reached()
    proxy.go_down()
    held.release()
    await started.final()
    assert messages.DATABASE_UNAVAILABLE in answer_text(started), answer_text(started)
    assert proxy.dropped + proxy.refused > 0, "the outage never reached the bot"
    await harness.advance(timedelta(seconds=30))
    proxy.come_back()
    await harness.advance(timedelta(seconds=16))
    async with harness.bot.session_factory() as session:
        statuses = (await session.execute(select(Meeting.status))).scalars().all()
        held_by = (await session.execute(select(VoiceRoom.held_by_meeting_id))).scalars().all()
    assert MeetingStatus.LIVE not in statuses, statuses
    assert held_by == [None, None]
    assert {room: dict(harness.emu.overwrites(room)) for room in rooms} == before
    again = await leader_says(harness, group, "session start")
    assert "has started" in answer_text(again), answer_text(again)
    await assert_silence_invariant(harness)


async def test_a_cue_due_while_the_database_is_away_is_posted_once_it_is_back(
    cut_harness: Harness, proxy: DatabaseProxy
) -> None:
    """The timed job fails on the database error, is retried every 15 s, and posts once."""
    harness = cut_harness
    group = await meeting_group(harness)
    await leader_says(harness, group, "session start")
    channel = group.text_channel_id or 0
    count = len(harness.emu.messages(channel))
    proxy.go_down()
    # Check-in is planned for 5 minutes: its two-minute warning is due at 3.
    await harness.advance(timedelta(minutes=3))
    await harness.advance(timedelta(seconds=15))
    assert proxy.dropped + proxy.refused > 0, "the outage never reached the bot"
    assert len(harness.emu.messages(channel)) == count
    assert harness.bot.jobs.pending(CUE_JOB), "the cue was dropped, not retried"
    proxy.come_back()
    await harness.advance(timedelta(seconds=15))
    cues = [m for m in harness.emu.messages(channel)[count:] if "Two minutes left" in m.content]
    assert len(cues) == 1
    await harness.advance(timedelta(minutes=1))
    cues = [m for m in harness.emu.messages(channel)[count:] if "Two minutes left" in m.content]
    assert len(cues) == 1
