"""`balint-bot run`, the one start-up path, as a process: migrate, connect, stop on SIGTERM;
and `balint-bot health` reading the heartbeat it keeps."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from bot.db.engine import create_engine
from bot.db.migrate import head_revision
from bot.health import Beat, read_beat, write_beat
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


async def start_run(emulator: Emulator, tmp_path: Path, **settings: str
                    ) -> asyncio.subprocess.Process:
    """`balint-bot run` in an empty folder (no .env) with the emulator's token."""
    env = {
        **os.environ,
        "DISCORD_TOKEN": emulator.token,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'run.db'}",
        "EMULATOR_API": f"{emulator.base_url}/api/v10",
        "EMULATOR_GATEWAY": emulator.gateway_url,
        **settings,
    }
    env.pop("DEV_GUILD_ID", None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCHER, env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )


async def test_run_migrates_connects_and_stops_cleanly_on_sigterm(
    emulator: Emulator, tmp_path: Path
) -> None:
    admin = await emulator.create_user("admin")
    await emulator.create_guild("Rural Balint Society", owner=admin.id)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"
    process = await start_run(emulator, tmp_path)
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


async def health(tmp_path: Path, heartbeat: Path) -> tuple[int, str, str]:
    """`balint-bot health` as the container's health check runs it: its own process."""
    env = {**os.environ, "HEARTBEAT_FILE": str(heartbeat)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "health", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_health_follows_the_gateway_connection(emulator: Emulator, tmp_path: Path) -> None:
    """Healthy while `run` is connected; one sentence and exit 1 once it has stopped, when
    its heartbeat is old, or when there is none."""
    admin = await emulator.create_user("admin")
    await emulator.create_guild("Rural Balint Society", owner=admin.id)
    heartbeat = tmp_path / "heartbeat.json"
    assert (await health(tmp_path, heartbeat))[0] == 1
    process = await start_run(emulator, tmp_path, HEARTBEAT_FILE=str(heartbeat))
    try:
        for _ in range(300):
            if heartbeat.exists() and read_beat(heartbeat).connected:
                break
            await asyncio.sleep(0.1)
        code, out, err = await health(tmp_path, heartbeat)
        assert (code, err) == (0, ""), err
        assert out.startswith("ok   connected to Discord")
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0
    code, _, err = await health(tmp_path, heartbeat)
    assert code == 1
    assert err.splitlines() == [
        "balint-bot: The bot is not connected to Discord; its log says why."
    ]

    write_beat(heartbeat, Beat(True, datetime.now(UTC) - timedelta(minutes=10)))
    code, _, err = await health(tmp_path, heartbeat)
    assert code == 1
    assert err.splitlines() == [
        "balint-bot: The bot's last heartbeat is 10 minutes old; the process is stopped or stuck."
    ]
    heartbeat.unlink()
    code, _, err = await health(tmp_path, heartbeat)
    assert (code, err.splitlines()) == (1, [
        f"balint-bot: No heartbeat in {heartbeat}; is the bot running with HEARTBEAT_FILE set?"
    ])
