"""pytest fixtures for the emulator; enable with ``pytest_plugins = ["tests.emulator.fixtures"]``
in the root conftest, or import ``emulator`` into a conftest."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from .control import Emulator


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A started emulator with discord.py patched to use it; torn down after the test."""
    async with Emulator() as emu:
        configure_from_environment(emu)
        yield emu


def configure_from_environment(emu: Emulator) -> None:
    """Harsher runs of the same suite: ``EMULATOR_LATENCY=0.2`` adds that many seconds to
    every request (on top of the default random jitter); ``EMULATOR_EVENTS=late-twice``
    delivers gateway events up to 50 ms late and a third of them twice."""
    latency = os.environ.get("EMULATOR_LATENCY")
    if latency:
        emu.faults.latency = float(latency)
    if os.environ.get("EMULATOR_EVENTS") == "late-twice":
        emu.gateway.events.delay, emu.gateway.events.duplicate = 0.05, 0.33
