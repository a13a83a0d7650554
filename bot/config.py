"""Settings read from the environment and an optional `.env` file."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///balint.db"
SUPPORTED_DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    """Everything the bot reads from its environment.

    The token is a `SecretStr` so that printing the settings, or an error that
    includes them, never reveals it.
    """

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    discord_token: SecretStr | None = Field(default=None)
    database_url: str = DEFAULT_DATABASE_URL
    log_level: LogLevel = "INFO"
    dev_guild_id: int | None = None
    # How often `run` tries to reach Discord before giving up (a supervisor restarts it).
    discord_connect_attempts: int = Field(default=6, ge=1, le=100)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("dev_guild_id", mode="before")
    @classmethod
    def _blank_guild_is_none(cls, value: object) -> object:
        return None if value == "" else value

    def log_level_number(self) -> int:
        """The numeric level for `logging`."""
        return logging.getLevelNamesMapping()[self.log_level]
