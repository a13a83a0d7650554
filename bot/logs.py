"""Logs hold ids and statuses, never what members wrote, at every level.

discord.py logs request and response bodies (discord.http) and every gateway payload
(discord.gateway) at DEBUG, aiosqlite logs each call with its SQL parameters, and
SQLAlchemy logs statements and parameters once its logger is enabled: between them,
case labels, follow-ups, the agreement and names. DEBUG is a documented setting, so
rather than trust every library's choices, each record from a logger outside the bot's
own code has its arguments reduced to what cannot be content: numbers, HTTP methods,
addresses without their query or tokens, and a gateway payload's opcode, event name
and sequence. The hook is the log record factory, so every handler sees the same
reduced record (tests capturing logs included).
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Mapping
from typing import Any

WITHHELD = "<withheld>"
# Loggers whose calls are reviewed to pass ids and statuses only.
_OWN_LOGGERS = ("bot", "cogs", "__main__")
_HTTP_METHOD = re.compile(r"[A-Z]{3,7}")
_EVENT_NAME = re.compile(r"[A-Z_]{1,40}")
_ADDRESS = re.compile(r"(?:https?|wss?)://[^\s?#]*+")
# Interaction and webhook tokens sit in the path as one long segment.
_TOKEN_SEGMENT = re.compile(r"(?<=/)[A-Za-z0-9_.-]{30,}+(?=/|$)")

_previous_factory: Any = None


def withhold_content_from_logs() -> None:
    """Install the reduction for every record created from now on (idempotent)."""
    global _previous_factory
    if _previous_factory is not None:
        return
    _previous_factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_reduced_record)


def _reduced_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record: logging.LogRecord = _previous_factory(*args, **kwargs)
    if not record.name.startswith(_OWN_LOGGERS):
        reduce_record(record)
    return record


def reduce_record(record: logging.LogRecord) -> None:
    """Keep the library's message template; replace each argument by what is safe."""
    if not isinstance(record.msg, str):
        record.msg = WITHHELD
    if isinstance(record.args, Mapping):
        record.args = {key: safe_argument(value) for key, value in record.args.items()}
    elif record.args:
        record.args = tuple(safe_argument(value) for value in record.args)


def safe_argument(value: object) -> object:
    """`value` if it cannot carry what someone wrote, else what is safe of it."""
    if value is None or isinstance(value, bool | int | float | enum.Enum):
        return value
    if isinstance(value, str):
        if _HTTP_METHOD.fullmatch(value):
            return value
        address = _ADDRESS.match(value)
        if address is not None:
            return _TOKEN_SEGMENT.sub("<token>", address[0])
        return WITHHELD
    if isinstance(value, Mapping) and "op" in value:
        # A gateway payload: what happened, never what it carried.
        event = value.get("t")
        return {
            "op": safe_argument(value.get("op")),
            "t": event if isinstance(event, str) and _EVENT_NAME.fullmatch(event) else None,
            "s": safe_argument(value.get("s")),
        }
    return WITHHELD
