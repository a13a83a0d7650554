"""Which guilds a bot process serves when the bot runs as several processes.

Discord splits a bot's guilds over shards by `(guild_id >> 22) % shard_count` and sends
each guild's events to its shard only; a process owns a range of shards, and with them
the timed work of those guilds. One process with every shard (the default) owns all.
"""

from __future__ import annotations

from dataclasses import dataclass


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord delivers this guild's events to."""
    return (guild_id >> 22) % shard_count


@dataclass(frozen=True)
class Shards:
    """The shards one process holds: `ids` of `count` (None: unsharded, every guild)."""

    count: int | None = None
    ids: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.ids is not None and (
            self.count is None or not self.ids or any(not 0 <= i < self.count for i in self.ids)
        ):
            raise ValueError("shard ids must lie in 0 .. shard_count - 1")

    @property
    def subset(self) -> tuple[int, tuple[int, ...]] | None:
        """(count, ids) when this process serves only some guilds; None when it serves all."""
        if self.count is None or self.ids is None or len(set(self.ids)) == self.count:
            return None
        return self.count, self.ids

    @property
    def share(self) -> float:
        """The part of the bot's shards this process holds (1.0 unsharded)."""
        subset = self.subset
        return 1.0 if subset is None else len(set(subset[1])) / subset[0]

    def owns(self, guild_id: int) -> bool:
        """Whether this guild's events, and its timed work, belong to this process."""
        subset = self.subset
        return subset is None or shard_of(guild_id, subset[0]) in subset[1]


EVERY_GUILD = Shards()
