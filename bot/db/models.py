"""The database: the single source of truth for groups, meetings and what the bot did.

Discord ids are stored as 64-bit integers. Every timestamp is a `UTCDateTime`,
which refuses naive values. Columns that guard against doing a thing twice
(`sent_at`, `restored_at`, unique keys) are what make scheduled work idempotent
across restarts and across processes.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    and_,
    or_,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.db.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with named constraints, so migrations can refer to them."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        date: Date(),
    }


def _enum(enum_class: type[enum.Enum]) -> Enum:
    """Stored as its string values, without database-native enum types to migrate."""
    return Enum(
        enum_class,
        native_enum=False,
        length=24,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


def _discord_id(*, nullable: bool = False, index: bool = False) -> Mapped[Any]:
    return mapped_column(BigInteger, nullable=nullable, index=index)


class MemberRole(enum.StrEnum):
    LEADER = "leader"
    CO_LEADER = "co_leader"
    MEMBER = "member"


class MembershipStatus(enum.StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    DECLINED = "declined"
    REMOVED = "removed"


class MeetingStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class CaseStatus(enum.StrEnum):
    OFFERED = "offered"
    PRESENTING = "presenting"
    PRESENTED = "presented"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class RsvpAnswer(enum.StrEnum):
    ATTENDING = "attending"
    APOLOGIES = "apologies"


class Server(Base):
    """A Discord server (guild) the bot serves, e.g. a regional Balint society."""

    __tablename__ = "servers"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    lobby_channel_id: Mapped[int | None] = _discord_id(nullable=True)
    created_at: Mapped[datetime]


class VoiceRoom(Base):
    """A voice channel in a server's shared pool; held by at most one live meeting."""

    __tablename__ = "voice_rooms"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    held_by_meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), unique=True
    )
    added_at: Mapped[datetime]


class Group(Base):
    """A Balint group: its members, its channels and its settings."""

    __tablename__ = "groups"
    __table_args__ = (UniqueConstraint("server_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    role_id: Mapped[int | None] = _discord_id(nullable=True)
    category_id: Mapped[int | None] = _discord_id(nullable=True)
    text_channel_id: Mapped[int | None] = _discord_id(nullable=True, index=True)
    voice_channel_id: Mapped[int | None] = _discord_id(nullable=True)
    forum_channel_id: Mapped[int | None] = _discord_id(nullable=True)
    # Channels and the role the bot created itself (and may delete); adopted ones are kept.
    created_discord_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    agreement_text: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    archived_at: Mapped[datetime | None]


class Membership(Base):
    """A person's place in a group, from invitation to leaving."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    user_id: Mapped[int] = _discord_id(index=True)
    role: Mapped[MemberRole] = mapped_column(_enum(MemberRole))
    status: Mapped[MembershipStatus] = mapped_column(_enum(MembershipStatus))
    invited_at: Mapped[datetime]
    agreement_accepted_at: Mapped[datetime | None]
    joined_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]
    reminder_dms: Mapped[bool] = mapped_column(Boolean, default=False)


class ScheduleSeries(Base):
    """A recurrence rule for a group's meetings; ended, never edited, when it changes."""

    __tablename__ = "schedule_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    rule: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class Meeting(Base):
    """One meeting, scheduled or ad hoc, and where a live one stands."""

    __tablename__ = "meetings"
    __table_args__ = (
        UniqueConstraint("series_id", "occurrence_index"),
        Index("ix_meetings_group_start", "group_id", "scheduled_start"),
        # The meetings a group has held since a case was presented (follow-up cycles),
        # found without reading the group's whole history.
        Index("ix_meetings_group_held", "group_id", "status", "started_at"),
        # At most one live meeting per group, even with two bot processes racing.
        Index(
            "uq_meetings_one_live_per_group",
            "group_id",
            unique=True,
            sqlite_where=text("status = 'live'"),
            postgresql_where=text("status = 'live'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedule_series.id", ondelete="SET NULL")
    )
    occurrence_index: Mapped[int | None]
    scheduled_start: Mapped[datetime]
    planned_end: Mapped[datetime]
    status: Mapped[MeetingStatus] = mapped_column(_enum(MeetingStatus), index=True)
    # Why the start differs from the rule's wall-clock time (DST gap or overlap), if it does.
    schedule_note: Mapped[str | None] = mapped_column(String(40))
    # When a moved meeting was first due; NULL if it was never moved.
    moved_from: Mapped[datetime | None]
    # Bumped at every change, so a calendar that imported the meeting takes the update.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    voice_channel_id: Mapped[int | None] = _discord_id(nullable=True)
    discord_event_id: Mapped[int | None] = _discord_id(nullable=True)
    panel_message_id: Mapped[int | None] = _discord_id(nullable=True)
    current_case_number: Mapped[int | None]
    current_phase: Mapped[str | None] = mapped_column(String(32))
    started_at: Mapped[datetime | None]
    started_by: Mapped[int | None] = _discord_id(nullable=True)
    ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class Case(Base):
    """A case a member offers and presents, known by a short de-identified label."""

    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_group_presenter", "group_id", "presenter_id"),
        # The cases still being followed up, or still without their post: a few per
        # group, among years of closed ones.
        Index("ix_cases_status", "status", "forum_thread_id"),
        # A group's cases in follow-up, read by each plan of its prompts.
        Index("ix_cases_group_status", "group_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    meeting_id: Mapped[int | None] = mapped_column(
        ForeignKey("meetings.id", ondelete="SET NULL"), index=True
    )
    case_number: Mapped[int | None]
    presenter_id: Mapped[int] = _discord_id()
    label: Mapped[str] = mapped_column(String(80))
    status: Mapped[CaseStatus] = mapped_column(_enum(CaseStatus))
    offered_at: Mapped[datetime]
    presented_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    forum_thread_id: Mapped[int | None] = _discord_id(nullable=True)
    prompts_sent: Mapped[int] = mapped_column(Integer, default=0)


class PresenterPass(Base):
    """A member let their turn to present go by; the rotation counts it as a turn."""

    __tablename__ = "presenter_passes"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[int] = _discord_id()
    passed_at: Mapped[datetime]


class PhaseLogEntry(Base):
    """One phase of a live meeting: who started it, when, planned and actual time."""

    __tablename__ = "phase_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    case_number: Mapped[int | None]
    phase: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    started_by: Mapped[int | None] = _discord_id(nullable=True)
    planned_seconds: Mapped[int]
    ended_at: Mapped[datetime | None]
    warning_cue_sent_at: Mapped[datetime | None]
    end_cue_sent_at: Mapped[datetime | None]


class OverwriteChange(Base):
    """A channel overwrite the bot changed, and what was there before, so it can be undone.

    `previous_allow`/`previous_deny` are NULL when the target had no overwrite.
    A row with `restored_at` NULL is a change still in force on Discord.
    """

    __tablename__ = "overwrite_changes"
    # Rows are never deleted: the changes in force (by meeting, by channel in
    # `touched_by_sync`, or all of them at a reconciliation) are found through these
    # indexes, never by reading the history (tests/e2e/test_silence_history.py).
    __table_args__ = (
        Index("ix_overwrite_changes_open", "meeting_id", "restored_at"),
        Index("ix_overwrite_changes_in_force", "restored_at", "channel_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = _discord_id()
    target_id: Mapped[int] = _discord_id()
    target_is_role: Mapped[bool] = mapped_column(Boolean)
    previous_allow: Mapped[int | None] = mapped_column(BigInteger)
    previous_deny: Mapped[int | None] = mapped_column(BigInteger)
    applied_allow: Mapped[int] = mapped_column(BigInteger)
    applied_deny: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(32))
    applied_at: Mapped[datetime]
    restored_at: Mapped[datetime | None]


class FollowUp(Base):
    """A member's report on a case, kept first here, then posted in the case's forum post."""

    __tablename__ = "followups"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = _discord_id(index=True)
    text: Mapped[str] = mapped_column(Text)
    # The interaction that submitted it: a submission that arrives twice is stored once.
    submission_key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    removed_by: Mapped[int | None] = _discord_id(nullable=True)
    posted_message_id: Mapped[int | None] = _discord_id(nullable=True)
    posted_at: Mapped[datetime | None]
    post_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Set while one process makes the forum post match this row, so two never both post it.
    sync_claimed_at: Mapped[datetime | None]


# Follow-ups whose forum message does not yet match the row: deleted but still posted, or
# not deleted and not (fully) posted. The reads that find them use this very expression,
# which is what lets SQLite use the partial index below: its planner needs the index's
# WHERE to appear as it is in the query's.
FOLLOWUP_OUT_OF_SYNC = or_(
    and_(FollowUp.deleted_at.is_not(None), FollowUp.posted_message_id.is_not(None)),
    and_(
        FollowUp.deleted_at.is_(None),
        or_(FollowUp.posted_message_id.is_(None), FollowUp.posted_at.is_(None)),
    ),
)
# Start-up finds the few follow-ups to sync without reading every one ever posted.
Index(
    "ix_followups_out_of_sync",
    FollowUp.id,
    sqlite_where=FOLLOWUP_OUT_OF_SYNC,
    postgresql_where=FOLLOWUP_OUT_OF_SYNC,
)


class FollowUpPrompt(Base):
    """A DM asking a presenter for a follow-up; one per case per meeting cycle."""

    __tablename__ = "followup_prompts"
    __table_args__ = (
        UniqueConstraint("case_id", "before_meeting_id"),
        # The prompts already sent before a group's next meeting; and the cascade when a
        # meeting is deleted (neither database indexes a foreign key by itself).
        Index("ix_followup_prompts_before_meeting", "before_meeting_id"),
        # The few prompts still to send, among every one ever sent.
        Index(
            "ix_followup_prompts_unsent",
            "case_id",
            sqlite_where=text("sent_at IS NULL"),
            postgresql_where=text("sent_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    before_meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(index=True)
    sent_at: Mapped[datetime | None]


class Attendance(Base):
    """A stretch of a member's presence in a meeting's voice room (dropouts make several)."""

    __tablename__ = "attendance"
    __table_args__ = (Index("ix_attendance_meeting_user", "meeting_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[int] = _discord_id()
    joined_at: Mapped[datetime]
    left_at: Mapped[datetime | None]


class AttendanceCorrection(Base):
    """A leader's correction of a member's minutes at a meeting, kept beside the measured
    stretches (which are never changed), with the reason given."""

    __tablename__ = "attendance_corrections"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[int] = _discord_id()
    minutes: Mapped[int]
    reason: Mapped[str] = mapped_column(String(100))
    corrected_by: Mapped[int] = _discord_id()
    corrected_at: Mapped[datetime]


class AttendanceStatement(Base):
    """A statement sent to a member: what `/attendance verify` recomputes from the records.
    The code is an HMAC of the content, so the same statement asked twice is one row."""

    __tablename__ = "attendance_statements"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = _discord_id(index=True)
    display_name: Mapped[str] = mapped_column(String(80))
    first_day: Mapped[date]
    last_day: Mapped[date]
    code: Mapped[str] = mapped_column(String(24), unique=True)
    issued_at: Mapped[datetime]


class AttendanceSecret(Base):
    """The server's key for statement codes: made once, never shown, never exported."""

    __tablename__ = "attendance_secrets"

    server_id: Mapped[int] = mapped_column(
        ForeignKey("servers.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class Reminder(Base):
    """A reminder of a meeting, due at an offset before it; `sent_at` guards against twice."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("meeting_id", "offset_minutes"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    offset_minutes: Mapped[int]
    due_at: Mapped[datetime] = mapped_column(index=True)
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = _discord_id(nullable=True)


class ReminderDM(Base):
    """One member's DM copy of a reminder, claimed before sending so it goes once."""

    __tablename__ = "reminder_dms"
    __table_args__ = (UniqueConstraint("reminder_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reminder_id: Mapped[int] = mapped_column(ForeignKey("reminders.id", ondelete="CASCADE"))
    user_id: Mapped[int] = _discord_id()
    sent_at: Mapped[datetime]


class Rsvp(Base):
    """A member's answer to a meeting's reminder."""

    __tablename__ = "rsvps"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[int] = _discord_id()
    answer: Mapped[RsvpAnswer] = mapped_column(_enum(RsvpAnswer))
    answered_at: Mapped[datetime]


class ClaimedInteraction(Base):
    """An interaction one bot process has taken on; the primary key makes a second
    process (started by mistake on the same database) see it is not its to answer."""

    __tablename__ = "claimed_interactions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    claimed_at: Mapped[datetime] = mapped_column(index=True)


class LeaderSpace(Base):
    """The group's private channel for its leaders' debrief (issue 16, point 4)."""

    __tablename__ = "leader_spaces"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class Debrief(Base):
    """A meeting's summary posted in the leaders' space; the row is claimed before the
    post, so the summary goes out once. Its thread holds the leaders' notes."""

    __tablename__ = "debriefs"

    meeting_id: Mapped[int] = mapped_column(
        ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = _discord_id(nullable=True)
    thread_id: Mapped[int | None] = _discord_id(nullable=True)
    claimed_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]


class Deputy(Base):
    """Who stands in if the leader running a meeting drops: for the group (no meeting)
    or for one meeting. A member must accept first; a co-leader is accepted at once."""

    __tablename__ = "deputies"
    __table_args__ = (Index("ix_deputies_group", "group_id", "meeting_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    user_id: Mapped[int] = _discord_id()
    named_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    # Set when a newer deputy replaced this one, or the person declined.
    ended_at: Mapped[datetime | None]


class FrameEventKind(enum.StrEnum):
    DROP = "drop"  # a member left the room mid-meeting (message_id: the chat line)
    AWAY = "away"  # the leader running it left; due_at: when control is handed on
    STAND_IN = "stand_in"  # someone else holds the meeting (user_id)
    PAUSE = "pause"  # nobody holds it: it waits (user_id: whose absence)


class FrameEvent(Base):
    """Something that broke the frame of a live meeting, from start to end.

    `handled_at` guards the timed handover: only the process that sets it acts."""

    __tablename__ = "frame_events"
    __table_args__ = (Index("ix_frame_events_open", "meeting_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    kind: Mapped[FrameEventKind] = mapped_column(_enum(FrameEventKind))
    user_id: Mapped[int] = _discord_id()
    started_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    handled_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = _discord_id(nullable=True)


class RoundTurn(Base):
    """One person's turn in a meeting's check-in round; the rows are the round's state."""

    __tablename__ = "round_turns"
    __table_args__ = (Index("ix_round_turns_meeting", "meeting_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"))
    turn_order: Mapped[int]
    user_id: Mapped[int] = _discord_id()
    status: Mapped[str] = mapped_column(String(16))
    one_voice: Mapped[bool] = mapped_column(Boolean)
    seconds: Mapped[int]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    cue_sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = _discord_id(nullable=True)
