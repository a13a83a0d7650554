"""what start-up's follow-up planning reads found through indexes, not the history

Revision ID: 0008_i13_history_reads
Revises: 0007_i13_history_at_startup
Create Date: 2026-11-25 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_i13_history_reads"
down_revision: str | None = "0007_i13_history_at_startup"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As bot/db/models.py's FOLLOWUP_OUT_OF_SYNC renders it: SQLite uses the index only for a
# query whose WHERE holds this very expression.
OUT_OF_SYNC = (
    "deleted_at IS NOT NULL AND posted_message_id IS NOT NULL "
    "OR deleted_at IS NULL AND (posted_message_id IS NULL OR posted_at IS NULL)"
)
UNSENT = "sent_at IS NULL"


def upgrade() -> None:
    _create_partial_index("ix_followups_out_of_sync", "followups", "id", OUT_OF_SYNC)
    op.create_index(
        "ix_followup_prompts_before_meeting",
        "followup_prompts",
        ["before_meeting_id"],
        unique=False,
    )
    _create_partial_index("ix_followup_prompts_unsent", "followup_prompts", "case_id", UNSENT)
    op.create_index("ix_cases_group_status", "cases", ["group_id", "status"], unique=False)


def _create_partial_index(name: str, table: str, column: str, condition: str) -> None:
    """An index of the rows that meet `condition`, on either database."""
    op.create_index(
        name,
        table,
        [column],
        unique=False,
        sqlite_where=sa.text(condition),
        postgresql_where=sa.text(condition),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_group_status", table_name="cases")
    op.drop_index("ix_followup_prompts_unsent", table_name="followup_prompts")
    op.drop_index("ix_followup_prompts_before_meeting", table_name="followup_prompts")
    op.drop_index("ix_followups_out_of_sync", table_name="followups")
