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


class IdentifierKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    STREET_ADDRESS = "street_address"
    DATE_OF_BIRTH = "date_of_birth"
    HEALTH_ID = "health_id"
    URL = "url"

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
}


@dataclass(frozen=True)
class Finding:
    """Where something identifying was found: `text[start:end]`."""

    kind: IdentifierKind
    start: int
    end: int


# --- Patterns ----------------------------------------------------------------------------

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")

_URL_TRAILING_PUNCTUATION = ".,;:!?)]}'\""
_URL_EXPLICIT = re.compile(r"\b(?:https?://|www\.)\S+", re.IGNORECASE)
# Bare domains only with a real top-level domain, so "e.g." or "Dr.Smith" never match.
_URL_BARE = re.compile(
    r"(?<![@\w.])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+"
    r"(?:com|org|net|edu|gov|info|biz|io|health|au|nz|uk|ca|us|ie)\b(?:/\S*)?",
    re.IGNORECASE,
)

# A number ends at a space or a full stop, not inside a longer figure ("0412345678.5").
_END = r"(?![\w/]|[.-]\d)"

_PHONE_PATTERNS = tuple(
    re.compile(pattern + _END)
    for pattern in (
        # International: +61 412 345 678, +44 (0)20 7946 0018, +1 555 123 4567.
        r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(0\))?(?:[ .-]?\(?\d+\)?){2,6}",
        # Australian mobile: 0412 345 678.
        r"(?<![\w/.])04\d{2}[ -]?\d{3}[ -]?\d{3}",
        # Australian landline: (02) 9876 5432, 08 8123 4567.
        r"(?:\(0[2378]\)|(?<![\w/.])0[2378])[ -]?\d{4}[ -]?\d{4}",
        # Australian 1300 / 1800 numbers.
        r"(?<![\w/.])1[38]00[ -]?\d{3}[ -]?\d{3}",
        # UK mobile: 07700 900123, 07700 900 123.
        r"(?<![\w/.])07\d{3}[ -]?\d{3}[ -]?\d{3}",
        # UK landline: 020 7946 0018, 01632 960123, 0161 496 0000.
        r"(?<![\w/.])0[12]\d{1,3}[ -]?\d{3,4}[ -]?\d{3,4}",
        # US: (555) 123-4567, 555-123-4567, 555.123.4567.
        r"(?<![\w/.])(?:\(\d{3}\) ?|\d{3}[-.])\d{3}[-.]\d{4}",
    )
)
_PHONE_DIGITS = range(9, 16)

_STREET_TYPES = (
    "Street|St|Road|Rd|Avenue|Ave|Drive|Dr|Lane|Ln|Crescent|Cres|Court|Ct|Place|Pl|"
    "Parade|Pde|Terrace|Tce|Way|Highway|Hwy|Boulevard|Blvd|Close|Grove|Square|"
    "Esplanade|Circuit|Cct|Track"
)
# A number, one to three capitalised words, then a street type: "12 Banksia Cres",
# "2/15 Smith St". Requiring capitals keeps "500 mg bd by Dr Smith" out.
_STREET = re.compile(
    r"(?<![\w/.])(?:\d{1,5}[A-Za-z]?/)?\d{1,5}[A-Za-z]?,?\s+"
    r"(?:[A-Z][A-Za-z'’-]+\s+){1,3}"
    rf"(?:{_STREET_TYPES})\b\.?",
)
_PO_BOX = re.compile(r"\b(?:PO|P\.O\.)\s?Box\s+\d+\b", re.IGNORECASE)

_MONTHS = (
    "Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    "Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_DATE_IN_WORDS = (
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?(?:{_MONTHS})\.?,?\s+(?:19|20)\d{{2}}\b", re.I),
    re.compile(rf"\b(?:{_MONTHS})\.?\s+{_DAY},?\s+(?:19|20)\d{{2}}\b", re.I),
)
_DATE_ISO = re.compile(r"(?<![\w/.-])(?:19|20)\d{2}-(?:0?[1-9]|1[0-2])-(?:0?[1-9]|[12]\d|3[01])\b")
_DATE_NUMERIC = re.compile(r"(?<![\w/.:-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\w/:-]|\.\d)")
# With only two digits for the year, "12.03.61" is a date only where a birth is named.
_BIRTH_CONTEXT = re.compile(r"\b(?:DOB|D\.O\.B\.?|born|birth)\b\W*$", re.IGNORECASE)

_MEDICARE = re.compile(rf"(?<![\w/.-])[2-6]\d{{3}} ?\d{{5}} ?\d(?:[ /-]?\d)?{_END}")
_MEDICARE_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9)
_NHS = re.compile(rf"(?<![\w/.-])[1-9]\d{{2}}[ -]?\d{{3}}[ -]?\d{{4}}{_END}")
_SSN = re.compile(rf"(?<![\w/.-])(\d{{3}})-(\d{{2}})-(\d{{4}}){_END}")
_CONTEXT_WINDOW = 25


def _preceded_by(text: str, start: int, word: str) -> bool:
    window = text[max(0, start - _CONTEXT_WINDOW) : start]
    return re.search(rf"\b{word}\b", window, re.IGNORECASE) is not None


def _digits(text: str) -> str:
    return "".join(char for char in text if char.isdigit())


# --- Detectors ---------------------------------------------------------------------------

Span = tuple[int, int]


def _emails(text: str) -> Iterator[Span]:
    for match in _EMAIL.finditer(text):
        yield match.span()


def _urls(text: str) -> Iterator[Span]:
    for match in (*_URL_EXPLICIT.finditer(text), *_URL_BARE.finditer(text)):
        start, end = match.span()
        while end > start and text[end - 1] in _URL_TRAILING_PUNCTUATION:
            end -= 1
        yield start, end


def _phones(text: str) -> Iterator[Span]:
    for pattern in _PHONE_PATTERNS:
        for match in pattern.finditer(text):
            if len(_digits(match[0])) in _PHONE_DIGITS:
                yield match.span()


def _street_addresses(text: str) -> Iterator[Span]:
    for pattern in (_STREET, _PO_BOX):
        for match in pattern.finditer(text):
            yield match.span()


def _full_dates(text: str) -> Iterator[Span]:
    for pattern in (*_DATE_IN_WORDS, _DATE_ISO):
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
    for match in _MEDICARE.finditer(text):
        if _valid_medicare(_digits(match[0])) or _preceded_by(text, match.start(), "Medicare"):
            yield match.span()
    for match in _NHS.finditer(text):
        if _valid_nhs(_digits(match[0])) or _preceded_by(text, match.start(), "NHS"):
            yield match.span()
    for match in _SSN.finditer(text):
        area, group, serial = match[1], match[2], match[3]
        if area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000":
            yield match.span()


def _valid_medicare(digits: str) -> bool:
    """The ninth digit is a weighted checksum of the first eight."""
    if len(digits) not in (10, 11):
        return False
    checksum = sum(int(d) * w for d, w in zip(digits[:8], _MEDICARE_WEIGHTS, strict=True))
    return checksum % 10 == int(digits[8])


def _valid_nhs(digits: str) -> bool:
    """Modulus 11 over the first nine digits, weighted 10 down to 2."""
    if len(digits) != 10:
        return False
    remainder = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    check = 11 - remainder
    if check == 10:
        return False
    return (0 if check == 11 else check) == int(digits[9])


# Earlier detectors win where matches overlap: an email's domain is not also a URL,
# and a valid NHS number written with dashes is not also a US phone number.
_DETECTORS: tuple[tuple[IdentifierKind, Callable[[str], Iterable[Span]]], ...] = (
    (IdentifierKind.EMAIL, _emails),
    (IdentifierKind.URL, _urls),
    (IdentifierKind.HEALTH_ID, _health_ids),
    (IdentifierKind.PHONE, _phones),
    (IdentifierKind.DATE_OF_BIRTH, _full_dates),
    (IdentifierKind.STREET_ADDRESS, _street_addresses),
)


def scan(text: str) -> list[Finding]:
    """Everything in `text` that looks identifying, in reading order, never overlapping."""
    candidates = [
        (start, -(end - start), priority, Finding(kind, start, end))
        for priority, (kind, detect) in enumerate(_DETECTORS)
        for start, end in detect(text)
    ]
    findings: list[Finding] = []
    for _, _, _, finding in sorted(candidates, key=lambda c: c[:3]):
        if not any(finding.start < kept.end and kept.start < finding.end for kept in findings):
            findings.append(finding)
    return sorted(findings, key=lambda f: f.start)


def human_summary(findings: Iterable[Finding]) -> str:
    """The kinds found, for the nudge: 'a phone number and an email address'.

    Empty when nothing was found, so callers can test the result for truth.
    """
    kinds = list(dict.fromkeys(finding.kind for finding in findings))
    descriptions = [kind.description for kind in kinds]
    if len(descriptions) <= 1:
        return "".join(descriptions)
    return f"{', '.join(descriptions[:-1])} and {descriptions[-1]}"
