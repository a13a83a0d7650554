"""attendance: corrections, statements and the server's statement key

Revision ID: 0003_i15_attendance
Revises: 0002_i10_resilience_claims
Create Date: 2026-11-23 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0003_i15_attendance"
down_revision: str | None = "0002_i10_resilience_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "attendance_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("corrected_by", sa.BigInteger(), nullable=False),
        sa.Column("corrected_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_attendance_corrections_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_corrections")),
        sa.UniqueConstraint(
            "meeting_id", "user_id", name=op.f("uq_attendance_corrections_meeting_id_user_id")
        ),
    )
    op.create_table(
        "attendance_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("display_name", sa.String(length=80), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("issued_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_attendance_statements_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_statements")),
        sa.UniqueConstraint("code", name=op.f("uq_attendance_statements_code")),
    )
    op.create_index(
        op.f("ix_attendance_statements_group_id"),
        "attendance_statements",
        ["group_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_attendance_statements_user_id"), "attendance_statements", ["user_id"], unique=False
    )
    op.create_table(
        "attendance_secrets",
        sa.Column("server_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_attendance_secrets_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("server_id", name=op.f("pk_attendance_secrets")),
    )


def downgrade() -> None:
    op.drop_table("attendance_secrets")
    op.drop_index(op.f("ix_attendance_statements_user_id"), table_name="attendance_statements")
    op.drop_index(op.f("ix_attendance_statements_group_id"), table_name="attendance_statements")
    op.drop_table("attendance_statements")
    op.drop_table("attendance_corrections")
