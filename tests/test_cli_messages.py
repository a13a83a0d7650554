"""The command line as a person meets it: each mistake is one sentence from a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import DATABASE_KINDS, POSTGRES_URL
from tests.test_cli import TOKEN

needs_postgres = pytest.mark.skipif(
    "postgresql" not in DATABASE_KINDS, reason="PostgreSQL is not among TEST_DATABASES"
)
# Runs the command line with discord.py pointed at a closed port on this machine, so
# "Discord is unreachable" is tested without sending anything off the machine.
UNREACHABLE_DISCORD = (
    "import sys, discord.http; "
    "discord.http.Route.BASE = 'http://127.0.0.1:9/api/v10'; "
    "from bot.cli import main; sys.exit(main(sys.argv[1:]))"
)


def run_cli(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """`python -m bot ARGS` in an empty folder, with only the settings given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DISCORD_TOKEN", "DATABASE_URL", "LOG_LEVEL", "DEV_GUILD_ID"}
    }
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    env.update(settings)
    command = [sys.executable, "-m", "bot"] if args[:1] != ("-c",) else [sys.executable]
    return subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    """The process failed with a single line on stderr and no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), "say what to do: run, db, invite-url, check, health"),
        (("db",), "say what to do: upgrade, downgrade, current"),
        (("invite-url", "--client-id", "-5"), "is not an application id"),
        (("invite-url", "--client-id", "abc"), "is not an application id"),
        (("db", "upgrade", "nonsense"), "There is no migration by that name"),
    ],
)
def test_argument_mistakes_read_like_every_other_error(
    tmp_path: Path, args: tuple[str, ...], expected: str
) -> None:
    """Argument errors name the choices in one sentence, never argparse's internals."""
    line = one_sentence(run_cli(tmp_path, *args))
    assert expected in line
    assert "db_command" not in line


def test_invite_url_without_token_mentions_client_id(tmp_path: Path) -> None:
    line = one_sentence(run_cli(tmp_path, "invite-url"))
    assert "DISCORD_TOKEN" in line
    assert "--client-id" in line


def test_downgrade_asks_for_confirmation_and_changes_nothing(tmp_path: Path) -> None:
    """Without --yes (and with nobody at the keyboard) a downgrade refuses and keeps the data."""
    assert run_cli(tmp_path, "db", "upgrade").returncode == 0
    line = one_sentence(run_cli(tmp_path, "db", "downgrade", "base"))
    assert "--yes" in line
    assert "every table" in line
    current = run_cli(tmp_path, "db", "current")
    assert "empty" not in current.stdout, current.stdout
    confirmed = run_cli(tmp_path, "db", "downgrade", "base", "--yes")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "empty (no migrations applied)" in confirmed.stdout


@pytest.mark.parametrize("args", [("db", "upgrade"), ("db", "current"), ("check",)])
def test_no_alembic_noise(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Migrating, or reading the revision, prints the outcome only, not Alembic's INFO lines
    (`check` without a token asks Discord nothing, so it runs off-line here)."""
    result = run_cli(tmp_path, *args, LOG_LEVEL="INFO")
    assert "database" in result.stdout.lower(), result.stdout + result.stderr
    assert "alembic" not in (result.stdout + result.stderr).lower()


@needs_postgres
def test_unknown_postgres_user_is_named(tmp_path: Path) -> None:
    url = make_url(POSTGRES_URL).set(username="no_such_balint_user")
    line = one_sentence(
        run_cli(tmp_path, "db", "current",
                DATABASE_URL=url.render_as_string(hide_password=False))
    )
    assert "no user 'no_such_balint_user'" in line


@needs_postgres
def test_missing_postgres_database_says_how_to_create_it(tmp_path: Path) -> None:
    url = make_url(POSTGRES_URL).set(database="no_such_balint_db")
    line = one_sentence(
        run_cli(tmp_path, "db", "current",
                DATABASE_URL=url.render_as_string(hide_password=False))
    )
    assert "does not exist" in line
    assert "createdb no_such_balint_db" in line


def test_run_with_discord_unreachable_says_so_in_one_sentence(tmp_path: Path) -> None:
    """One attempt allowed: a single sentence and a non-zero exit, no traceback."""
    result = run_cli(tmp_path, "-c", UNREACHABLE_DISCORD, "run",
                     DISCORD_TOKEN=TOKEN, DISCORD_CONNECT_ATTEMPTS="1")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.strip().splitlines() == [
        "balint-bot: Cannot reach Discord after 1 attempt; check this machine's internet "
        "connection and https://discordstatus.com."
    ]
    assert "secretpart" not in result.stderr + result.stdout


def test_run_retries_a_transient_outage_before_giving_up(tmp_path: Path) -> None:
    """With two attempts allowed, the first failure is logged with the wait, then it retries."""
    result = run_cli(tmp_path, "-c", UNREACHABLE_DISCORD, "run",
                     DISCORD_TOKEN=TOKEN, DISCORD_CONNECT_ATTEMPTS="2")
    assert "cannot reach Discord (attempt 1 of 2); trying again in 5 s" in result.stdout
    assert "after 2 attempts" in one_sentence(result)


@needs_postgres
def test_missing_test_database_is_one_line_with_createdb(tmp_path: Path) -> None:
    """The suite on a PostgreSQL server without the test database stops at once and says
    how to create it, instead of failing every test with a traceback."""
    url = make_url(POSTGRES_URL).set(database="no_such_balint_test_db")
    env = {**os.environ, "TEST_DATABASE_URL": url.render_as_string(hide_password=False),
           "TEST_DATABASES": "sqlite,postgresql"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/domain/test_zones.py", "-q", "-p",
         "no:cacheprovider"],
        capture_output=True, text=True, env=env, timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == 2
    output = result.stdout + result.stderr
    assert "createdb -h" in output
    assert "no_such_balint_test_db" in output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) <= 3
