"""The event check touches only what differs between the meetings and Discord's events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.db.models import MeetingStatus
from bot.services.scheduled_events import SCHEDULED, RawEvent, Slot, plan_sync

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ME = 42
ROOM = 700


def _slot(number: int, event_id: int | None) -> Slot:
    start = NOW + timedelta(days=7 * number)
    return Slot(number, MeetingStatus.SCHEDULED, start, start + timedelta(minutes=90),
                event_id, None, "Tuesday group", ROOM, False)


def _event(slot: Slot, **changes: object) -> RawEvent:
    """The event as discord.py's cache holds it (times as datetimes)."""
    event: dict[str, object] = {
        "id": slot.event_id, "status": SCHEDULED, "creator_id": ME,
        "name": slot.event_name(), "channel_id": ROOM,
        "scheduled_start_time": slot.start, "scheduled_end_time": slot.end,
    }
    return {**event, **changes}


def test_events_in_step_need_nothing() -> None:
    slots = [_slot(n, 1000 + n) for n in range(1, 10)]
    events = {1000 + n: _event(s) for n, s in zip(range(1, 10), slots, strict=True)}
    assert not plan_sync(slots, events, ME, NOW)


def test_only_what_differs_is_touched() -> None:
    slots = [_slot(n, 1000 + n) for n in range(1, 6)]
    events = {s.event_id or 0: _event(s) for s in slots}
    events[1002] = _event(slots[1], name="Renamed by hand")
    events[1003] = _event(slots[2], scheduled_start_time=slots[2].start.isoformat())  # as fetched
    del events[1004]  # deleted by hand
    events[9999] = _event(_slot(9, 9999))  # ours, for no meeting (a process died)
    plan = plan_sync(slots, events, ME, NOW)
    assert [(slot.meeting_id, event_id) for slot, event_id in plan.edit] == [(2, 1002)]
    assert [slot.meeting_id for slot in plan.create] == [4]
    assert [int(event["id"]) for event in plan.finish] == [9999]
    assert plan.activate == []
