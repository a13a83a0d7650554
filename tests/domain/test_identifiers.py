from __future__ import annotations

import importlib
import itertools
import pkgutil
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain import identifiers
from bot.domain.identifiers import Finding, IdentifierKind, human_summary, scan
from tests.domain.adversarial_text import ADVERSARIAL_UNITS, FOLLOW_UP_LIMIT, adversarial_texts

PHONE = IdentifierKind.PHONE
EMAIL = IdentifierKind.EMAIL
ADDRESS = IdentifierKind.STREET_ADDRESS
DATE = IdentifierKind.DATE_OF_BIRTH
HEALTH_ID = IdentifierKind.HEALTH_ID
URL = IdentifierKind.URL

POSITIVES = [
    ("Her mobile is 0412 345 678 if needed.", PHONE, "0412 345 678"),
    ("ring 0412345678", PHONE, "0412345678"),
    ("on +61 412 345 678.", PHONE, "+61 412 345 678"),
    ("clinic (02) 9876 5432 after hours", PHONE, "(02) 9876 5432"),
    ("landline 08 8123 4567", PHONE, "08 8123 4567"),
    ("via 1800 022 222", PHONE, "1800 022 222"),
    ("UK mobile 07700 900123", PHONE, "07700 900123"),
    ("son on +44 7700 900123", PHONE, "+44 7700 900123"),
    ("office 020 7946 0018", PHONE, "020 7946 0018"),
    ("US cousin (555) 123-4567", PHONE, "(555) 123-4567"),
    ("or 555-123-4567.", PHONE, "555-123-4567"),
    ("email jane.doe@example.com today", EMAIL, "jane.doe@example.com"),
    ("wrote to j_smith+gp@health.nsw.gov.au.", EMAIL, "j_smith+gp@health.nsw.gov.au"),
    ("lives at 12 Banksia Crescent with", ADDRESS, "12 Banksia Crescent"),
    ("at 2/15 Smith St, Dubbo", ADDRESS, "2/15 Smith St"),
    ("farm on 1450 Mitchell Hwy near", ADDRESS, "1450 Mitchell Hwy"),
    ("moved to 7 Old Coach Road last", ADDRESS, "7 Old Coach Road"),
    ("post to PO Box 123 please", ADDRESS, "PO Box 123"),
    ("DOB 12/03/1961 on file", DATE, "12/03/1961"),
    ("born 1961-03-12 in", DATE, "1961-03-12"),
    ("born 12 March 1961, she", DATE, "12 March 1961"),
    ("born on 3rd March 1954.", DATE, "3rd March 1954"),
    ("DOB 12.03.61", DATE, "12.03.61"),
    ("seen on March 12, 2024 for", DATE, "March 12, 2024"),
    ("Medicare 2123 45670 1 on the card", HEALTH_ID, "2123 45670 1"),
    ("card 2123456701", HEALTH_ID, "2123456701"),
    ("NHS number 943 476 5919.", HEALTH_ID, "943 476 5919"),
    ("SSN 123-45-6789", HEALTH_ID, "123-45-6789"),
    ("see https://example.org/page?id=3.", URL, "https://example.org/page?id=3"),
    ("her blog www.myjourney.net", URL, "www.myjourney.net"),
    ("posted on example.com.au about it", URL, "example.com.au"),
]


@pytest.mark.parametrize(("text", "kind", "span"), POSITIVES)
def test_identifiers_are_found_with_their_kind_and_span(
    text: str, kind: IdentifierKind, span: str
) -> None:
    findings = scan(text)
    assert [(f.kind, text[f.start : f.end]) for f in findings] == [(kind, span)]


NEGATIVES = [
    "BP 140/90 today",
    "HbA1c 7.2% last month",
    "eGFR 45 and stable",
    "Hb 120 g/L",
    "a 58-year-old farmer",
    "aged 72",
    "diagnosed in 2019",
    "smoker since 1998",
    "metformin 500 mg bd",
    "insulin 10 units nocte",
    "ramipril 2.5mg daily",
    "booked at 10:30",
    "off work 3/7",
    "ECG at 12:15",
    "temp 38.5",
    "GCS 15/15",
    "week 32 of pregnancy",
    "O2 sats 94% on room air",
    "for 7 days",
    "2 weeks ago",
    "about 1/2 of the dose",
    "a 1 in 3 chance",
    "Dr Smith rang",
    "on Tuesday",
    "known T2DM",
    "after COVID-19",
    "started metformin 500 mg bd by Dr Smith",
    "INR 2.5-3.0",
    "Na 134 mmol/L, K 5.9",
    "BMI 32.4",
    "weight 92.5 kg",
    "G2P1 at 30/40",
    "pain 8/10",
    "12-lead ECG",
    "a 2-hour drive, 80 km each way",
    "e.g. the practice nurse, i.e. Sue",
    "Panadol 1g qid",
    "PSA 4.5 ng/mL",
    "Cr 110 umol/L",
    "paracetamol 1 g 4/24",
    "St John's wort",
    "took 3 St John's Wort tablets",
    "March 2019",
    "seen on 4 March",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_clinical_figures_are_not_identifiers(text: str) -> None:
    assert scan(text) == []


FOLLOW_UPS = [
    """Follow-up on Mrs K (the case from March). She came back 2 weeks ago, BP 150/95,
    HbA1c 8.1% despite metformin 1 g bd. I noticed I was dreading the appointment again,
    the same heaviness the group talked about. This time I asked about her husband first
    and she cried for the first time in 3 years of seeing her. eGFR 52. We agreed to meet
    weekly for 4 weeks. I still feel I am carrying her, but it feels lighter.""",
    """Update on the 58-year-old farmer with chest pain: ECG at 12:15 normal, trop x2
    negative, temp 37.2, O2 sats 97%. He drove 2 hours for the review and apologised
    for wasting my time. I remembered what Dr Patel said in the group about his pride.
    I told him it was no waste. He has booked in for 3/12 follow-up. GCS 15/15 throughout,
    aged 62 actually, not 58 as I said. Since 2019 he has seen five locums.""",
    """The young mum from the second case: week 34 now, BP 130/85, Hb 118 g/L. She missed
    2 appointments, then came with all three kids on a Tuesday at 16:30. I found myself
    irritated and then guilty. The group's idea that I'm standing in for her mother stuck
    with me. Off work 5/7 for her back; paracetamol 1 g qid, ibuprofen 400 mg tds.
    Roughly 1 in 4 visits she brings up the move from town in 2021.""",
]


@pytest.mark.parametrize("text", FOLLOW_UPS)
def test_realistic_follow_ups_without_identifiers_pass_untouched(text: str) -> None:
    assert scan(text) == []


def test_several_identifiers_in_one_text_come_in_reading_order() -> None:
    text = "Her son (jo@example.com, 0412 345 678) lives at 4 Hill St, DOB 1/2/1950."
    findings = scan(text)
    assert [f.kind for f in findings] == [EMAIL, PHONE, ADDRESS, DATE]
    assert all(isinstance(f, Finding) for f in findings)


def test_an_email_is_not_also_reported_as_a_web_address() -> None:
    assert [f.kind for f in scan("write to info@clinic.com.au")] == [EMAIL]


def test_invalid_check_digits_are_not_health_ids_without_context() -> None:
    assert scan("ref 2123 45671 1") == []
    assert [f.kind for f in scan("Medicare 2123 45671 1")] == [HEALTH_ID]


def test_two_digit_years_with_dots_need_a_birth_context() -> None:
    assert scan("ratio 12.03.61") == []


@pytest.mark.parametrize(
    ("kinds", "summary"),
    [
        ([], ""),
        ([PHONE], "a phone number"),
        ([PHONE, EMAIL], "a phone number and an email address"),
        ([PHONE, PHONE, EMAIL], "a phone number and an email address"),
        ([URL, ADDRESS, PHONE], "a web address, a street address and a phone number"),
    ],
)
def test_human_summary_lists_each_kind_once(kinds: list[IdentifierKind], summary: str) -> None:
    assert human_summary([Finding(kind, 0, 1) for kind in kinds]) == summary


# --- Linear time -------------------------------------------------------------------------

_parser: Any = importlib.import_module("re._parser")
_constants: Any = importlib.import_module("re._constants")
# A repetition that can backtrack may try at most this many lengths.
_LONGEST_BACKTRACKING_REPEAT = 64


def _module_patterns(module: Any = identifiers) -> dict[str, re.Pattern[str]]:
    found: dict[str, re.Pattern[str]] = {}
    for name, value in vars(module).items():
        values = value.values() if isinstance(value, dict) else value
        if isinstance(value, re.Pattern):
            values = [value]
        elif not isinstance(value, tuple | dict):
            continue
        for index, item in enumerate(values):
            if isinstance(item, re.Pattern):
                found[f"{name}[{index}]"] = item
    return found


def _backtracking_repeats(tree: Any, inside_repeat: bool = False) -> Iterator[str]:
    """Repetitions that could make matching more than linear: unbounded greedy or lazy
    ones, long bounded ones, and a backtracking repeat nested in another."""
    for op, argument in tree:
        if op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT):
            low, high, body = argument
            if high == _constants.MAXREPEAT or high > _LONGEST_BACKTRACKING_REPEAT:
                yield f"{op} {{{low},{high}}}"
            if inside_repeat and high > 1:
                yield f"nested {op} {{{low},{high}}}"
            yield from _backtracking_repeats(body, inside_repeat=inside_repeat or high > 1)
        elif op is _constants.POSSESSIVE_REPEAT:
            # Taken whole: whatever is inside never gives characters back.
            yield from _backtracking_repeats(argument[2], inside_repeat=False)
        elif op is _constants.SUBPATTERN:
            yield from _backtracking_repeats(argument[-1], inside_repeat)
        elif op is _constants.BRANCH:
            for branch in argument[1]:
                yield from _backtracking_repeats(branch, inside_repeat)
        elif op in (_constants.ASSERT, _constants.ASSERT_NOT):
            yield from _backtracking_repeats(argument[1], inside_repeat)
        elif op is _constants.ATOMIC_GROUP:
            yield from _backtracking_repeats(argument, inside_repeat=False)


def test_the_module_patterns_are_found() -> None:
    """The linearity check below only means something if it sees the patterns."""
    names = _module_patterns()
    assert {"_PHONE_RUN[0]", "_EMAIL[0]", "_STREET[0]", "_DATE_IN_WORDS[1]"} <= set(names)


@pytest.mark.parametrize(("name", "pattern"), sorted(_module_patterns().items()))
def test_no_pattern_can_backtrack_more_than_a_constant(name: str, pattern: re.Pattern[str]) -> None:
    tree = _parser.parse(pattern.pattern, pattern.flags)
    assert list(_backtracking_repeats(tree)) == []


def _every_module_pattern() -> dict[str, re.Pattern[str]]:
    """Module-level patterns anywhere in the bot: each may meet what a member typed."""
    found: dict[str, re.Pattern[str]] = {}
    for package in ("bot", "cogs"):
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            if module.name.endswith("__main__"):
                continue  # running it is what importing it does
            loaded = importlib.import_module(module.name)
            found |= {f"{module.name}.{k}": v for k, v in _module_patterns(loaded).items()}
    return found


@pytest.mark.parametrize(("name", "pattern"), sorted(_every_module_pattern().items()))
def test_no_pattern_in_the_bot_can_backtrack(name: str, pattern: re.Pattern[str]) -> None:
    tree = _parser.parse(pattern.pattern, pattern.flags)
    assert list(_backtracking_repeats(tree)) == []


def test_the_backtracking_check_catches_the_pattern_that_froze_the_bot() -> None:
    old_phone = r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(0\))?(?:[ .-]?\(?\d+\)?){2,6}"
    assert list(_backtracking_repeats(_parser.parse(old_phone)))


NEEDLE = "Call her on 0412 345 678 today."


@given(
    units=st.lists(
        st.tuples(st.sampled_from(ADVERSARIAL_UNITS), st.integers(min_value=1, max_value=400)),
        min_size=1,
        max_size=8,
    ),
    noise=st.text(max_size=40),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_adversarial_text_is_scanned_and_an_identifier_after_it_still_found(
    units: list[tuple[str, int]], noise: str
) -> None:
    prefix = " ; ".join(unit * count for unit, count in units) + noise
    text = (prefix[: FOLLOW_UP_LIMIT - len(NEEDLE) - 3] + " . " + NEEDLE)[:FOLLOW_UP_LIMIT]
    findings = scan(text)
    assert all(0 <= f.start < f.end <= len(text) for f in findings)
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))
    assert (IdentifierKind.PHONE, "0412 345 678") in [
        (f.kind, text[f.start : f.end]) for f in findings
    ]


@pytest.mark.parametrize(("name", "text"), sorted(adversarial_texts().items()))
def test_the_benchmarks_adversarial_texts_scan_to_well_formed_findings(
    name: str, text: str
) -> None:
    assert len(text) <= FOLLOW_UP_LIMIT
    findings = scan(text)
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))
