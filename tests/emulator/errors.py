"""Discord's error responses, raised by handlers and turned into JSON by the server."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP error with Discord's JSON body, so discord.py raises the same exception type."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def payload(self) -> dict[str, Any]:
        """Body exactly as Discord shapes it."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


_UNKNOWN = {
    "channel": 10003,
    "guild": 10004,
    "message": 10008,
    "member": 10007,
    "role": 10011,
    "user": 10013,
    "webhook": 10015,
    "interaction": 10062,
    "application command": 10063,
    "guild scheduled event": 10070,
}


def unknown(kind: str) -> ApiError:
    """404 for a missing resource, e.g. ``unknown("channel")`` → 10003 Unknown Channel."""
    return ApiError(404, _UNKNOWN[kind], f"Unknown {kind.title()}")


def missing_permissions() -> ApiError:
    """403 50013, what Discord answers whenever the bot lacks a permission or hierarchy."""
    return ApiError(403, 50013, "Missing Permissions")


def missing_access() -> ApiError:
    """403 50001: the bot cannot even see the resource (no VIEW_CHANNEL)."""
    return ApiError(403, 50001, "Missing Access")


def invalid_form(field: str, message: str, code: str = "BASE_TYPE_INVALID") -> ApiError:
    """400 50035 with Discord's nested ``errors`` object for one field; a dotted path
    (``embeds.0.fields.3.value``) nests one object per step, as Discord's does."""
    errors: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for step in reversed(field.split(".")):
        errors = {step: errors}
    return ApiError(400, 50035, "Invalid Form Body", errors)


def unauthorized() -> ApiError:
    """401 for a bad token."""
    return ApiError(401, 0, "401: Unauthorized")


def thread_archived() -> ApiError:
    """400 50083: an operation, such as editing a message, on an archived thread."""
    return ApiError(400, 50083, "Thread is archived")
