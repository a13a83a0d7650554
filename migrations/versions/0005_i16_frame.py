"""the frame online: leaders' debrief space, deputies, drop-outs, the check-in round

Revision ID: 0005_i16_frame
Revises: 0003_i15_attendance
Create Date: 2026-11-23 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0005_i16_frame"
down_revision: str | None = "0003_i15_attendance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, bot.db.types.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "leader_spaces",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        _utc("created_at", False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_leader_spaces_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_id", name=op.f("pk_leader_spaces")),
    )
    op.create_table(
        "debriefs",
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("thread_id", sa.BigInteger(), nullable=True),
        _utc("claimed_at", False),
        _utc("deleted_at"),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_debriefs_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("meeting_id", name=op.f("pk_debriefs")),
    )
    op.create_table(
        "deputies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        _utc("named_at", False),
        _utc("accepted_at"),
        _utc("ended_at"),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_deputies_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_deputies_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deputies")),
    )
    op.create_index("ix_deputies_group", "deputies", ["group_id", "meeting_id"], unique=False)
    op.create_table(
        "frame_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "drop",
                "away",
                "stand_in",
                "pause",
                name="frameeventkind",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        _utc("started_at", False),
        _utc("due_at"),
        _utc("handled_at"),
        _utc("ended_at"),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_frame_events_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_frame_events")),
    )
    op.create_index(
        "ix_frame_events_open", "frame_events", ["meeting_id", "ended_at"], unique=False
    )
    op.create_table(
        "round_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("turn_order", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("one_voice", sa.Boolean(), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        _utc("started_at"),
        _utc("ended_at"),
        _utc("cue_sent_at"),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_round_turns_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_turns")),
    )
    op.create_index("ix_round_turns_meeting", "round_turns", ["meeting_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_round_turns_meeting", table_name="round_turns")
    op.drop_table("round_turns")
    op.drop_index("ix_frame_events_open", table_name="frame_events")
    op.drop_table("frame_events")
    op.drop_index("ix_deputies_group", table_name="deputies")
    op.drop_table("deputies")
    op.drop_table("debriefs")
    op.drop_table("leader_spaces")
