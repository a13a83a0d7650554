"""How long the de-identification nudge takes on the worst text a member can send.

The scan runs on the event loop for every follow-up and case label, so its worst case
is what every other group on the bot waits for. Goal: under 5 ms for 4,000 characters.
Figures are medians of repeated runs; the worst of the adversarial texts is quoted.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from bot.domain.identifiers import scan
from tests.domain.adversarial_text import FOLLOW_UP_LIMIT, adversarial_texts

_RUNS = 15
GOAL_SECONDS = 0.005


def median_scan_seconds(text: str, clock: Callable[[], float], runs: int = _RUNS) -> float:
    timings = []
    for _ in range(runs):
        began = clock()
        scan(text)
        timings.append(clock() - began)
    return statistics.median(timings)


def main() -> None:
    """Wall time is what the event loop waits; CPU time is the scan's own work, which a
    busy shared machine disturbs less. Both are medians."""
    scan("warm up 0412 345 678")
    texts = adversarial_texts()
    cpu = {name: median_scan_seconds(text, time.process_time) for name, text in texts.items()}
    worst_name, worst = max(cpu.items(), key=lambda item: item[1])
    worst_wall = median_scan_seconds(texts[worst_name], time.perf_counter)
    typical_text = ("Follow-up: BP 140/90, seen by Dr Patel. " * 100)[:FOLLOW_UP_LIMIT]
    typical = median_scan_seconds(typical_text, time.process_time)
    print(f"adversarial texts: {len(cpu)} of {FOLLOW_UP_LIMIT} characters")
    print(
        f"worst: {worst_name}  median CPU {worst * 1000:.2f} ms, wall {worst_wall * 1000:.2f} ms "
        f"(goal < {GOAL_SECONDS * 1000:.0f} ms)"
    )
    print(
        f"typical clinical follow-up of {FOLLOW_UP_LIMIT} characters: {typical * 1000:.2f} ms CPU"
    )
    for name, seconds in sorted(cpu.items(), key=lambda item: -item[1])[:5]:
        print(f"  {seconds * 1000:7.2f} ms CPU  {name}")


if __name__ == "__main__":
    main()
