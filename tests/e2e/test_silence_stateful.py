"""Point 7 of issue 10: random fault sequences; see tests/e2e/stateful_silence.py.

CI runs STATEFUL_EXAMPLES examples of up to STATEFUL_STEPS steps per database;
`make fuzz-silence` (benchmarks/silence_fuzz.py) runs thousands.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from tests.e2e.stateful_silence import SilenceMachine

pytestmark = pytest.mark.e2e

STATEFUL_EXAMPLES = int(os.environ.get("BALINT_STATEFUL_EXAMPLES", "6"))
STATEFUL_STEPS = int(os.environ.get("BALINT_STATEFUL_STEPS", "20"))


def test_random_fault_sequences_never_leave_discord_disagreeing(
    database_kind: str, tmp_path: Path
) -> None:
    SilenceMachine.database_kind = database_kind
    SilenceMachine.folder = tmp_path
    SilenceMachine.tally.clear()
    SilenceMachine.examples = 0
    run_state_machine_as_test(SilenceMachine, settings=settings(
        max_examples=STATEFUL_EXAMPLES, stateful_step_count=STATEFUL_STEPS, deadline=None,
        suppress_health_check=list(HealthCheck), derandomize=True, database=None,
    ))
    tally = SilenceMachine.tally
    print(f"{SilenceMachine.examples} sequences: {dict(tally)}")
    assert SilenceMachine.examples >= STATEFUL_EXAMPLES
    assert tally["steps checked"] > 0
    # The faults did happen: each kind injected was also answered by the emulator.
    assert tally["fired 429"] + tally["fired 500"] + tally["fired 502"] + tally["fired 503"] > 0
