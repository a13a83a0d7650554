"""A nudge, not a filter: spot text in a follow-up that could identify a patient.

Cases are told disguised, and follow-ups are written between meetings when
members are busy, so the bot points out anything that looks like a phone
number, address, full date, health identifier, email or web address before it
is posted. Clinical figures (blood pressures, doses, ages, years, times) are
left alone: a nudge that fires on every "BP 140/90" would soon be ignored.
Only spans are returned, so callers never need to log the text itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources


class IdentifierKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    STREET_ADDRESS = "street_address"
    DATE_OF_BIRTH = "date_of_birth"
    HEALTH_ID = "health_id"
    URL = "url"
    NAME = "name"

    @property
    def description(self) -> str:
        """How the nudge names this kind to the member."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    IdentifierKind.PHONE: "a phone number",
    IdentifierKind.EMAIL: "an email address",
    IdentifierKind.STREET_ADDRESS: "a street address",
    IdentifierKind.DATE_OF_BIRTH: "a full date (such as a date of birth)",
    IdentifierKind.HEALTH_ID: "a health identifier (Medicare, NHS or social security number)",
    IdentifierKind.URL: "a web address",
    IdentifierKind.NAME: "a person's name",
}


@dataclass(frozen=True)
class Finding:
    """Where something identifying was found: `text[start:end]`."""

    kind: IdentifierKind
    start: int
    end: int


# --- Patterns ----------------------------------------------------------------------------
#
# Every pattern here runs in time linear in the text, by construction, because a member's
# text is scanned on the event loop (a backtracking pattern once froze every group for
# seconds). The rules that keep them so, checked by tests/domain/test_identifiers.py:
# every repetition is possessive (`++`, `*+`, `{m,n}+`) or bounded by a small constant,
# a repeated group never overlaps what follows it, and a candidate may only start where
# a look-behind of one character says a run begins, so no run is rescanned from each of
# its characters. Anything subtler (is this a real phone number, a valid NHS number) is
# decided by code on the short candidate, not by the pattern.

# A local part starts a run (so "aaaa…" is tried once) and is at most 64 characters.
_EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]{1,64}+@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++")
_TOP_LEVEL = re.compile(r"[A-Za-z]{2,}+")

_URL_TRAILING_PUNCTUATION = ".,;:!?)]}'\""
_URL_EXPLICIT = re.compile(r"\b(?:https?://|www\.)\S++", re.IGNORECASE)
# Bare domains only with a real top-level domain, so "e.g." or "Dr.Smith" never match.
_URL_BARE = re.compile(r"(?<![@\w.-])[a-z0-9-]++(?:\.[a-z0-9-]++)++(?:/\S*+)?", re.IGNORECASE)
_BARE_TOP_LEVEL = frozenset(
    {"com", "org", "net", "edu", "gov", "info", "biz", "io", "health"}
    | {"au", "nz", "uk", "ca", "us", "ie"}
)

# A run of digits and the separators people write phone numbers with, taken whole and
# started where no digit or "+" precedes it; phonenumbers then decides whether it is a
# number. A longer run is a row of figures, not one number as people write it.
_PHONE_RUN = re.compile(r"(?<![\w+/.])(?:\+|\()?\d[\d ().-]*+")
_LONGEST_WRITTEN_PHONE = 30
_PHONE_DIGITS = range(8, 16)
# A real follow-up holds a handful of number-shaped runs; past this many, the rest of a
# text is not looked up, so no text can keep phonenumbers busy on the event loop.
_PHONE_LOOKUPS_PER_TEXT = 40
# Countries the members practise in, by the trunk prefix their numbers are written
# with ("0412 345 678", "020 7946 0018"); "+" numbers name their own country, and
# North American numbers (Canada shares the plan with the US) are read as "US".
_TRUNK_ZERO_REGIONS = ("AU", "NZ", "GB", "IE")
_FREE_CALL_PREFIXES = ("1300", "1800")
# "555-123-4567": a possible (if unallocated) North American number in its usual shape.
_NANP_SHAPE = re.compile(r"(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[.-]\d{4}")

_STREET_TYPES = (
    "Street|St|Road|Rd|Avenue|Ave|Drive|Dr|Lane|Ln|Crescent|Cres|Court|Ct|Place|Pl|"
    "Parade|Pde|Terrace|Tce|Way|Highway|Hwy|Boulevard|Blvd|Close|Grove|Square|"
    "Esplanade|Circuit|Cct|Track"
)
# A number, one to three capitalised words, then a street type: "12 Banksia Cres",
# "2/15 Smith St". Requiring capitals keeps "500 mg bd by Dr Smith" out. Each word is
# taken whole (possessive), so the only choice left is how many words: at most three.
_STREET = re.compile(
    r"(?<![\w/.])(?:\d{1,5}[A-Za-z]?/)?\d{1,5}[A-Za-z]?,?\s{1,3}+"
    r"(?:[A-Z][A-Za-z'’-]{1,30}+\s{1,3}+){1,3}"
    rf"(?:{_STREET_TYPES})\b\.?",
)
_PO_BOX = re.compile(r"\b(?:PO|P\.O\.)\s?Box\s{1,3}+\d{1,8}+\b", re.IGNORECASE)

_MONTHS = (
    "Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    "Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_DATE_IN_WORDS = (
    re.compile(
        rf"\b{_DAY}\s{{1,3}}+(?:of\s{{1,3}}+)?(?:{_MONTHS})\.?,?\s{{1,3}}+(?:19|20)\d{{2}}\b", re.I
    ),
    re.compile(rf"\b(?:{_MONTHS})\.?\s{{1,3}}+{_DAY},?\s{{1,3}}+(?:19|20)\d{{2}}\b", re.I),
)
_DATE_ISO = re.compile(r"(?<![\w/.-])(?:19|20)\d{2}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])\b")
_DATE_NUMERIC = re.compile(r"(?<![\w/.:-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\w/:-]|\.\d)")
# With only two digits for the year, "12.03.61" is a date only where a birth is named.
_BIRTH_CONTEXT = re.compile(r"\b(?:DOB|D\.O\.B\.?|born|birth)\b\W{0,25}+$", re.IGNORECASE)

# A number ends at a space or a full stop, not inside a longer figure ("0412345678.5").
_END = r"(?![\w/]|[.-]\d)"
_MEDICARE = re.compile(rf"(?<![\w/.-])[2-6]\d{{3}} ?\d{{5}} ?\d(?:[ /-]?\d)?{_END}")
_MEDICARE_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9)
_NHS = re.compile(rf"(?<![\w/.-])[1-9]\d{{2}}[ -]?\d{{3}}[ -]?\d{{4}}{_END}")
_SSN = re.compile(rf"(?<![\w/.-])\d{{3}}-\d{{2}}-\d{{4}}{_END}")
_SIN = re.compile(rf"(?<![\w/.-])\d{{3}}[ -]\d{{3}}[ -]\d{{3}}{_END}")
_CONTEXT_WINDOW = 25
_CONTEXT_WORDS = {
    word: re.compile(rf"\b{word}\b", re.IGNORECASE)
    for word in ("Medicare", "NHS", "SSN", "SIN", "social")
}


# Names: a title with a surname ("Mrs Thornbury", "Mr. O'Brien"), or a given name from
# the list followed by a capitalised word ("Margaret Thornbury"). "Mrs K" is a disguise,
# so a surname needs two letters; "Dr Patel said" is a colleague, so professional titles
# are not name titles, and a full name right after one is a colleague's too.
_TITLED_NAME = re.compile(
    r"\b(?:Mr|Mrs|Ms|Miss|Mx|Mister|Master|Sir|Dame)\.?\s{1,3}+"
    r"[A-Z][A-Za-z'’-]{1,30}+(?:\s{1,3}+[A-Z][A-Za-z'’-]{1,30}+){0,2}"
)
# Each capitalised word is tried once; the following word is only looked at.
_NAME_PAIR = re.compile(r"\b([A-Z][a-z]{1,15}+)(?=\s{1,3}+([A-Z][A-Za-z'’-]{1,30}+))")
_COLLEAGUE_TITLE = re.compile(
    r"\b(?:Dr|Doctor|Prof|Professor|Nurse|Sister|Matron)\.?\s{1,3}+$", re.IGNORECASE
)
_NOT_SURNAMES = frozenset(
    [
        "Hospital",
        "Clinic",
        "Health",
        "Medical",
        "Centre",
        "Center",
        "Practice",
        "Ward",
        "House",
        "Court",
        "Park",
        "Day",
        "Syndrome",
        "Disease",
        "Foundation",
        "Trust",
        "Service",
        "Services",
        "Unit",
        "School",
        "College",
        "University",
        "Church",
        "Lodge",
        "Home",
        "Village",
        "Station",
        "Street",
        "Road",
        "Avenue",
        "Drive",
        "Lane",
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
        "Christmas",
        "Easter",
        "I",
    ]
)


@cache
def given_names() -> frozenset[str]:
    """The list kept beside this module (read once, on first use)."""
    text = resources.files("bot.domain").joinpath("given_names.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


# "Sir Charles Gairdner Hospital", "John Hopkins Hospital": a place named after someone.
_INSTITUTIONS = frozenset(
    [
        "Hospital",
        "Clinic",
        "Centre",
        "Center",
        "Health",
        "Medical",
        "Practice",
        "Foundation",
        "Trust",
        "Institute",
        "University",
        "College",
        "School",
        "House",
    ]
)
_NEXT_WORD = re.compile(r"['’]?s?\s{1,3}+([A-Z][a-z]{1,20}+)")


def _names_a_place(text: str, end: int) -> bool:
    """Whether the name ending at `end` is part of an institution's name."""
    words = text[max(0, end - 40) : end].split()
    following = _NEXT_WORD.match(text, end)
    return bool(
        (following and following[1] in _INSTITUTIONS)
        or (words and words[-1].strip("'’s") in _INSTITUTIONS)
    )


def _names(text: str) -> Iterator[Span]:
    for match in _TITLED_NAME.finditer(text):
        if not _names_a_place(text, match.end()):
            yield match.span()
    known = given_names()
    for match in _NAME_PAIR.finditer(text):
        first, surname = match[1], match[2]
        if (
            first in known
            and surname not in _NOT_SURNAMES
            and any(char.islower() for char in surname)
            and not _COLLEAGUE_TITLE.search(text[max(0, match.start() - 12) : match.start()])
        ):
            end = match.end(1) + _gap(text, match.end(1)) + len(surname)
            if not _names_a_place(text, end):
                yield match.start(), end


def _gap(text: str, end: int) -> int:
    """The whitespace between a given name ending at `end` and the surname after it."""
    gap = 0
    while end + gap < len(text) and text[end + gap].isspace():
        gap += 1
    return gap


def _preceded_by(text: str, start: int, *words: str) -> bool:
    window = text[max(0, start - _CONTEXT_WINDOW) : start]
    return any(_CONTEXT_WORDS[word].search(window) is not None for word in words)


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


# --- Detectors ---------------------------------------------------------------------------

Span = tuple[int, int]


# Cheap checks made once per text, in C, so a pattern is only tried where it can match.
_MONTH_WORD = re.compile(rf"\b(?:{_MONTHS})\b", re.IGNORECASE)
_STREET_WORD = re.compile(rf"\b(?:{_STREET_TYPES})\b")


def _emails(text: str) -> Iterator[Span]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        start, end = match.span()
        while end > start and text[end - 1] in "-.":
            end -= 1
        top_level = text[start:end].rsplit(".", 1)[-1]
        if "." in text[text.index("@", start) : end] and _TOP_LEVEL.fullmatch(top_level):
            yield start, end


def _urls(text: str) -> Iterator[Span]:
    if "." not in text:
        return
    for match in _URL_EXPLICIT.finditer(text):
        yield _without_trailing_punctuation(text, *match.span())
    for match in _URL_BARE.finditer(text):
        domain = match[0].split("/", 1)[0].rstrip(".")
        labels = domain.split(".")
        if (
            len(labels) >= 2
            and labels[-1].lower() in _BARE_TOP_LEVEL
            and all(
                label and not label.startswith("-") and not label.endswith("-") for label in labels
            )
        ):
            yield _without_trailing_punctuation(text, *match.span())


def _without_trailing_punctuation(text: str, start: int, end: int) -> Span:
    while end > start and text[end - 1] in _URL_TRAILING_PUNCTUATION:
        end -= 1
    return start, end


def _phones(text: str) -> Iterator[Span]:
    lookups = _PHONE_LOOKUPS_PER_TEXT
    for match in _PHONE_RUN.finditer(text):
        start, end = match.span()
        if end - start > _LONGEST_WRITTEN_PHONE:
            continue
        while end > start and lookups > 0:
            end = _end_of_number(text, start, end)
            candidate = text[start:end]
            if len(_digits(candidate)) in _PHONE_DIGITS and _regions_written_for(candidate):
                lookups -= 1
                if _is_phone(candidate):
                    yield start, end
                    break
            # The run may have swallowed what follows the number ("0412 345 678 3 times"):
            # try it again without its last group.
            end = start + max(candidate.rfind(" "), candidate.rfind("-"), candidate.rfind("."), 0)


def _end_of_number(text: str, start: int, end: int) -> int:
    """Where a number written in `text[start:end]` can end: after a digit or ")", and
    not inside a longer figure ("0412345678.5")."""
    while end > start:
        while end > start and not (text[end - 1].isdigit() or text[end - 1] == ")"):
            end -= 1
        after = text[end : end + 2]
        if not (after[:1] in ".-/" and after[1:2].isdigit()):
            return end
        end -= 1
    return end


def _regions_written_for(candidate: str) -> tuple[str | None, ...]:
    """The countries whose way of writing numbers `candidate` follows, if any.

    Bare digits are some figure or other ("ref 2123 45671 1" reads as a New Zealand or
    New York number): only the ways people write phone numbers count.
    """
    if candidate.startswith("+"):
        return (None,)
    if candidate.startswith(("0", "(0")):
        return _TRUNK_ZERO_REGIONS
    if candidate.startswith(_FREE_CALL_PREFIXES):
        return ("AU",)
    if _NANP_SHAPE.fullmatch(candidate):
        return ("US",)
    return ()


def _is_phone(candidate: str) -> bool:
    # Imported at the first scan, not at start-up: phonenumbers' metadata costs the
    # process megabytes that most of its life never needs (issue 13).
    import phonenumbers

    for region in _regions_written_for(candidate):
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        # Unallocated ranges used in fiction and examples (07700 900123, 555-123-4567)
        # are still dialled numbers: a possible number in a dialled shape counts.
        reason = phonenumbers.is_possible_number_with_reason(number)
        if reason == phonenumbers.ValidationResult.IS_POSSIBLE:
            return True
    return False


def _street_addresses(text: str) -> Iterator[Span]:
    if _STREET_WORD.search(text):
        for match in _STREET.finditer(text):
            yield match.span()
    for match in _PO_BOX.finditer(text):
        yield match.span()


def _full_dates(text: str) -> Iterator[Span]:
    patterns = (*_DATE_IN_WORDS, _DATE_ISO) if _MONTH_WORD.search(text) else (_DATE_ISO,)
    for pattern in patterns:
        for match in pattern.finditer(text):
            yield match.span()
    for match in _DATE_NUMERIC.finditer(text):
        first, separator, second, year = int(match[1]), match[2], int(match[3]), match[4]
        if not (_is_day_month(first, second) or _is_day_month(second, first)):
            continue
        if len(year) == 2 and separator == "." and not _has_birth_context(text, match.start()):
            continue
        yield match.span()


def _is_day_month(day: int, month: int) -> bool:
    return 1 <= day <= 31 and 1 <= month <= 12


def _has_birth_context(text: str, start: int) -> bool:
    return _BIRTH_CONTEXT.search(text[max(0, start - _CONTEXT_WINDOW) : start]) is not None


def _health_ids(text: str) -> Iterator[Span]:
    """Health and national numbers, recognised by their checksum (python-stdnum) or by
    the name of the scheme just before them."""
    from stdnum.ca import sin  # at the first scan, like phonenumbers
    from stdnum.gb import nhs
    from stdnum.us import ssn

    for match in _MEDICARE.finditer(text):
        if _valid_medicare(_digits(match[0])) or _preceded_by(text, match.start(), "Medicare"):
            yield match.span()
    for match in _NHS.finditer(text):
        if nhs.is_valid(match[0]) or _preceded_by(text, match.start(), "NHS"):
            yield match.span()
    for match in _SSN.finditer(text):
        if ssn.is_valid(match[0]) or _preceded_by(text, match.start(), "SSN", "social"):
            yield match.span()
    for match in _SIN.finditer(text):
        if sin.is_valid(match[0]) or _preceded_by(text, match.start(), "SIN", "social"):
            yield match.span()


def _valid_medicare(digits: str) -> bool:
    """The ninth digit is a weighted checksum of the first eight (python-stdnum has no
    Australian Medicare module)."""
    if len(digits) not in (10, 11):
        return False
    checksum = sum(int(d) * w for d, w in zip(digits[:8], _MEDICARE_WEIGHTS, strict=True))
    return checksum % 10 == int(digits[8])


# Earlier detectors win where matches overlap: an email's domain is not also a URL,
# a valid NHS number written with dashes is not also a US phone number, and an ISO date
# is not a phone number either.
_DETECTORS: tuple[tuple[IdentifierKind, Callable[[str], Iterable[Span]]], ...] = (
    (IdentifierKind.EMAIL, _emails),
    (IdentifierKind.URL, _urls),
    (IdentifierKind.HEALTH_ID, _health_ids),
    (IdentifierKind.DATE_OF_BIRTH, _full_dates),
    (IdentifierKind.PHONE, _phones),
    (IdentifierKind.STREET_ADDRESS, _street_addresses),
    (IdentifierKind.NAME, _names),
)


def scan(text: str) -> list[Finding]:
    """Everything in `text` that looks identifying, in reading order, never overlapping."""
    candidates = [
        (start, -(end - start), priority, Finding(kind, start, end))
        for priority, (kind, detect) in enumerate(_DETECTORS)
        for start, end in detect(text)
    ]
    findings: list[Finding] = []
    # Candidates come by start: the kept ones never overlap, so a newcomer can only
    # overlap the last one kept (one comparison each, however many findings).
    for _, _, _, finding in sorted(candidates, key=lambda c: c[:3]):
        if not findings or findings[-1].end <= finding.start:
            findings.append(finding)
    return findings


def human_summary(findings: Iterable[Finding]) -> str:
    """The kinds found, for the nudge: 'a phone number and an email address'.

    Empty when nothing was found, so callers can test the result for truth.
    """
    kinds = list(dict.fromkeys(finding.kind for finding in findings))
    descriptions = [kind.description for kind in kinds]
    if len(descriptions) <= 1:
        return "".join(descriptions)
    return f"{', '.join(descriptions[:-1])} and {descriptions[-1]}"
