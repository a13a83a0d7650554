"""Errors that carry a message meant for the person who ran the command."""

from __future__ import annotations


class UserFacingError(Exception):
    """Bad input or a refused action: shown ephemerally as-is, and nothing was changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MissingBotPermission(UserFacingError):
    """Discord refused the bot for lack of a permission; the message names what to grant."""


class HandledElsewhere(Exception):
    """Another process acknowledged the interaction first: this one stays silent and
    changes nothing (bot/replies.py: `defer_first`)."""
