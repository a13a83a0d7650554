"""the cases in follow-up and the meetings held since found through indexes, not the history

Revision ID: 0007_i13_history_at_startup
Revises: 0006_i13_overwrite_history
Create Date: 2026-11-25 03:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007_i13_history_at_startup"
down_revision: str | None = "0006_i13_overwrite_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_meetings_group_held", "meetings", ["group_id", "status", "started_at"], unique=False
    )
    op.create_index("ix_cases_status", "cases", ["status", "forum_thread_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_cases_status", table_name="cases")
    op.drop_index("ix_meetings_group_held", table_name="meetings")
