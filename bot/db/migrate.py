"""Alembic, driven from code: the CLI and the tests share these calls.

Alembic (with Mako and Pygments behind it, some 8 MiB of a running process) is
imported only when a migration runs or Alembic is asked something: a bot starting on
an up-to-date database reads the newest revision from the files and the stored one
with one query, and never loads it (issue 13).
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_REVISION_LINE = re.compile(r'^(down_revision|revision)\b[^=\n]*+= *+(?:"([^"]++)"|None) *+$', re.M)
# Alembic's per-step INFO lines ("Context impl …", "Running upgrade …") are noise on a
# command line and in the bot's log, for every call here.
logging.getLogger("alembic").setLevel(logging.WARNING)


def alembic_config(database_url: str) -> Config:
    """A config that needs no alembic.ini on disk, so an installed package migrates too."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def head_revision() -> str:
    """The newest revision: what `db upgrade` brings a database to."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "migrations/versions holds no revision"
    return head


def head_from_files() -> str | None:
    """The newest revision read from migrations/versions without Alembic; None unless
    exactly one revision is nobody's parent (then Alembic is asked instead)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            if value:
                (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def upgrade_if_behind(database_url: str) -> None:
    """What `run` does first: migrate, unless the database is at the newest revision."""
    head = head_from_files()
    if head is None or asyncio.run(_stored_revisions(database_url)) != [head]:
        upgrade(database_url)


def downgrade(database_url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )


async def _stored_revisions(database_url: str) -> list[str]:
    """Alembic's record of the revision, read with plain SQL; empty before the first."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            try:
                result = await conn.execute(text("SELECT version_num FROM alembic_version"))
            except DBAPIError as error:
                if error.connection_invalidated:
                    raise
                return []
            return list(result.scalars().all())
    finally:
        await engine.dispose()
