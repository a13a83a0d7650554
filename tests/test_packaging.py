"""The installed package (the Docker image) carries everything `balint-bot run` needs."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_migration_revision_is_packaged() -> None:
    """Revisions live in a folder without __init__.py: package data must name them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["migrations"]
    revisions = sorted((ROOT / "migrations" / "versions").glob("*.py"))
    assert revisions
    for revision in revisions:
        relative = revision.relative_to(ROOT / "migrations").as_posix()
        assert any(fnmatch(relative, pattern) for pattern in patterns), relative
    assert any(fnmatch("script.py.mako", pattern) for pattern in patterns)


def test_containers_are_checked_by_the_bots_own_heartbeat() -> None:
    """Docker's and compose's health checks run `balint-bot health` on a heartbeat file the
    bot is told to keep (tests/e2e/test_run_command.py checks the command itself)."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'CMD ["balint-bot", "health"]' in dockerfile
    assert "ENV HEARTBEAT_FILE=" in dockerfile
    compose = (ROOT / "docker-compose.yml").read_text()
    bot = compose[compose.index("  bot:"):]
    assert 'test: ["CMD", "balint-bot", "health"]' in bot
    assert "HEARTBEAT_FILE: " in bot
