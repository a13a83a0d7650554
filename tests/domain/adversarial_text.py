"""Texts built to make a backtracking matcher take exponential or quadratic time.

Shared by the identifier tests and the scanning benchmark, so both judge the same
worst cases: each is a few characters repeated up to the 4,000 characters a
follow-up may hold, with a character at the end that makes every attempt fail.
"""

from __future__ import annotations

FOLLOW_UP_LIMIT = 4000

# The units that drove the old patterns into backtracking, and what a new pattern would
# most likely trip on: runs of digits, separators, local parts, labels and capitals.
ADVERSARIAL_UNITS = (
    "2",
    "1 ",
    "12-",
    "(1)",
    "+1",
    "0",
    "a",
    "a.",
    "a-",
    "a@",
    "www.",
    "Ab ",
    "1 Ab ",
    "12 March ",
    "1/",
    "12.",
    " ",
    "\u200b",
    "Mr Ab ",
    "Margaret Ab ",
    "a@b.com ",
)


def adversarial_texts(length: int = FOLLOW_UP_LIMIT) -> dict[str, str]:
    """Each unit repeated to `length` characters, framed the way the issue found it."""
    texts: dict[str, str] = {}
    for unit in ADVERSARIAL_UNITS:
        body = (unit * (length // len(unit) + 1))[: length - 3]
        texts[f"+{unit!r}*"] = ("+" + body + "x")[:length]
        texts[f"{unit!r}*!"] = (body + "!x")[:length]
    texts["issue: +1 2*57 x"] = "+1" + "2" * 57 + "x"
    return texts
