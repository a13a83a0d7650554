"""`balint-bot check` as a process, asking the emulator what Discord would say."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.e2e.processes import REPO
from tests.emulator.control import BOT_DEFAULT, Emulator
from tests.emulator.permissions import P
from tests.test_cli import TOKEN

# The real command line, with discord.py pointed at the emulator the way the bot process
# of the crash tests is (tests/e2e/bot_process.py); nothing else is changed.
LAUNCHER = (
    "import os, sys; from tests.e2e.bot_process import point_discord_at; "
    "point_discord_at(os.environ['BALINT_TEST_API']); "
    "from bot.cli import main; sys.exit(main(sys.argv[1:]))"
)


async def check(api: str, token: str, tmp_path: Path) -> tuple[int, str, str]:
    """Run `balint-bot check` in an empty folder (no .env) with only these settings."""
    env = {k: v for k, v in os.environ.items() if k not in {"DEV_GUILD_ID", "LOG_LEVEL"}}
    env.update(
        BALINT_TEST_API=api,
        DISCORD_TOKEN=token,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'check.db'}",
        PYTHONPATH=str(REPO),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", LAUNCHER, "check", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_check_asks_discord_and_tables_each_servers_permissions(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Token, application id and, per server, what the bot's role lacks, from Discord."""
    admin = await emulator.create_user("admin")
    full = await emulator.create_guild("Rural Balint Society", owner=admin.id)
    short = await emulator.create_guild(
        "Riverina GPs", owner=admin.id, bot_permissions=BOT_DEFAULT & ~P.MOVE_MEMBERS
    )
    code, out, err = await check(emulator.base_url, emulator.token, tmp_path)

    assert f"Discord accepts the token: bot balint-bot, application {emulator.bot_id}" in out
    table = out[out.index("Server"):].splitlines()
    assert table[0].split() == ["Server", "Id", "Permissions"]
    assert table[1].startswith("Rural Balint Society")
    assert table[1].endswith(f"{full.id}  ok")
    assert table[2].startswith("Riverina GPs")
    assert table[2].endswith(
        f"{short.id}  missing Move Members")
    assert len(table) == 3
    assert code == 1
    assert err.strip().splitlines() == [
        "balint-bot: The bot lacks permissions in Riverina GPs; grant them to its role "
        "(Server Settings → Roles) or add it again with `balint-bot invite-url`."
    ]
    asked = {r.route for r in emulator.requests("GET")}
    assert {"/users/@me", "/oauth2/applications/@me", "/users/@me/guilds"} <= asked

    await emulator.edit_role(short.id, emulator.bot_role(short.id).id, permissions=BOT_DEFAULT)
    code, out, err = await check(emulator.base_url, emulator.token, tmp_path)
    assert (code, err) == (0, ""), err
    assert "missing" not in out


async def test_check_with_a_refused_token_is_one_sentence(
    emulator: Emulator, tmp_path: Path
) -> None:
    """A well-formed token that Discord refuses (401) is named as such; no table, exit 1."""
    code, out, err = await check(emulator.base_url, TOKEN, tmp_path)
    assert code == 1
    assert err.strip().splitlines() == [
        "balint-bot: Discord refused the token; set DISCORD_TOKEN in the environment or in a "
        ".env file; copy it from https://discord.com/developers/applications → your "
        "application → Bot → Reset Token."
    ]
    assert "Server" not in out
    assert "secretpart" not in out + err
    assert [r.status for r in emulator.requests("GET", "/users/@me")] == [401]


async def test_check_with_discord_unreachable_is_one_sentence(tmp_path: Path) -> None:
    """Nothing listens on port 9 of this machine: one sentence, exit 1, no traceback."""
    code, out, err = await check("http://127.0.0.1:9", TOKEN, tmp_path)
    assert code == 1
    assert err.strip().splitlines() == [
        "balint-bot: Cannot reach Discord; check this machine's internet connection and "
        "https://discordstatus.com."
    ]
    assert "Traceback" not in out + err
    assert "ok   database reachable" in out
