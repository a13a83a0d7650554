"""How well the de-identification nudge separates identifying snippets from clinical text.

Measured on the labelled corpus the project keeps (tests/corpus/nudge.jsonl). Goal:
recall of at least 0.9 and no more than 5% false nudges on text without identifiers.
"""

from __future__ import annotations

from tests.corpus.nudge_corpus import score, snippets


def main() -> None:
    result, missed, wrong = score(snippets())
    print(
        f"corpus: {result.with_identifiers} snippets with identifiers, "
        f"{result.without} without"
    )
    print(
        f"recall {result.recall:.3f} (goal >= 0.9), precision {result.precision:.3f}, "
        f"false nudges {result.false_nudge_rate:.1%} (goal <= 5%)"
    )
    print(f"missed: {sorted({s.kind or '?' for s in missed})}; wrongly nudged: {len(wrong)}")


if __name__ == "__main__":
    main()
