"""Channel overwrites the bot changes for a while and must put back exactly.

Every change is written to the database before Discord is asked, so that after
a crash the open rows say what to undo. The overwrite Discord should hold for a
target is always derived from the original (what was there before the first
open change) plus every change still open, so changes can be undone in any order.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import discord
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.db.models import OverwriteChange
from bot.errors import MissingBotPermission
from bot.permissions import describe_missing

log = logging.getLogger(__name__)


# What the server's moderators read in the audit log: the bot's purpose only. The
# ledger's own reasons ("silence-voice" on one member's overwrite) would tell them who
# presented a case, and when.
AUDIT_REASON = "Balint group meeting"

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


@dataclass(frozen=True)
class PendingOverwrite:
    """A change written to the database whose overwrite Discord does not hold yet."""

    change: OverwriteChange
    desired: Overwrite | None


def combine(original: Overwrite | None, changes: Sequence[OverwriteChange]) -> Overwrite | None:
    """What Discord should hold: the original with each open change laid over it in order."""
    if not changes:
        return original
    allow, deny = (original.allow, original.deny) if original else (0, 0)
    for change in changes:
        allow = (allow & ~change.applied_deny) | change.applied_allow
        deny = (deny & ~change.applied_allow) | change.applied_deny
    return Overwrite(allow, deny)


def current_overwrite(channel: discord.abc.GuildChannel, target_id: int) -> Overwrite | None:
    """The overwrite Discord holds now, from discord.py's cache (kept by CHANNEL_UPDATE)."""
    for target, overwrite in channel.overwrites.items():
        if target.id == target_id:
            allow, deny = overwrite.pair()
            return Overwrite(allow.value, deny.value)
    return None


class OverwriteLedger:
    """Applies and undoes temporary overwrites, keeping the database and Discord agreed."""

    def __init__(
        self,
        http: discord.http.HTTPClient,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
    ) -> None:
        self._http = http
        self._session_factory = session_factory
        self._clock = clock

    async def apply(self, meeting_id: int, wanted: Sequence[WantedOverwrite]) -> None:
        """Record every change, then make Discord match, in the order given."""
        for pending in await self.record(meeting_id, wanted):
            await self.push(pending)

    async def record(
        self, meeting_id: int, wanted: Sequence[WantedOverwrite]
    ) -> list[PendingOverwrite]:
        """Write the intended changes in one transaction, before Discord is asked.

        A change already in force (same meeting, channel, target and reason) is skipped,
        so applying twice is harmless.
        """
        pending: list[PendingOverwrite] = []
        async with self._session_factory() as session:
            for want in wanted:
                open_changes = await self._open_for_target(session, want.channel.id, want.target_id)
                if any(
                    c.meeting_id == meeting_id and c.reason == want.reason for c in open_changes
                ):
                    continue
                original = (
                    _previous(open_changes[0])
                    if open_changes
                    else current_overwrite(want.channel, want.target_id)
                )
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
                session.add(change)
                pending.append(PendingOverwrite(change, combine(original, [*open_changes, change])))
            await session.commit()
        return pending

    async def push(self, pending: PendingOverwrite) -> None:
        """Put a recorded change on Discord; if Discord refuses, the record is dropped."""
        change = pending.change
        try:
            await self._put(
                change.channel_id,
                change.target_id,
                change.target_is_role,
                pending.desired,
                AUDIT_REASON,
            )
        except (discord.HTTPException, MissingBotPermission):
            async with self._session_factory() as session:
                await session.execute(
                    delete(OverwriteChange).where(OverwriteChange.id == change.id)
                )
                await session.commit()
            raise

    async def restore(self, changes: Sequence[OverwriteChange]) -> list[OverwriteChange]:
        """Take these changes off Discord, newest first; returns those that could not be undone.

        Newest first undoes a set of changes in the reverse of the order they were made
        (the bot's own access to a room is the last to go). The rows are marked restored
        in one transaction at the end: a crash before it only means restoring again.
        """
        failed: list[OverwriteChange] = []
        async with self._session_factory() as session:
            for change in sorted(changes, key=lambda c: c.id, reverse=True):
                try:
                    await self._restore_one(session, change)
                except (discord.HTTPException, MissingBotPermission) as error:
                    log.warning(
                        "could not restore overwrite %s on channel %s: %s",
                        change.id,
                        change.channel_id,
                        type(error).__name__,
                    )
                    failed.append(change)
            await session.commit()
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

    async def _restore_one(self, session: AsyncSession, change: OverwriteChange) -> None:
        open_changes = await self._open_for_target(session, change.channel_id, change.target_id)
        stored = next((c for c in open_changes if c.id == change.id), None)
        if stored is None:
            return
        remaining = [c for c in open_changes if c.id != change.id]
        desired = combine(_previous(open_changes[0]), remaining)
        # A channel or target that is gone has nothing left to restore.
        with contextlib.suppress(discord.NotFound):
            await self._put(
                change.channel_id,
                change.target_id,
                change.target_is_role,
                desired,
                AUDIT_REASON,
            )
        stored.restored_at = self._clock.now()
        # The remaining changes now rest on the same original.
        for other in remaining:
            other.previous_allow = open_changes[0].previous_allow
            other.previous_deny = open_changes[0].previous_deny
        await session.flush()

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
        self,
        channel_id: int,
        target_id: int,
        target_is_role: bool,
        desired: Overwrite | None,
        reason: str,
    ) -> None:
        try:
            if desired is None:
                await self._http.delete_channel_permissions(channel_id, target_id, reason=reason)
            else:
                await self._http.edit_channel_permissions(
                    channel_id,
                    target_id,
                    str(desired.allow),
                    str(desired.deny),
                    0 if target_is_role else 1,
                    reason=reason,
                )
        except discord.Forbidden as error:
            raise MissingBotPermission(
                describe_missing(["manage_roles", "view_channel"])
                + f" (Discord refused to change <#{channel_id}>.)"
            ) from error


def _previous(change: OverwriteChange) -> Overwrite | None:
    if change.previous_allow is None or change.previous_deny is None:
        return None
    return Overwrite(change.previous_allow, change.previous_deny)
