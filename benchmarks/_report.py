"""What a benchmark process tells the driver when asked (SIGUSR1): counters and memory.

Only the standard library: the bare baseline imports this too, and its memory is a
figure measured against the bot's.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable


def rss_kib() -> int:
    """Resident memory of this process, from the kernel (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def announce(word: str, *values: object) -> None:
    print(word, f"{time.monotonic():.6f}", *values, flush=True)


def answer_reports(counters: Callable[[], tuple[int, int]] = lambda: (0, 0)) -> None:
    """On SIGUSR1 print `REPORT <t> <statements> <transactions> <rss KiB>`."""
    asyncio.get_running_loop().add_signal_handler(
        signal.SIGUSR1, lambda: announce("REPORT", *counters(), rss_kib())
    )
