"""claimed interactions: one interaction acted on once

Revision ID: 0002_i10_resilience_claims
Revises: 0001
Create Date: 2026-11-23 14:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0002_i10_resilience_claims"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "claimed_interactions",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("claimed_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claimed_interactions")),
    )
    op.create_index(
        op.f("ix_claimed_interactions_claimed_at"),
        "claimed_interactions",
        ["claimed_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_claimed_interactions_claimed_at"), table_name="claimed_interactions")
    op.drop_table("claimed_interactions")
