"""The command line: clear sentences for every mistake, and the token never shown."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from bot.cli import application_id_from_token, main
from bot.db.engine import create_engine
from bot.db.migrate import current_revision, head_from_files, head_revision
from bot.permissions import REQUIRED_PERMISSIONS, required_permissions

APPLICATION_ID = 123456789012345678
TOKEN = base64.b64encode(str(APPLICATION_ID).encode()).decode().rstrip("=") + ".GaBcDe.secretpart"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings leak in from the developer's shell or a .env file."""
    for name in ("DISCORD_TOKEN", "DATABASE_URL", "LOG_LEVEL", "DEV_GUILD_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def test_run_without_token_says_what_to_set() -> None:
    """`python -m bot run` with no token exits non-zero with one sentence, no traceback."""
    env = {k: v for k, v in os.environ.items() if k != "DISCORD_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode != 0
    assert "DISCORD_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_malformed_token_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "not-a-token-secretvalue")
    assert main(["run"]) == 2
    out = capsys.readouterr()
    assert "does not look like a bot token" in out.err
    assert "secretvalue" not in out.err + out.out


def test_invalid_setting_never_prints_the_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    assert main(["check"]) == 2
    out = capsys.readouterr()
    assert "LOG_LEVEL" in out.err
    assert "secretpart" not in out.err + out.out


def test_invite_url_has_exactly_the_listed_permissions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The application id comes from the token; the permissions integer from the list."""
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    assert main(["invite-url"]) == 0
    url = urlparse(capsys.readouterr().out.strip())
    query = parse_qs(url.query)
    assert query["client_id"] == [str(APPLICATION_ID)]
    assert query["scope"] == ["bot applications.commands"]
    permissions = int(query["permissions"][0])
    assert permissions == required_permissions().value
    assert bin(permissions).count("1") == len(REQUIRED_PERMISSIONS)


def test_invite_url_with_client_id_needs_no_token(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invite-url", "--client-id", "42"]) == 0
    assert "client_id=42" in capsys.readouterr().out


def test_application_id_is_read_from_the_token() -> None:
    assert application_id_from_token(TOKEN) == APPLICATION_ID


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        ("mysql://root@localhost/balint", "does not support"),
        ("not a url", "is not a database URL"),
        ("postgresql+asyncpg://postgres@127.0.0.1:1/test", "Cannot reach the database"),
        ("sqlite+aiosqlite:////nonexistent-folder/x.db", "cannot be opened"),
    ],
)
def test_bad_database_gets_one_sentence(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    expected: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert len(err.strip().splitlines()) == 1


def test_read_only_database_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A database the bot cannot write to is reported as read-only, not as a crash."""
    database = tmp_path / "ro.db"
    database.write_bytes(b"")
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///file:{database}?mode=ro&uri=true")
    assert main(["db", "upgrade"]) == 2
    assert "read-only" in capsys.readouterr().err


def test_db_commands_on_a_fresh_sqlite_file(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """upgrade, current and downgrade base work and report the revision (`check`, which asks
    Discord, is tested against the emulator in tests/e2e/test_cli_check.py)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("DISCORD_TOKEN", TOKEN)
    assert main(["db", "upgrade"]) == 0
    assert f"Database revision: {head_revision()}" in capsys.readouterr().out
    assert main(["db", "downgrade", "base", "--yes"]) == 0
    assert "empty" in capsys.readouterr().out


def test_check_reports_every_problem(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:1/test")
    assert main(["check"]) == 1
    err = capsys.readouterr().err
    assert "No bot token" in err
    assert "Cannot reach the database" in err


def test_newest_revision_read_from_the_files_is_alembics() -> None:
    assert head_from_files() == head_revision()


def test_run_migrates_a_behind_database_and_skips_alembic_at_the_head(tmp_path: Path) -> None:
    """`run` brings a fresh database to the head; on one already there, Alembic (and its
    megabytes) is never imported."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'run.db'}"
    probe = (
        "import sys\n"
        "from bot.db import migrate\n"
        f"migrate.upgrade_if_behind({url!r})\n"
        "print(any(name.startswith('alembic') for name in sys.modules))\n"
    )
    for expected in ("True", "False"):
        result = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
        )
        assert result.stdout.strip() == expected, result.stderr

    async def stored() -> str | None:
        engine = create_engine(url)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    assert asyncio.run(stored()) == head_revision()
