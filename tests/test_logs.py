"""What survives of a library's log record: ids, statuses, methods, addresses."""

from __future__ import annotations

import functools
import logging

import pytest

from bot.logs import WITHHELD, reduce_record, safe_argument

TOKEN = "aW50ZXJhY3Rpb24g3FG6QX-s-T30B9ebo1nSyWB73rN0C2BlhJnk3nCw8mBWeMIsYtPC"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (200, 200),
        (None, None),
        (1.5, 1.5),
        ("POST", "POST"),
        (
            "https://discord.com/api/v10/channels/123/messages?around=4",
            "https://discord.com/api/v10/channels/123/messages",
        ),
        (
            f"https://discord.com/api/v10/interactions/99/{TOKEN}/callback",
            "https://discord.com/api/v10/interactions/99/<token>/callback",
        ),
        (
            f"http://127.0.0.1:1/api/v10/webhooks/9/{TOKEN}",
            "http://127.0.0.1:1/api/v10/webhooks/9/<token>",
        ),
        ("Mrs Thornbury's follow-up", WITHHELD),
        ({"content": "the quiet shearer"}, WITHHELD),
        (["a label"], WITHHELD),
        (b"bytes of a body", WITHHELD),
        (functools.partial(print, "SELECT ?", ("a label",)), WITHHELD),
        (
            {"op": 0, "t": "INTERACTION_CREATE", "s": 3, "d": {"label": "the shearer"}},
            {"op": 0, "t": "INTERACTION_CREATE", "s": 3},
        ),
        ({"op": 0, "t": "a label, forged", "s": 3}, {"op": 0, "t": None, "s": 3}),
    ],
)
def test_only_what_cannot_be_content_is_kept(value: object, kept: object) -> None:
    assert safe_argument(value) == kept


def test_a_record_keeps_its_template_and_loses_its_body() -> None:
    record = logging.LogRecord(
        "discord.http",
        logging.DEBUG,
        __file__,
        1,
        "%s %s with %s has returned %s",
        ("POST", "https://discord.com/api/v10/channels/1/messages", '{"content": "x"}', 200),
        None,
    )
    reduce_record(record)
    assert record.getMessage() == (
        f"POST https://discord.com/api/v10/channels/1/messages with {WITHHELD} has returned 200"
    )
