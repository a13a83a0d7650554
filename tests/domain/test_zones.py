"""Time zone suggestions for the autocomplete."""

from __future__ import annotations

from bot.domain.zones import matching_zones, zone_names


def test_city_prefix_comes_first() -> None:
    assert matching_zones("adel")[0] == "Australia/Adelaide"
    assert "America/Guadeloupe" in matching_zones("adel")


def test_spaces_match_underscores_and_case_is_ignored() -> None:
    assert matching_zones("lord how") == ["Australia/Lord_Howe"]


def test_at_most_the_limit_and_only_region_city_names() -> None:
    assert len(matching_zones("a")) == 25
    assert all("/" in zone and not zone.startswith("Etc/") for zone in zone_names())
    assert matching_zones("no such place") == []
