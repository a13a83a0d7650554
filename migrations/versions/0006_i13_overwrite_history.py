"""the changes in force (by channel, or all of them) found through an index, not the history

Revision ID: 0006_i13_overwrite_history
Revises: 0005_i16_frame
Create Date: 2026-11-24 23:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_i13_overwrite_history"
down_revision: str | None = "0005_i16_frame"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_overwrite_changes_in_force",
        "overwrite_changes",
        ["restored_at", "channel_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_overwrite_changes_in_force", table_name="overwrite_changes")
