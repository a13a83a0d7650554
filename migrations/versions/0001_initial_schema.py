"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 09:51:34.354848
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "servers",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("lobby_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_servers")),
    )
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("role_id", sa.BigInteger(), nullable=True),
        sa.Column("category_id", sa.BigInteger(), nullable=True),
        sa.Column("text_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("voice_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("forum_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("created_discord_ids", sa.JSON(), nullable=False),
        sa.Column("agreement_text", sa.Text(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("archived_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_groups_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groups")),
        sa.UniqueConstraint("server_id", "name", name=op.f("uq_groups_server_id_name")),
    )
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_groups_server_id"), ["server_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_groups_text_channel_id"), ["text_channel_id"], unique=False
        )

    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "leader", "co_leader", "member", name="memberrole", native_enum=False, length=24
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "invited",
                "active",
                "declined",
                "removed",
                name="membershipstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("invited_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("agreement_accepted_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("joined_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("left_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminder_dms", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_memberships_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("group_id", "user_id", name=op.f("uq_memberships_group_id_user_id")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_user_id"), ["user_id"], unique=False)

    op.create_table(
        "schedule_series",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_schedule_series_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_series")),
    )
    with op.batch_alter_table("schedule_series", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_series_group_id"), ["group_id"], unique=False)

    op.create_table(
        "meetings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("series_id", sa.Integer(), nullable=True),
        sa.Column("occurrence_index", sa.Integer(), nullable=True),
        sa.Column("scheduled_start", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("planned_end", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled",
                "live",
                "ended",
                "cancelled",
                name="meetingstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("schedule_note", sa.String(length=40), nullable=True),
        sa.Column("moved_from", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("voice_channel_id", sa.BigInteger(), nullable=True),
        sa.Column("discord_event_id", sa.BigInteger(), nullable=True),
        sa.Column("panel_message_id", sa.BigInteger(), nullable=True),
        sa.Column("current_case_number", sa.Integer(), nullable=True),
        sa.Column("current_phase", sa.String(length=32), nullable=True),
        sa.Column("started_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("started_by", sa.BigInteger(), nullable=True),
        sa.Column("ended_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_meetings_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["series_id"],
            ["schedule_series.id"],
            name=op.f("fk_meetings_series_id_schedule_series"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meetings")),
        sa.UniqueConstraint(
            "series_id", "occurrence_index", name=op.f("uq_meetings_series_id_occurrence_index")
        ),
    )
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_meetings_group_start", ["group_id", "scheduled_start"], unique=False
        )
        batch_op.create_index(
            "uq_meetings_one_live_per_group",
            ["group_id"],
            unique=True,
            sqlite_where=sa.text("status = 'live'"),
            postgresql_where=sa.text("status = 'live'"),
        )
        batch_op.create_index(batch_op.f("ix_meetings_status"), ["status"], unique=False)

    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("joined_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("left_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_attendance_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance")),
    )
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.create_index("ix_attendance_meeting_user", ["meeting_id", "user_id"], unique=False)

    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.Integer(), nullable=True),
        sa.Column("presenter_id", sa.BigInteger(), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "offered",
                "presenting",
                "presented",
                "closed",
                "withdrawn",
                name="casestatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("offered_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("presented_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("forum_thread_id", sa.BigInteger(), nullable=True),
        sa.Column("prompts_sent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["groups.id"], name=op.f("fk_cases_group_id_groups"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_cases_meeting_id_meetings"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_group_presenter", ["group_id", "presenter_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cases_meeting_id"), ["meeting_id"], unique=False)

    op.create_table(
        "overwrite_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("target_is_role", sa.Boolean(), nullable=False),
        sa.Column("previous_allow", sa.BigInteger(), nullable=True),
        sa.Column("previous_deny", sa.BigInteger(), nullable=True),
        sa.Column("applied_allow", sa.BigInteger(), nullable=False),
        sa.Column("applied_deny", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("applied_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("restored_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_overwrite_changes_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_overwrite_changes")),
    )
    with op.batch_alter_table("overwrite_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_overwrite_changes_open", ["meeting_id", "restored_at"], unique=False
        )

    op.create_table(
        "presenter_passes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("passed_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name=op.f("fk_presenter_passes_group_id_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_presenter_passes_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presenter_passes")),
    )
    with op.batch_alter_table("presenter_passes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_presenter_passes_group_id"), ["group_id"], unique=False
        )

    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("due_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_reminders_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        sa.UniqueConstraint(
            "meeting_id", "offset_minutes", name=op.f("uq_reminders_meeting_id_offset_minutes")
        ),
    )
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reminders_due_at"), ["due_at"], unique=False)

    op.create_table(
        "rsvps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "answer",
            sa.Enum("attending", "apologies", name="rsvpanswer", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("answered_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_rsvps_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rsvps")),
        sa.UniqueConstraint("meeting_id", "user_id", name=op.f("uq_rsvps_meeting_id_user_id")),
    )
    op.create_table(
        "voice_rooms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("held_by_meeting_id", sa.Integer(), nullable=True),
        sa.Column("added_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["held_by_meeting_id"],
            ["meetings.id"],
            name=op.f("fk_voice_rooms_held_by_meeting_id_meetings"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["server_id"],
            ["servers.id"],
            name=op.f("fk_voice_rooms_server_id_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voice_rooms")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_voice_rooms_channel_id")),
        sa.UniqueConstraint("held_by_meeting_id", name=op.f("uq_voice_rooms_held_by_meeting_id")),
    )
    with op.batch_alter_table("voice_rooms", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_voice_rooms_server_id"), ["server_id"], unique=False)

    op.create_table(
        "followup_prompts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("before_meeting_id", sa.Integer(), nullable=False),
        sa.Column("due_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["before_meeting_id"],
            ["meetings.id"],
            name=op.f("fk_followup_prompts_before_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_followup_prompts_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followup_prompts")),
        sa.UniqueConstraint(
            "case_id",
            "before_meeting_id",
            name=op.f("uq_followup_prompts_case_id_before_meeting_id"),
        ),
    )
    with op.batch_alter_table("followup_prompts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_followup_prompts_due_at"), ["due_at"], unique=False)

    op.create_table(
        "followups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("submission_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.BigInteger(), nullable=True),
        sa.Column("posted_message_id", sa.BigInteger(), nullable=True),
        sa.Column("posted_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("post_attempts", sa.Integer(), nullable=False),
        sa.Column("sync_claimed_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_followups_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followups")),
        sa.UniqueConstraint("submission_key", name=op.f("uq_followups_submission_key")),
    )
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_followups_author_id"), ["author_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_followups_case_id"), ["case_id"], unique=False)

    op.create_table(
        "phase_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meeting_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("case_number", sa.Integer(), nullable=True),
        sa.Column("phase", sa.String(length=32), nullable=False),
        sa.Column("started_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.BigInteger(), nullable=True),
        sa.Column("planned_seconds", sa.Integer(), nullable=False),
        sa.Column("ended_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("warning_cue_sent_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_cue_sent_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_phase_log_case_id_cases"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_phase_log_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_log")),
    )
    with op.batch_alter_table("phase_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phase_log_meeting_id"), ["meeting_id"], unique=False)

    op.create_table(
        "reminder_dms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reminder_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("sent_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reminder_id"],
            ["reminders.id"],
            name=op.f("fk_reminder_dms_reminder_id_reminders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_dms")),
        sa.UniqueConstraint(
            "reminder_id", "user_id", name=op.f("uq_reminder_dms_reminder_id_user_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("reminder_dms")
    with op.batch_alter_table("phase_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phase_log_meeting_id"))

    op.drop_table("phase_log")
    with op.batch_alter_table("followups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followups_case_id"))
        batch_op.drop_index(batch_op.f("ix_followups_author_id"))

    op.drop_table("followups")
    with op.batch_alter_table("followup_prompts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followup_prompts_due_at"))

    op.drop_table("followup_prompts")
    with op.batch_alter_table("voice_rooms", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_voice_rooms_server_id"))

    op.drop_table("voice_rooms")
    op.drop_table("rsvps")
    with op.batch_alter_table("reminders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reminders_due_at"))

    op.drop_table("reminders")
    with op.batch_alter_table("presenter_passes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_presenter_passes_group_id"))

    op.drop_table("presenter_passes")
    with op.batch_alter_table("overwrite_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_overwrite_changes_open")

    op.drop_table("overwrite_changes")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_meeting_id"))
        batch_op.drop_index("ix_cases_group_presenter")

    op.drop_table("cases")
    with op.batch_alter_table("attendance", schema=None) as batch_op:
        batch_op.drop_index("ix_attendance_meeting_user")

    op.drop_table("attendance")
    with op.batch_alter_table("meetings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meetings_status"))
        batch_op.drop_index("uq_meetings_one_live_per_group")
        batch_op.drop_index("ix_meetings_group_start")

    op.drop_table("meetings")
    with op.batch_alter_table("schedule_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_series_group_id"))

    op.drop_table("schedule_series")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_user_id"))

    op.drop_table("memberships")
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_groups_text_channel_id"))
        batch_op.drop_index(batch_op.f("ix_groups_server_id"))

    op.drop_table("groups")
    op.drop_table("servers")
