"""`balint-bot run`, the one start-up path, as a process: migrate, connect, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import text

from bot.db.engine import create_engine
from bot.db.migrate import head_revision
from tests.emulator.control import Emulator

# The child process is the real command line; only discord.py's two base URLs
# are pointed at the emulator, exactly as the in-process harness does.
LAUNCHER = """
import os, sys, yarl, discord
discord.http.Route.BASE = os.environ["EMULATOR_API"]
discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["EMULATOR_GATEWAY"])
from bot.cli import main
sys.exit(main(["run"]))
"""


async def test_run_migrates_connects_and_stops_cleanly_on_sigterm(
    emulator: Emulator, tmp_path: Path
) -> None:
    admin = await emulator.create_user("admin")
    await emulator.create_guild("Rural Balint Society", owner=admin.id)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"
    env = {
        **os.environ,
        "DISCORD_TOKEN": emulator.token,
        "DATABASE_URL": database_url,
        "EMULATOR_API": f"{emulator.base_url}/api/v10",
        "EMULATOR_GATEWAY": emulator.gateway_url,
    }
    env.pop("DEV_GUILD_ID", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCHER, env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            if emulator.commands() and emulator.gateway.connected.is_set():
                break
            await asyncio.sleep(0.1)
        assert {c.name for c in emulator.commands()} >= {"group", "session", "schedule"}
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
    log = output.decode()
    assert process.returncode == 0, log
    assert emulator.token not in log
    assert "Traceback" not in log
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        revision = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    await engine.dispose()
    assert revision == head_revision()
