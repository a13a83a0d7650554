"""`make demo`: the scripted meeting runs the real bot and its transcript shows all of it."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.domain.phases import Phase, PhaseTemplate
from tests.e2e.processes import REPO

CHROMIUM = shutil.which("chromium")
ONCE = (Phase.CHECK_IN, Phase.FOLLOW_UPS)


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The demo run once, as `make demo` runs it, in its own process."""
    output = tmp_path_factory.mktemp("demo") / "transcript.html"
    result = subprocess.run(
        [sys.executable, "-m", "tests.e2e.demo", str(output)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith(f"Demo transcript: {output.resolve()} (")
    return output, result.stdout


def shown_text(page: str) -> str:
    """The page as a reader sees it: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_make_demo_runs_this_script() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert "\t$(BIN)/python -m tests.e2e.demo $(DEMO_OUTPUT)\n" in makefile


def test_the_transcript_holds_every_phase_and_the_silence(transcript: tuple[Path, str]) -> None:
    path, _ = transcript
    page = path.read_text(encoding="utf-8")
    text = shown_text(page)
    template = PhaseTemplate()
    for phase in Phase:
        titles = ([template.title(phase)] if phase in ONCE else
                  [f"Case {n} · {template.title(phase)}" for n in (1, 2)])
        for title in titles:
            assert f"meeting in progress {title}" in text, title
    for presenter in ("dr-1", "dr-2"):
        assert f"{presenter} can no longer speak or write in the group's chat" in text
        assert f"{presenter} can speak again" in text
    # Group creation, the agreement, the schedule and RSVPs, the end, the follow-ups.
    for seen in ("Thanks for adding balint-bot", "Created Tuesday group",
                 "group agreement", "Welcome to Tuesday group", "Schedule set:",
                 "Will you be there?", "Attending (3)", "meeting summary",
                 "Follow-up by dr-1 We spoke again", "How has it gone with the patient"):
        assert seen in text, seen


def test_the_transcript_marks_who_saw_what_and_needs_nothing_else(
    transcript: tuple[Path, str],
) -> None:
    """Ephemeral replies, DMs, forms and buttons are marked; no external files are loaded."""
    page = transcript[0].read_text(encoding="utf-8")
    text = shown_text(page)
    assert "only you only dr-leader sees" in text
    assert "DM DM to dr-1" in text
    assert "form form for dr-1" in text
    assert '<span class="button">Attending</span>' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page
    rows = re.findall(r'<tr class="(\w+)" data-audience="([\d ]+)">', page)
    assert len(rows) > 100
    assert {kind for kind, _ in rows} == {"action", "channel", "ephemeral", "dm", "modal",
                                          "voice"}


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_the_transcript_renders_in_a_browser(transcript: tuple[Path, str],
                                             tmp_path: Path) -> None:
    """Headless Chromium draws the page: a screenshot of real content, not a blank page."""
    assert CHROMIUM is not None
    shot = tmp_path / "transcript.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--screenshot={shot}", "--window-size=1280,2400", transcript[0].as_uri()],
        capture_output=True, timeout=120, check=True,
    )
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 2400)
    # A blank page compresses to a few kilobytes; rows of text, badges and embeds do not.
    assert len(png) > 100_000, len(png)
