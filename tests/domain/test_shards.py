"""Which servers a process owns, and the settings that say so."""

from __future__ import annotations

import pytest

from bot.config import Settings, SettingsError
from bot.domain.shards import EVERY_GUILD, Shards, shard_of

# A snowflake whose timestamp part (id >> 22) is even.
GUILD = 197038439483310086


def test_the_shard_is_discords_formula() -> None:
    assert shard_of(GUILD, 1) == 0
    assert shard_of(GUILD, 2) == (GUILD >> 22) % 2 == 0
    assert shard_of(GUILD + (1 << 22), 2) == 1


def test_a_process_owns_the_guilds_of_its_shards_only() -> None:
    low, high = Shards(4, (0, 1)), Shards(4, (2, 3))
    for n in range(8):
        guild = n << 22
        assert low.owns(guild) == (n % 4 < 2)
        assert high.owns(guild) != low.owns(guild)
    assert EVERY_GUILD.owns(GUILD)
    assert EVERY_GUILD.subset is None
    assert Shards(4).subset is None  # a count without ids: every shard in this process
    assert Shards(2, (1, 0)).subset is None
    assert low.subset == (4, (0, 1))


def test_settings_read_the_shards_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHARD_COUNT", "4")
    monkeypatch.setenv("SHARD_IDS", "2, 3")
    assert Settings.load(env_file=None).shards() == Shards(4, (2, 3))
    monkeypatch.setenv("SHARD_COUNT", "")
    monkeypatch.setenv("SHARD_IDS", "")
    assert Settings.load(env_file=None).shards() == EVERY_GUILD


@pytest.mark.parametrize(("count", "ids"), [("4", "4"), ("", "0"), ("2", "-1"), ("0", "")])
def test_settings_refuse_shards_that_cannot_be(
    monkeypatch: pytest.MonkeyPatch, count: str, ids: str
) -> None:
    monkeypatch.setenv("SHARD_COUNT", count)
    monkeypatch.setenv("SHARD_IDS", ids)
    with pytest.raises(SettingsError):
        Settings.load(env_file=None)


def test_a_process_shares_the_bots_budget_by_the_shards_it_holds() -> None:
    assert EVERY_GUILD.share == 1.0
    assert Shards(4).share == 1.0
    assert Shards(4, (0, 1)).share == 0.5
    assert Shards(4, (3, 3)).share == 0.25  # a shard named twice is held once
