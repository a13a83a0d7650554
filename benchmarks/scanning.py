"""How long the de-identification nudge takes on the worst text a member can send.

The scan runs on the event loop for every follow-up and case label, so its worst case
is what every other group on the bot waits for. Goal: under 5 ms for 4,000 characters.
Figures are medians of repeated runs; the worst of the adversarial texts is quoted.
"""

from __future__ import annotations

import statistics
import time

from bot.domain.identifiers import scan
from tests.domain.adversarial_text import FOLLOW_UP_LIMIT, adversarial_texts

_RUNS = 15
GOAL_SECONDS = 0.005


def median_scan_seconds(text: str, runs: int = _RUNS) -> float:
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        scan(text)
        timings.append(time.perf_counter() - began)
    return statistics.median(timings)


def main() -> None:
    scan("warm up 0412 345 678")
    timings = {name: median_scan_seconds(text) for name, text in adversarial_texts().items()}
    worst_name, worst = max(timings.items(), key=lambda item: item[1])
    typical = median_scan_seconds(
        ("Follow-up: BP 140/90, seen by Dr Patel. " * 100)[:FOLLOW_UP_LIMIT]
    )
    print(f"adversarial texts: {len(timings)} of {FOLLOW_UP_LIMIT} characters")
    print(
        f"worst: {worst_name}  median {worst * 1000:.2f} ms (goal < {GOAL_SECONDS * 1000:.0f} ms)"
    )
    print(f"typical clinical follow-up of {FOLLOW_UP_LIMIT} characters: {typical * 1000:.2f} ms")
    for name, seconds in sorted(timings.items(), key=lambda item: -item[1])[:5]:
        print(f"  {seconds * 1000:7.2f} ms  {name}")


if __name__ == "__main__":
    main()
