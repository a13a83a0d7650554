"""A group's own choices, stored as JSON on the group and validated here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from bot.domain.rounds import RoundOrder


class SettingsError(ValueError):
    """A setting out of range; the message is shown to the leader as-is."""


@dataclass(frozen=True)
class GroupSettings:
    """Defaults suit a monthly or fortnightly group of rural GPs meeting by voice."""

    # Meet in a room from the server's pool rather than the group's own voice room.
    use_room_pool: bool = False
    # Move members back to the server's lobby when the meeting ends.
    return_to_lobby: bool = True
    # Reminders before each meeting, in minutes.
    reminder_offsets: tuple[int, ...] = (24 * 60, 15)
    # Ask presenters for a follow-up this many days before the next meeting...
    followup_prompt_days: int = 3
    # ...for at most this many meetings after their case.
    followup_prompt_cycles: int = 3
    # Delete follow-ups and case posts this many months after the group is archived.
    retention_months: int = 12
    # Delete the session text channel's messages after each meeting.
    clear_text_channel: bool = False
    # The meeting's phase template (bot.domain.phases), empty for the default.
    phase_template: dict[str, Any] = field(default_factory=dict)
    # Seconds the leader running a meeting may be out of the room before the deputy
    # takes over (or, with no deputy, the meeting waits).
    handover_seconds: int = 60
    # Minutes the group waits for a member who dropped out, as the chat line says.
    dropout_wait_minutes: int = 2
    # The check-in round: order ("shuffle", "arrival", "name"), seconds per person, and
    # whether only the speaker and the leaders may speak ("one voice at a time").
    round_order: str = "shuffle"
    round_seconds: int = 40
    one_voice: bool = False
    # A role (e.g. the group's supervisor) that may also read the leaders' debrief space.
    supervisor_role_id: int | None = None
    # A member counts as present from this share of the meeting (percent) on.
    attendance_share_percent: int = 75
    # How attendance turns into professional credit (bot.domain.attendance.parse_scheme).
    credit_scheme: str = "hours attended"

    def __post_init__(self) -> None:
        if not self.reminder_offsets or len(self.reminder_offsets) > 4:
            raise SettingsError("Choose between one and four reminder times.")
        if any(not 5 <= offset <= 7 * 24 * 60 for offset in self.reminder_offsets):
            raise SettingsError("Reminders can be sent from 5 minutes to 7 days before.")
        if not 1 <= self.followup_prompt_days <= 14:
            raise SettingsError("Follow-up prompts can go out 1 to 14 days before a meeting.")
        if not 0 <= self.followup_prompt_cycles <= 12:
            raise SettingsError("Follow-up prompts can repeat for 0 to 12 meetings.")
        if not 1 <= self.retention_months <= 120:
            raise SettingsError("Keep archived groups' follow-ups for 1 to 120 months.")
        if not 15 <= self.handover_seconds <= 600:
            raise SettingsError("The handover delay can be 15 to 600 seconds.")
        if not 1 <= self.dropout_wait_minutes <= 15:
            raise SettingsError("The group can wait 1 to 15 minutes for someone who dropped.")
        if self.round_order not in {order.value for order in RoundOrder}:
            raise SettingsError("The round can be ordered by shuffle, arrival or name.")
        if not 15 <= self.round_seconds <= 300:
            raise SettingsError("Each person's check-in can last 15 to 300 seconds.")
        if not 10 <= self.attendance_share_percent <= 100:
            raise SettingsError("A member counts as present from 10% to 100% of the meeting.")

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> GroupSettings:
        """Read stored settings; keys a newer or older version wrote are ignored."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in stored.items() if key in known}
        if "reminder_offsets" in values:
            values["reminder_offsets"] = tuple(sorted(values["reminder_offsets"], reverse=True))
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        stored = asdict(self)
        stored["reminder_offsets"] = list(self.reminder_offsets)
        return stored

    def with_changes(self, **changes: Any) -> GroupSettings:
        return replace(self, **changes)
