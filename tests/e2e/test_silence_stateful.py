"""Point 7 of issue 10: random fault sequences; see tests/e2e/stateful_silence.py.

CI runs STATEFUL_EXAMPLES sequences of up to STATEFUL_STEPS steps per database, the
same ones every run (derandomized); `make fuzz-silence` runs thousands of new ones
and shrinks what fails.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.stateful_silence import run_sequences

pytestmark = pytest.mark.e2e

STATEFUL_EXAMPLES = int(os.environ.get("BALINT_STATEFUL_EXAMPLES", "12"))
STATEFUL_STEPS = int(os.environ.get("BALINT_STATEFUL_STEPS", "20"))


def test_random_fault_sequences_never_leave_discord_disagreeing(
    database_kind: str, tmp_path: Path
) -> None:
    tally = run_sequences(database_kind, tmp_path, STATEFUL_EXAMPLES, STATEFUL_STEPS,
                          shrink=False)
    print(f"random fault sequences: {dict(tally)}")
    assert tally["sequences"] >= STATEFUL_EXAMPLES
    assert tally["steps checked"] > tally["sequences"]
    # The faults did happen: the emulator answered requests with them.
    server_errors = tally["fired 500"] + tally["fired 502"] + tally["fired 503"]
    assert tally["fired 403"] > 0, dict(tally)
    assert tally["fired 429"] > 0, dict(tally)
    assert server_errors > 0, dict(tally)
