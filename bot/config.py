"""Settings read from the environment and an optional `.env` file.

A plain dataclass rather than pydantic-settings: a handful of settings need no validation
framework, and pydantic weighed about 9 MiB in every bot process (issue 13).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

from bot.domain.shards import Shards

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///balint.db"
SUPPORTED_DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
CONNECT_ATTEMPTS_RANGE = (1, 100)


class SecretStr:
    """A value that never shows in a repr or a log line (the token)."""

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('**********')" if self._value else "SecretStr('')"

    __str__ = __repr__


class SettingsError(ValueError):
    """Settings that cannot be used; `problems` names each setting and what is wrong,
    never its value (it could be the token)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {problem}" for name, problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    """Everything the bot reads from its environment.

    Built directly (tests, benchmarks) it holds only what it is given and the
    defaults; `Settings.load()` reads the environment and the `.env` file.
    The token is a `SecretStr` so that printing the settings, or an error that
    includes them, never reveals it.
    """

    discord_token: SecretStr | None = None
    database_url: str = DEFAULT_DATABASE_URL
    log_level: LogLevel = "INFO"
    dev_guild_id: int | None = None
    # How often `run` tries to reach Discord before giving up (a supervisor restarts it).
    discord_connect_attempts: int = 6
    # Where the bot records its gateway connection for `balint-bot health` (none: no file).
    heartbeat_file: Path | None = None
    # Several processes (see the README, "More than one process"): the bot's shard count,
    # and the shards this process holds ("0,1"; none: all of them). Unset: one unsharded
    # connection, as for any bot under 2,500 servers.
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        self.shards()  # refuses ids outside 0 .. shard_count - 1, or ids without a count

    @classmethod
    def load(
        cls, env_file: str | Path | None = ".env", environ: Mapping[str, str] | None = None
    ) -> Settings:
        """From the environment, then the `.env` file (None: no file), then the defaults;
        names are matched whatever their case. Raises `SettingsError`."""
        raw: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            # Imported here: only a `.env` file needs the parser.
            from dotenv import dotenv_values

            in_file = dotenv_values(env_file, encoding="utf-8")
            raw.update((k.lower(), v) for k, v in in_file.items() if v is not None)
        raw.update((k.lower(), v) for k, v in (os.environ if environ is None else environ).items())
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for field in fields(cls):
            if field.name not in raw:
                continue
            try:
                values[field.name] = _PARSERS[field.name](raw[field.name])
            except ValueError as error:
                problems.append((field.name.upper(), str(error)))
        if problems:
            raise SettingsError(problems)
        try:
            return cls(**values)
        except ValueError as error:
            raise SettingsError([("SHARD_IDS", str(error))]) from None

    def shards(self) -> Shards:
        """The shards this process holds."""
        return Shards(self.shard_count, self.shard_ids)

    def log_level_number(self) -> int:
        """The numeric level for `logging`."""
        return logging.getLevelNamesMapping()[self.log_level]


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in get_args(LogLevel):
        raise ValueError(f"Input should be one of {', '.join(get_args(LogLevel))}")
    return level


def _optional_int(text: str) -> int | None:
    if not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise ValueError("Input should be a valid integer") from None


def _shard_count(text: str) -> int | None:
    number = _optional_int(text)
    if number is not None and number < 1:
        raise ValueError("Input should be greater than or equal to 1")
    return number


def _shard_ids(text: str) -> tuple[int, ...] | None:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip()) or None
    except ValueError:
        raise ValueError("Input should be shard numbers separated by commas") from None


def _connect_attempts(text: str) -> int:
    low, high = CONNECT_ATTEMPTS_RANGE
    number = _optional_int(text)
    if number is None or not low <= number <= high:
        raise ValueError(f"Input should be a whole number from {low} to {high}")
    return number


_PARSERS: dict[str, Callable[[str], Any]] = {
    "discord_token": SecretStr,
    "database_url": str,
    "log_level": _log_level,
    "dev_guild_id": _optional_int,
    "discord_connect_attempts": _connect_attempts,
    "heartbeat_file": lambda text: Path(text) if text else None,
    "shard_count": _shard_count,
    "shard_ids": _shard_ids,
}
