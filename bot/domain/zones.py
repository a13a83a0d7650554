"""IANA time zone names as people type them."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import available_timezones


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    """Region/City zones, the form people recognise (no Etc/GMT+10 or bare aliases)."""
    return tuple(sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/")))


def matching_zones(typed: str, limit: int = 25) -> list[str]:
    """Zones containing what was typed, those whose city starts with it first.

    'adel' gives Australia/Adelaide before America/Guadeloupe.
    """
    needle = typed.lower().strip().replace(" ", "_")
    matches = [zone for zone in zone_names() if needle in zone.lower()]
    matches.sort(key=lambda zone: (not zone.lower().rsplit("/", 1)[-1].startswith(needle), zone))
    return matches[:limit]
