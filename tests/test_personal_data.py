"""Every column holding a person's id or free text has a purpose, a reader and an end.

Derived from the models' metadata, so a new table or column cannot be forgotten: it
must be described in PERSONAL_DATA (and docs/privacy.md), and the export, erasure and
retention code must each deal with its model.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Column, Enum, String, Text

from bot.db.models import Base
from bot.services import privacy
from bot.services.privacy import PERSONAL_DATA, PrivacyService

DOCS = Path(__file__).resolve().parent.parent / "docs" / "privacy.md"

# Big integers that are Discord ids of things, not of people, or permission bits.
NOT_A_PERSON = ("channel_id", "role_id", "message_id", "thread_id", "event_id", "category_id")
NOT_A_PERSON_COLUMNS = {
    "servers.id": "the Discord server's id",
    "groups.server_id": "the Discord server's id",
    "voice_rooms.server_id": "the Discord server's id",
    "overwrite_changes.previous_allow": "permission bits",
    "overwrite_changes.previous_deny": "permission bits",
    "overwrite_changes.applied_allow": "permission bits",
    "overwrite_changes.applied_deny": "permission bits",
}
# Strings the bot writes itself, from a fixed vocabulary or at random.
NOT_FREE_TEXT = {
    "groups.timezone": "an IANA zone name, checked against the zone list",
    "meetings.schedule_note": "the bot's own note of a schedule adjustment",
    "meetings.current_phase": "a phase name from the bot's list",
    "phase_log.phase": "a phase name from the bot's list",
    "overwrite_changes.reason": "the bot's own reason key",
    "followups.submission_key": "a random key that makes a submission idempotent",
    "round_turns.status": "a turn status from the bot's list (bot/domain/rounds.py)",
    "attendance_statements.code": "an HMAC of the statement, made by the bot",
    "attendance_secrets.secret": "the server's random key for statement codes",
}


def _columns() -> list[tuple[str, Column[object]]]:
    return [
        (f"{table.name}.{column.name}", column)
        for table in Base.metadata.sorted_tables
        for column in table.columns
    ]


def holds_a_person(key: str, column: Column[object]) -> bool:
    if column.primary_key or column.foreign_keys:
        return False
    if isinstance(column.type, BigInteger):
        return key not in NOT_A_PERSON_COLUMNS and not column.name.endswith(NOT_A_PERSON)
    if isinstance(column.type, Text | String) and not isinstance(column.type, Enum):
        return key not in NOT_FREE_TEXT
    return False


PERSONAL = [key for key, column in _columns() if holds_a_person(key, column)]


def test_the_classification_finds_the_columns_it_should() -> None:
    """A check that found nothing would pass for ever."""
    assert {"memberships.user_id", "followups.text", "cases.label"} <= set(PERSONAL)
    assert "groups.text_channel_id" not in PERSONAL


def test_the_exceptions_name_real_columns() -> None:
    keys = {key for key, _ in _columns()}
    assert set(NOT_A_PERSON_COLUMNS) <= keys
    assert set(NOT_FREE_TEXT) <= keys


@pytest.mark.parametrize("key", PERSONAL)
def test_each_personal_column_is_described(key: str) -> None:
    assert key in PERSONAL_DATA, f"{key}: say why it is kept, who reads it, and when it ends"
    datum = PERSONAL_DATA[key]
    assert all([datum.why, datum.readers, datum.export, datum.erasure, datum.retention])


def test_nothing_is_described_that_is_not_there() -> None:
    assert set(PERSONAL_DATA) == set(PERSONAL)


@pytest.mark.parametrize("key", PERSONAL)
def test_the_docs_list_each_personal_column(key: str) -> None:
    assert f"`{key}`" in DOCS.read_text(encoding="utf-8")


def _model_name(key: str) -> str:
    table = key.split(".")[0]
    return next(
        m.class_.__name__
        for m in Base.registry.mappers
        if getattr(m.local_table, "name", None) == table
    )


EXPORT = inspect.getsource(PrivacyService.export)
ERASURE = inspect.getsource(PrivacyService.erase)
RETENTION = inspect.getsource(PrivacyService.apply_retention) + inspect.getsource(
    privacy._forget_people_before
)


@pytest.mark.parametrize("key", PERSONAL)
def test_export_erasure_and_retention_deal_with_each_model(key: str) -> None:
    model = _model_name(key)
    assert model in EXPORT, f"{key}: /privacy export leaves {model} out"
    assert model in ERASURE, f"{key}: /privacy delete leaves {model} out"
    assert model in RETENTION, f"{key}: retention leaves {model} out"
