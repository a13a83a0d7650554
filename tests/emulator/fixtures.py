"""pytest fixtures for the emulator; enable with ``pytest_plugins = ["tests.emulator.fixtures"]``
in the root conftest, or import ``emulator`` into a conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .control import Emulator


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """A started emulator with discord.py patched to use it; torn down after the test."""
    async with Emulator() as emu:
        yield emu
