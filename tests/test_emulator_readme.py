"""tests/emulator/README.md's examples are real: the scenario is a test file, verbatim,
and every Python block passes ruff."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "tests" / "emulator" / "README.md"
SCENARIO = ROOT / "tests" / "e2e" / "test_readme_scenario.py"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), re.S | re.M)


def test_the_readme_scenario_is_the_tested_file_verbatim() -> None:
    assert python_blocks() == [SCENARIO.read_text()]


def test_every_python_block_in_the_readme_passes_ruff() -> None:
    for block in python_blocks():
        result = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--quiet", "--stdin-filename",
             str(SCENARIO.with_name("readme_block.py")), "-"],
            input=block, capture_output=True, text=True, cwd=ROOT, timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_changed_readme_block_would_be_caught() -> None:
    """The block pattern finds the scenario, so an edit to either side fails the test above."""
    (block,) = python_blocks()
    assert "async def test_presenter_is_pushed_back" in block
    assert block.endswith("await assert_silence_invariant(harness)\n")
