"""The labelled follow-up snippets the de-identification nudge is measured on.

nudge.jsonl holds realistic follow-up snippets, each labelled whether it holds
something identifying (a name, phone number, address, full date, health number, email
or web address). The ones without hold what a nudge must leave alone: clinical figures,
drug doses, eponyms ("Graves' disease", "Parkinson's"), colleagues ("Dr Patel said")
and disguised patients ("Mrs K"). Shared by the benchmark and the test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bot.domain.identifiers import scan

CORPUS = Path(__file__).with_name("nudge.jsonl")


@dataclass(frozen=True)
class Snippet:
    text: str
    identifying: bool
    kind: str | None


@dataclass(frozen=True)
class Score:
    with_identifiers: int
    without: int
    true_nudges: int
    false_nudges: int

    @property
    def recall(self) -> float:
        return self.true_nudges / self.with_identifiers

    @property
    def precision(self) -> float:
        return self.true_nudges / max(self.true_nudges + self.false_nudges, 1)

    @property
    def false_nudge_rate(self) -> float:
        return self.false_nudges / self.without


def snippets() -> list[Snippet]:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    return [Snippet(**json.loads(line)) for line in lines if line.strip()]


def score(corpus: list[Snippet]) -> tuple[Score, list[Snippet], list[Snippet]]:
    """The nudge's score, with the snippets it missed and those it nudged wrongly."""
    missed = [s for s in corpus if s.identifying and not scan(s.text)]
    wrong = [s for s in corpus if not s.identifying and scan(s.text)]
    positives = sum(s.identifying for s in corpus)
    return (
        Score(positives, len(corpus) - positives, positives - len(missed), len(wrong)),
        missed,
        wrong,
    )
