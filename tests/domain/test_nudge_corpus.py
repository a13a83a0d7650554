"""The nudge on the labelled corpus: it must catch identifiers and leave clinical text be."""

from __future__ import annotations

from tests.corpus.nudge_corpus import score, snippets

RECALL_GOAL = 0.9
FALSE_NUDGE_GOAL = 0.05


def test_the_corpus_is_large_enough_to_mean_something() -> None:
    corpus = snippets()
    assert sum(s.identifying for s in corpus) >= 150
    assert sum(not s.identifying for s in corpus) >= 150
    kinds = {s.kind for s in corpus if s.identifying}
    assert {"name", "phone", "email", "address", "date_of_birth", "health_id", "url"} <= kinds


def test_the_nudge_meets_its_recall_and_false_nudge_goals() -> None:
    result, missed, wrong = score(snippets())
    assert result.recall >= RECALL_GOAL, [s.text for s in missed]
    assert result.false_nudge_rate <= FALSE_NUDGE_GOAL, [s.text for s in wrong]
