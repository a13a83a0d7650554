"""What every value typed into a command must be before any command sees it.

Discord lets a client send up to 6,000 characters in a string option, any character
(NUL, bidirectional overrides, zero-width spaces) and integers up to ±2^53. None of
the bot's options needs any of that, and each such value has ended in a generic error,
a database error (PostgreSQL's int and bigint are narrower) or a label that reads
differently from what it is. Refusals quote at most a short, cleaned excerpt.
"""

from __future__ import annotations

import math
import unicodedata

# The longest value any option needs (a phase list is the longest); Discord allows 6,000.
MAX_OPTION_LENGTH = 1000
EXCERPT_LENGTH = 40
# PostgreSQL's integer: counts, minutes and row ids typed as numbers fit in it.
SMALLEST_INT = -(2**31)
LARGEST_INT = 2**31 - 1
# PostgreSQL's bigint: Discord snowflakes and row ids.
LARGEST_ID = 2**63 - 1
# Characters that make text display in another order than it is stored.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def excerpt(value: str, length: int = EXCERPT_LENGTH) -> str:
    """A short, printable quotation of something typed, safe inside `code`."""
    printable = "".join(
        char if unicodedata.category(char)[0] not in "CZ" or char == " " else "�"
        for char in value[: length + 1]
    ).replace("`", "'")
    return printable if len(printable) <= length else printable[: length - 1] + "…"


def text_refusal(name: str, value: str, max_length: int = MAX_OPTION_LENGTH) -> str | None:
    """Why a text value is refused, or None if it may be used."""
    if len(value) > max_length:
        return f"`{name}` is too long: at most {max_length} characters, please."
    if any(unicodedata.category(char) == "Cc" for char in value):
        return f"`{name}` contains control characters (such as a line break or NUL)."
    if any(char in BIDI_CONTROLS for char in value):
        return f"`{name}` contains characters that reverse the direction of the text."
    if value and not any(
        unicodedata.category(char) not in ("Cf", "Zs", "Zl", "Zp") for char in value
    ):
        return f"`{name}` is blank: it holds only invisible characters."
    return None


def number_refusal(name: str, value: float) -> str | None:
    """Why a number is refused: every number the bot stores fits PostgreSQL's integer."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"`{name}` must be a number."
    if not SMALLEST_INT <= value <= LARGEST_INT:
        return f"`{name}` is out of range."
    return None


def database_id(text: str) -> int | None:
    """A row or Discord id written in decimal, or None if it cannot be one."""
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= LARGEST_ID else None
