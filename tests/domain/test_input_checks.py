from __future__ import annotations

import pytest

from bot.domain.input_checks import (
    LARGEST_ID,
    MAX_OPTION_LENGTH,
    database_id,
    excerpt,
    number_refusal,
    text_refusal,
)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("x" * (MAX_OPTION_LENGTH + 1), "too long"),
        ("nul\x00", "control"),
        ("two\nlines", "control"),
        ("\u202eevil", "direction"),
        ("a\u2066b", "direction"),
        ("\u200b\u200b", "blank"),
        ("\u2060 \ufeff", "blank"),
    ],
)
def test_unusable_text_is_refused_with_a_reason(value: str, reason: str) -> None:
    refused = text_refusal("label", value)
    assert refused is not None
    assert reason in refused
    assert value not in refused


@pytest.mark.parametrize("value", ["the quiet shearer", "Zoë’s café", "x" * MAX_OPTION_LENGTH, ""])
def test_ordinary_text_passes(value: str) -> None:
    assert text_refusal("label", value) is None


@pytest.mark.parametrize(
    ("value", "refused"),
    [(2**53, True), (-(2**31) - 1, True), (2**31 - 1, False), (float("nan"), True), (-5, False)],
)
def test_numbers_must_fit_postgresql_integer(value: float, refused: bool) -> None:
    assert (number_refusal("minutes", value) is not None) is refused


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("12", 12),
        (str(LARGEST_ID), LARGEST_ID),
        (str(LARGEST_ID + 1), None),
        ("0", None),
        ("-3", None),
        ("١٢", None),
        ("9" * 30, None),
    ],
)
def test_database_ids_fit_bigint(text: str, found: int | None) -> None:
    assert database_id(text) == found


def test_an_excerpt_is_short_printable_and_cannot_close_code() -> None:
    quoted = excerpt("`" + "a\x00\u202e" * 100)
    assert len(quoted) <= 40
    assert "`" not in quoted
    assert "\x00" not in quoted
    assert "\u202e" not in quoted
