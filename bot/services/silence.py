"""The presenter's silence: the overwrite ledger and how Discord is made to match it.

Contract (the invariant of issue 10, checked from Discord's side by
tests/e2e/invariant.py after every session and recovery test): for every group,
each member's real ability to speak in the room and to post in the chat is what the
stored meeting position asks for; no overwrite the bot made outlives its reason;
every overwrite an admin set is intact.

How it is kept:
- A change is written to the database before Discord is asked (a row with
  `restored_at` NULL is the bot's intent). Whether Discord holds it is read from
  Discord (discord.py's cache, which READY and CHANNEL_UPDATE keep current), never
  assumed from the row, so a crash between any two requests converges at the next
  reconciliation.
- Applying lays the change's bits over the target's current overwrite; restoring
  takes exactly those bits out of the current overwrite (giving them back what the
  original held), so an admin's change made meanwhile stays; an overwrite left empty
  is deleted. A row is marked restored as soon as Discord confirmed its restore and,
  for voice, the member was moved so that Discord applies it.
- The original is read from Discord before the first change; if the cache shows bits
  the bot is about to lay (maybe its own earlier change, echoed late), the channel is
  fetched instead.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord
from sqlalchemy import ColumnElement, and_, bindparam, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db import queries
from bot.db.models import Group, Meeting, OverwriteChange
from bot.domain.phases import Channel, PhaseTemplate, Position, SilenceKind, silences
from bot.domain.rounds import Turn, round_silences
from bot.errors import MissingBotPermission
from bot.permissions import describe_missing
from bot.ratelimit import DiscordPace

if TYPE_CHECKING:
    from bot.services.rooms import RoomService

log = logging.getLogger(__name__)


# What the server's moderators read in the audit log: the bot's purpose only. The
# ledger's own reasons ("silence-voice" on one member's overwrite) would tell them who
# presented a case, and when.
AUDIT_REASON = "Balint group meeting"
# How long the bot trusts what it wrote over a cache that has not caught up yet.
CACHE_CATCH_UP = 5.0
SILENCE_REASONS = {Channel.VOICE: "silence-voice", Channel.TEXT: "silence-text"}
VOICE_SILENCE = discord.Permissions(speak=True).value
TEXT_SILENCE = discord.Permissions(
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    add_reactions=True,
).value

Confirm = Callable[[OverwriteChange], Awaitable[None]]


@dataclass(frozen=True)
class WantedOverwrite:
    """A change to lay over a target's overwrite in a channel for a while."""

    channel: discord.abc.GuildChannel
    target_id: int
    target_is_role: bool
    reason: str
    allow: int = 0
    deny: int = 0


@dataclass(frozen=True)
class Overwrite:
    """An overwrite as Discord stores it; `None` in place of one means 'no overwrite'."""

    allow: int
    deny: int


_EMPTY = Overwrite(0, 0)


@dataclass(frozen=True)
class Restored:
    """A change Discord no longer holds, and the original its remaining siblings rest on."""

    change_id: int
    remaining_ids: list[int]
    previous_allow: int | None
    previous_deny: int | None


def current_overwrite(channel: discord.abc.GuildChannel, target_id: int) -> Overwrite | None:
    """The overwrite Discord holds now, from discord.py's cache (kept by CHANNEL_UPDATE);
    None when the target has none. An overwrite that allows and denies nothing is not
    none: it tells `OverwriteLedger.held` that the cache moved on (a silence cleared by
    hand), where none would look like the state before our own write.

    Read from the raw pairs: the public `overwrites` converts every overwrite of the
    channel flag by flag, which was a hot spot of the phase change (issue 13)."""
    for overwrite in channel._overwrites:
        if overwrite.id == target_id:
            return Overwrite(overwrite.allow, overwrite.deny)
    return None


def lay(current: Overwrite | None, change: OverwriteChange) -> Overwrite:
    """The current overwrite with a change's bits laid over it."""
    held = current or _EMPTY
    return Overwrite(
        (held.allow & ~change.applied_deny) | change.applied_allow,
        (held.deny & ~change.applied_allow) | change.applied_deny,
    )


def unlay(
    current: Overwrite | None, change: OverwriteChange, remaining: Sequence[OverwriteChange]
) -> Overwrite | None:
    """Take a change's bits out of the current overwrite, keeping whatever else changed.

    Only the bits the change laid are touched: they get back what the original held for
    them; then the changes still in force are laid again. Empty means no overwrite.
    """
    bits = change.applied_allow | change.applied_deny
    original = _previous(change) or _EMPTY
    held = current or _EMPTY
    result = Overwrite(
        (held.allow & ~bits) | (original.allow & bits),
        (held.deny & ~bits) | (original.deny & bits),
    )
    for other in remaining:
        result = lay(result, other)
    return None if result == _EMPTY else result


def holds(current: Overwrite | None, change: OverwriteChange) -> bool:
    """Whether the overwrite carries all of the change's bits."""
    held = current or _EMPTY
    return (
        held.allow & change.applied_allow == change.applied_allow
        and held.deny & change.applied_deny == change.applied_deny
    )


class OverwriteLedger:
    """Applies and undoes temporary overwrites, keeping the database and Discord agreed."""

    def __init__(
        self,
        http: discord.http.HTTPClient,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        channel_of: Callable[[int], object],
    ) -> None:
        self._http = http
        self._session_factory = session_factory
        self._clock = clock
        self._channel_of = channel_of
        # What this process last wrote and what the cache showed then, until the cache
        # moves on (CHANNEL_UPDATE echoing the write, or anything after it).
        self._written: dict[tuple[int, int], tuple[Overwrite | None, Overwrite | None, float]] = {}

    def held(self, channel_id: int, target_id: int) -> Overwrite | None:
        """The target's overwrite on Discord now (our own writes count before their echo)."""
        cached = self._cached(channel_id, target_id)
        mine = self._written.get((channel_id, target_id))
        if mine is None:
            return cached
        value, before, at = mine
        if cached != before or time.monotonic() - at > CACHE_CATCH_UP:
            del self._written[(channel_id, target_id)]
            return cached
        return value

    def _cached(self, channel_id: int, target_id: int) -> Overwrite | None:
        channel = self._channel_of(channel_id)
        if isinstance(channel, discord.abc.GuildChannel):
            return current_overwrite(channel, target_id)
        return None

    def is_held(self, change: OverwriteChange) -> bool:
        """Whether Discord holds this change's bits now."""
        return holds(self.held(change.channel_id, change.target_id), change)

    async def apply(self, meeting_id: int, wanted: Sequence[WantedOverwrite]) -> None:
        """Record every change, then make Discord match, in the order given."""
        for change in await self.record(meeting_id, wanted):
            await self.push(change)

    async def record(
        self, meeting_id: int, wanted: Sequence[WantedOverwrite]
    ) -> list[OverwriteChange]:
        """Write the intended changes in one transaction, before Discord is asked.

        A change already recorded (same meeting, channel, target and reason) is returned
        again only if Discord does not hold it, so applying twice is harmless and a change
        lost in a crash is pushed again.
        """
        async with self._session_factory() as session:
            open_changes = [
                change
                for want in wanted
                for change in await self._open_for_target(session, want.channel.id, want.target_id)
            ]
            pending = await self.plan(session, meeting_id, wanted, open_changes)
            await session.commit()
        return pending

    async def plan(
        self,
        session: AsyncSession,
        meeting_id: int,
        wanted: Sequence[WantedOverwrite],
        open_changes: Sequence[OverwriteChange],
    ) -> list[OverwriteChange]:
        """The changes to push for `wanted`; new ones are inserted in `session` with one
        statement (the caller commits).

        `open_changes` must hold every change still in force on the wanted targets (any
        meeting's), as read in the caller's transaction: nothing is read here.
        """
        pending: list[OverwriteChange] = []
        new: list[OverwriteChange] = []
        for want in wanted:
            on_target = [
                c
                for c in open_changes
                if c.channel_id == want.channel.id and c.target_id == want.target_id
            ]
            same = [c for c in on_target if c.meeting_id == meeting_id and c.reason == want.reason]
            if same:
                pending += [c for c in same if not self.is_held(c)]
                continue
            original = _previous(on_target[0]) if on_target else await self._original(want)
            change = OverwriteChange(
                meeting_id=meeting_id,
                channel_id=want.channel.id,
                target_id=want.target_id,
                target_is_role=want.target_is_role,
                previous_allow=original.allow if original else None,
                previous_deny=original.deny if original else None,
                applied_allow=want.allow,
                applied_deny=want.deny,
                reason=want.reason,
                applied_at=self._clock.now(),
            )
            new.append(change)
            pending.append(change)
        if new:
            await _insert(session, new)
        return pending

    async def _original(self, want: WantedOverwrite) -> Overwrite | None:
        """What the target holds before the bot's first change: the cache, or the channel
        fetched when the cache shows bits about to be laid (maybe the bot's own, echoed late)."""
        cached = self.held(want.channel.id, want.target_id)
        if cached is None or not (cached.allow & want.allow or cached.deny & want.deny):
            return cached
        data: dict[str, Any] = dict(await self._http.get_channel(want.channel.id))
        for raw in data.get("permission_overwrites") or []:
            if int(raw["id"]) == want.target_id:
                return Overwrite(int(raw["allow"]), int(raw["deny"]))
        return None

    async def push(self, change: OverwriteChange) -> None:
        """Lay a recorded change over what Discord holds; if Discord refuses, drop the row."""
        # Sent even if the cache says it is there already: a late CHANNEL_UPDATE can make
        # the cache show what Discord no longer holds.
        desired = lay(self.held(change.channel_id, change.target_id), change)
        try:
            await self._put(change.channel_id, change.target_id, change.target_is_role, desired)
        except (discord.HTTPException, MissingBotPermission):
            async with self._session_factory() as session:
                await session.execute(
                    delete(OverwriteChange).where(OverwriteChange.id == change.id)
                )
                await session.commit()
            raise

    async def restore(
        self, changes: Sequence[OverwriteChange], confirm: Confirm | None = None
    ) -> list[tuple[OverwriteChange, Exception]]:
        """Take these changes off Discord, newest first; returns those not undone, and why.

        Newest first undoes a set of changes in the reverse of the order they were made
        (the bot's own access to a room is the last to go). Each row is marked restored
        as soon as Discord confirmed it and `confirm` (e.g. the move that makes a voice
        change take effect) succeeded; a row left open is tried again by the next
        reconciliation.
        """
        failed: list[tuple[OverwriteChange, Exception]] = []
        for change in sorted(changes, key=lambda c: c.id, reverse=True):
            try:
                await self._restore_one(change, confirm)
            except (discord.HTTPException, MissingBotPermission) as error:
                _log_unrestored(change, error)
                failed.append((change, error))
        return failed

    async def open_changes(
        self, *, meeting_id: int | None = None, reason: str | None = None
    ) -> Sequence[OverwriteChange]:
        """Changes still in force, oldest first (optionally one meeting's, one reason's)."""
        query = select(OverwriteChange).where(OverwriteChange.restored_at.is_(None))
        if meeting_id is not None:
            query = query.where(OverwriteChange.meeting_id == meeting_id)
        if reason is not None:
            query = query.where(OverwriteChange.reason == reason)
        async with self._session_factory() as session:
            result = await session.execute(query.order_by(OverwriteChange.id))
            return result.scalars().all()

    async def _restore_one(self, change: OverwriteChange, confirm: Confirm | None) -> None:
        async with self._session_factory() as session:
            open_changes = await self._open_for_target(session, change.channel_id, change.target_id)
        done = await self.undo(change, open_changes, confirm)
        if done is not None:
            async with self._session_factory() as session:
                await self.mark_restored(session, [done])
                await session.commit()

    async def undo(
        self,
        change: OverwriteChange,
        open_changes: list[OverwriteChange],
        confirm: Confirm | None,
    ) -> Restored | None:
        """Take one change off Discord, given the changes still open (as read by the caller,
        kept current here); returns what to record, or None if it was no longer open."""
        stored = next((c for c in open_changes if c.id == change.id), None)
        if stored is None:
            return None
        on_target = [
            c
            for c in open_changes
            if c.channel_id == stored.channel_id and c.target_id == stored.target_id
        ]
        remaining = [c for c in on_target if c.id != stored.id]
        current = self.held(stored.channel_id, stored.target_id)
        desired = unlay(current, stored, remaining)
        # Sent even when the cache agrees already (it may be stale). A channel or target
        # that is gone has nothing left to restore.
        with contextlib.suppress(discord.NotFound):
            await self._put(stored.channel_id, stored.target_id, stored.target_is_role, desired)
        if confirm is not None:
            await confirm(stored)
        open_changes.remove(stored)
        # The remaining changes now rest on the same original.
        for other in remaining:
            other.previous_allow = on_target[0].previous_allow
            other.previous_deny = on_target[0].previous_deny
        return Restored(
            stored.id,
            [c.id for c in remaining],
            on_target[0].previous_allow,
            on_target[0].previous_deny,
        )

    async def mark_restored(self, session: AsyncSession, done: Sequence[Restored]) -> None:
        """Record undone changes in the caller's transaction (one statement, usually)."""
        if not done:
            return
        await session.execute(
            _MARK_RESTORED, {"ids": [d.change_id for d in done], "at": self._clock.now()}
        )
        for restored in done:
            if restored.remaining_ids:
                await session.execute(
                    update(OverwriteChange)
                    .where(OverwriteChange.id.in_(restored.remaining_ids))
                    .values(
                        previous_allow=restored.previous_allow,
                        previous_deny=restored.previous_deny,
                    )
                )

    async def _open_for_target(
        self, session: AsyncSession, channel_id: int, target_id: int
    ) -> list[OverwriteChange]:
        result = await session.execute(
            select(OverwriteChange)
            .where(
                OverwriteChange.channel_id == channel_id,
                OverwriteChange.target_id == target_id,
                OverwriteChange.restored_at.is_(None),
            )
            .order_by(OverwriteChange.id)
        )
        return list(result.scalars().all())

    async def _put(
        self, channel_id: int, target_id: int, target_is_role: bool, desired: Overwrite | None
    ) -> None:
        try:
            if desired is None:
                await self._http.delete_channel_permissions(
                    channel_id, target_id, reason=AUDIT_REASON
                )
            else:
                await self._http.edit_channel_permissions(
                    channel_id,
                    target_id,
                    str(desired.allow),
                    str(desired.deny),
                    0 if target_is_role else 1,
                    reason=AUDIT_REASON,
                )
        except discord.Forbidden as error:
            raise MissingBotPermission(
                describe_missing(["manage_roles", "view_channel"])
                + f" (Discord refused to change <#{channel_id}>.)"
            ) from error
        before = self._cached(channel_id, target_id)
        if before != desired:
            self._written[(channel_id, target_id)] = (desired, before, time.monotonic())


@dataclass(frozen=True)
class SilenceTarget:
    """Where a meeting stands (or is going): what a sync makes Discord's silences match."""

    guild: discord.Guild
    group: Group
    meeting: Meeting
    position: Position
    template: PhaseTemplate
    presenter_id: int | None
    # The check-in round, as stored (bot/domain/rounds.py); none outside the check-in.
    turns: Sequence[Turn] = ()
    one_voice: bool = False


@dataclass(frozen=True)
class SilencePlan:
    """What a sync will ask of Discord, worked out from one read of the database."""

    room: discord.abc.GuildChannel | None
    connected: set[int]
    stale: list[OverwriteChange]
    pending: list[OverwriteChange]
    open_changes: list[OverwriteChange]
    # Members to move even though their voice silence is already held: Discord keeps
    # no record of whether a member was moved after it, so a reconciliation moves again.
    move_again: set[int]


def _members_to_move(plan: SilencePlan) -> set[int]:
    """Who carrying the plan out moves: the connected members whose voice silence it lays
    or lifts (a move makes Discord apply it), and those to be moved again."""
    room = plan.room
    if not isinstance(room, discord.VoiceChannel):
        return set()
    in_room = {c.target_id for c in [*plan.stale, *plan.pending] if c.channel_id == room.id}
    return (in_room | plan.move_again) & plan.connected


def move_route(guild_id: int, member_id: int) -> discord.http.Route:
    """The request that moves a member (discord.py's `HTTPClient.edit_member`), announced
    to the pace before it is made."""
    return discord.http.Route(
        "PATCH", "/guilds/{guild_id}/members/{user_id}", guild_id=guild_id, user_id=member_id
    )


def touched_by_sync(meeting_id: Any, channel_ids: Sequence[Any]) -> ColumnElement[bool]:
    """The changes in force that a sync of a meeting may touch: the meeting's own and any
    other on its room and chat (whose originals the silences rest on). Values, or the
    columns of a statement that reads the meeting with them (sessions.py)."""
    return and_(
        OverwriteChange.restored_at.is_(None),
        or_(OverwriteChange.meeting_id == meeting_id, OverwriteChange.channel_id.in_(channel_ids)),
    )


class SilenceKeeper:
    """Makes Discord's silences those a meeting's stored position asks for (the contract
    in this module's docstring), and lifts them so that they take effect."""

    def __init__(
        self,
        client: discord.Client,
        session_factory: async_sessionmaker[AsyncSession],
        ledger: OverwriteLedger,
        rooms: RoomService,
        pace: DiscordPace,
    ) -> None:
        self._client = client
        self._session_factory = session_factory
        self._ledger = ledger
        self._rooms = rooms
        self._pace = pace

    async def sync(
        self,
        guild: discord.Guild,
        group: Group,
        meeting: Meeting,
        position: Position,
        template: PhaseTemplate,
        presenter_id: int | None,
        *,
        reassert: bool = False,
    ) -> list[str]:
        """Make Discord's silences those the position asks for; returns what failed.

        One transaction reads and records the intent, one records what was lifted.
        `reassert` (reconciliation) also moves connected members whose voice silence is
        already held: a move lost to a fault or a crash is not visible on Discord.
        """
        async with self._session_factory() as session:
            leaders = await queries.leader_ids(session, group.id)
            turns, one_voice = await queries.round_turns(session, meeting.id)
            open_changes = await self.open_changes(session, group, meeting)
            at = SilenceTarget(
                guild, group, meeting, position, template, presenter_id, turns, one_voice
            )
            plan = await self.plan(session, at, leaders, open_changes, reassert=reassert)
            await session.commit()
        failures, restored = await self.carry_out(guild, plan)
        if restored:
            async with self._session_factory() as session:
                await self.mark_restored(session, restored)
                await session.commit()
        return failures

    async def mark_restored(self, session: AsyncSession, done: Sequence[Restored]) -> None:
        """Record lifted silences in the caller's transaction."""
        await self._ledger.mark_restored(session, done)

    async def open_changes(
        self, session: AsyncSession, group: Group, meeting: Meeting
    ) -> list[OverwriteChange]:
        """Every change in force that a sync of this meeting may touch (`touched_by_sync`)."""
        channels = [c for c in (meeting.voice_channel_id, group.text_channel_id) if c]
        result = await session.execute(
            select(OverwriteChange)
            .where(touched_by_sync(meeting.id, channels))
            .order_by(OverwriteChange.id)
        )
        return list(result.scalars().all())

    async def plan(
        self,
        session: AsyncSession,
        at: SilenceTarget,
        leader_ids: Collection[int],
        open_changes: list[OverwriteChange],
        *,
        reassert: bool = False,
    ) -> SilencePlan:
        """What Discord must change for the position; new rows are added to `session`.

        Discord, not the ledger, says what is held: a row whose request was lost in a
        crash is pushed again, one whose restore went through is only closed.
        """
        guild, group, meeting, position = at.guild, at.group, at.meeting, at.position
        template, presenter_id = at.template, at.presenter_id
        room = guild.get_channel(meeting.voice_channel_id or 0)
        text = guild.get_channel(group.text_channel_id or 0)
        connected = set(room.voice_states) if isinstance(room, discord.VoiceChannel) else set()
        # The presenter is silenced whether or not connected: the overwrite then
        # applies by itself when they join.
        present = connected | ({presenter_id} if presenter_id else set())
        wanted: dict[tuple[int, int], WantedOverwrite] = {}
        # A one-voice check-in round (bot/domain/rounds.py) silences through the same ledger.
        for silence in silences(
            position,
            template,
            presenter_id=presenter_id,
            leader_ids=leader_ids,
            present_member_ids=present,
        ) | round_silences(
            position,
            at.turns,
            one_voice=at.one_voice,
            leader_ids=leader_ids,
            present_member_ids=connected,
        ):
            if room is not None:
                wanted[(room.id, silence.member_id)] = WantedOverwrite(
                    room,
                    silence.member_id,
                    False,
                    SILENCE_REASONS[Channel.VOICE],
                    deny=VOICE_SILENCE,
                )
            if silence.kind is SilenceKind.VOICE_AND_TEXT and text is not None:
                wanted[(text.id, silence.member_id)] = WantedOverwrite(
                    text, silence.member_id, False, SILENCE_REASONS[Channel.TEXT], deny=TEXT_SILENCE
                )
        stale = [
            c
            for c in open_changes
            if c.meeting_id == meeting.id
            and c.reason in SILENCE_REASONS.values()
            and (c.channel_id, c.target_id) not in wanted
        ]
        pending = await self._ledger.plan(session, meeting.id, list(wanted.values()), open_changes)
        move_again = (
            {target for channel, target in wanted if room is not None and channel == room.id}
            if reassert
            else set()
        )
        return SilencePlan(room, connected, stale, pending, open_changes, move_again)

    async def carry_out(
        self, guild: discord.Guild, plan: SilencePlan
    ) -> tuple[list[str], list[Restored]]:
        """Make the planned requests; returns what failed and what was lifted (for the
        caller to record with the rest of its result: `OverwriteLedger.mark_restored`).

        For a presenter entering the discussion this makes exactly three requests, in
        the order that silences them soonest: the voice overwrite, the move that makes
        Discord apply it, the text overwrite. Leaving it: the text overwrite, the voice
        one, the move that gives SPEAK back.
        """
        # The moves are announced before the overwrites that come first: a leader told
        # how long the change waits must count every move queued in the server before it.
        moves = [move_route(guild.id, member_id) for member_id in _members_to_move(plan)]
        with self._pace.expecting(moves):
            return await self._carry_out(guild, plan)

    async def _carry_out(
        self, guild: discord.Guild, plan: SilencePlan
    ) -> tuple[list[str], list[Restored]]:
        failures: list[str] = []
        restored: list[Restored] = []
        # Newest first: undone in the reverse of the order they were made.
        for change in sorted(plan.stale, key=lambda c: c.id, reverse=True):
            try:
                done = await self._ledger.undo(change, plan.open_changes, self._apply_voice)
            except (discord.HTTPException, MissingBotPermission) as error:
                _log_unrestored(change, error)
                failures.append(
                    failure(
                        f"lifting the silence of <@{change.target_id}> in <#{change.channel_id}>",
                        error,
                    )
                )
                continue
            if done is not None:
                restored.append(done)
        room = plan.room
        voice = [c for c in plan.pending if room is not None and c.channel_id == room.id]
        voice_changed = set(plan.move_again)
        for change in voice:
            try:
                await self._ledger.push(change)
                voice_changed.add(change.target_id)
            except (discord.HTTPException, MissingBotPermission) as error:
                failures.append(
                    failure(f"silencing <@{change.target_id}> in <#{change.channel_id}>", error)
                )
        failures += await self._reapply_voice(guild, room, voice_changed, plan.connected)
        for change in plan.pending:
            if change in voice:
                continue
            try:
                await self._ledger.push(change)
            except (discord.HTTPException, MissingBotPermission) as error:
                failures.append(
                    failure(f"silencing <@{change.target_id}> in <#{change.channel_id}>", error)
                )
        return failures, restored

    async def lift(self, changes: Sequence[OverwriteChange]) -> list[str]:
        """Restore silences; a voice one is done only once its member is moved to apply it."""
        return [
            failure(f"lifting the silence of <@{c.target_id}> in <#{c.channel_id}>", error)
            for c, error in await self._ledger.restore(changes, self._apply_voice)
        ]

    async def _apply_voice(self, change: OverwriteChange) -> None:
        """Discord re-evaluates SPEAK only on a move: move a connected member to the same room."""
        room = self._client.get_channel(change.channel_id)
        if isinstance(room, discord.VoiceChannel) and change.target_id in room.voice_states:
            await self._rooms.move(
                room.guild.id, change.target_id, room.id, "apply the phase's voice rule"
            )

    async def _reapply_voice(
        self, guild: discord.Guild, room: object, members: set[int], connected: set[int]
    ) -> list[str]:
        """Discord applies a voice overwrite on join or move: move them to the same room."""
        if not isinstance(room, discord.VoiceChannel):
            return []
        failures = []
        for member_id in sorted(members & connected):
            try:
                await self._rooms.move(guild.id, member_id, room.id, "apply the phase's voice rule")
            except (discord.HTTPException, MissingBotPermission) as error:
                failures.append(failure(f"moving <@{member_id}> to apply the silence", error))
        members.clear()
        return failures

    async def lift_meeting(self, meeting_id: int) -> list[str]:
        """Lift every silence of a meeting that is ending; returns what failed."""
        changes = [
            c
            for c in await self._ledger.open_changes(meeting_id=meeting_id)
            if c.reason in SILENCE_REASONS.values()
        ]
        return await self.lift(changes)


def failure(what: str, error: Exception) -> str:
    """A line of a summary: what could not be done, and what to grant or what Discord said."""
    if isinstance(error, MissingBotPermission):
        return f"{what} ({error.message})"
    status = getattr(error, "status", "?")
    return f"{what} (Discord answered {status})"


def _previous(change: OverwriteChange) -> Overwrite | None:
    if change.previous_allow is None or change.previous_deny is None:
        return None
    return Overwrite(change.previous_allow, change.previous_deny)


_CHANGE_COLUMNS = (
    "meeting_id",
    "channel_id",
    "target_id",
    "target_is_role",
    "previous_allow",
    "previous_deny",
    "applied_allow",
    "applied_deny",
    "reason",
    "applied_at",
)
# Built once, with the values bound at each run: building a statement per phase change
# cost as much as running it (issue 13).
_MARK_RESTORED = (
    update(OverwriteChange)
    .where(OverwriteChange.id.in_(bindparam("ids", expanding=True)))
    .values(restored_at=bindparam("at"))
    .execution_options(synchronize_session=False)
)
_CHANGES = OverwriteChange.__table__.c
# Not `sort_by_parameter_order`: SQLite would then be sent one INSERT per row.
_INSERT_CHANGES = insert(OverwriteChange.__table__).returning(  # type: ignore[arg-type]
    _CHANGES.id, _CHANGES.channel_id, _CHANGES.target_id
)


async def _insert(session: AsyncSession, changes: Sequence[OverwriteChange]) -> None:
    """Insert new rows in one statement (the ORM would send one per row) and give each
    its id; a target appears once among them, which is how ids are matched to rows."""
    result = await session.execute(
        _INSERT_CHANGES,
        [{column: getattr(change, column) for column in _CHANGE_COLUMNS} for change in changes],
    )
    ids = {(channel_id, target_id): id_ for id_, channel_id, target_id in result.all()}
    for change in changes:
        change.id = ids[(change.channel_id, change.target_id)]


def _log_unrestored(change: OverwriteChange, error: Exception) -> None:
    log.warning(
        "could not restore overwrite %s on channel %s: %s",
        change.id,
        change.channel_id,
        type(error).__name__,
    )
