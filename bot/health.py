"""The heartbeat file: how a container's health check learns the bot is connected.

The bot process rewrites one small file whenever its gateway connection comes up or goes
down, and every `BEAT_EVERY` in between; `balint-bot health` reads it in a separate process.
A process that hangs stops rewriting it, so an old beat counts as unhealthy too.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.clock import Clock

BEAT_EVERY = timedelta(seconds=30)
# Three missed beats: a busy event loop may be late once, not three times.
STALE_AFTER = 3 * BEAT_EVERY


@dataclass(frozen=True)
class Beat:
    connected: bool
    at: datetime


def write_beat(path: Path, beat: Beat) -> None:
    """Replace the file whole, so a reader never sees half a beat."""
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps({"connected": beat.connected, "at": beat.at.isoformat()}))
    os.replace(partial, path)


def read_beat(path: Path) -> Beat:
    """Raises OSError or ValueError when the file is missing or not a beat."""
    data = json.loads(path.read_text())
    at = datetime.fromisoformat(data["at"])
    if at.tzinfo is None or not isinstance(data["connected"], bool):
        raise ValueError("not a heartbeat")
    return Beat(data["connected"], at)


def _ago(delta: timedelta) -> str:
    seconds = max(int(delta.total_seconds()), 0)
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} minutes"


def judge(beat: Beat, now: datetime) -> str | None:
    """None when healthy; otherwise one sentence saying what is wrong."""
    age = now - beat.at
    if age > STALE_AFTER:
        return (
            f"The bot's last heartbeat is {_ago(age)} old; the process is stopped or stuck."
        )
    if not beat.connected:
        return "The bot is not connected to Discord; its log says why."
    return None


class Heartbeat:
    """Keeps the heartbeat file in step with the gateway connection, on the bot's clock."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = path
        self.clock = clock
        self.connected = False
        self._task: asyncio.Task[None] | None = None

    def set_connected(self, connected: bool) -> None:
        self.connected = connected
        write_beat(self.path, Beat(connected, self.clock.now()))

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="heartbeat")

    def stop(self) -> None:
        """The process is closing: say so at once rather than waiting to go stale."""
        if self._task is not None:
            self._task.cancel()
        self.set_connected(False)

    async def _beat(self) -> None:
        while True:
            write_beat(self.path, Beat(self.connected, self.clock.now()))
            await asyncio.sleep(BEAT_EVERY.total_seconds())
