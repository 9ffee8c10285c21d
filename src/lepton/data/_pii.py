"""Finding personal data in a table: e-mails, phone numbers, card numbers, IBANs, national IDs.

Card numbers must pass the Luhn check and IBANs the ISO 7064 mod-97 check, so random digit
strings are not reported. Reports hold counts and *masked* examples only: no output of this
module (dict, repr, HTML, terminal) ever contains a value as found in the data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from lepton.data._render import html_table, plain_table, rich_table

_MAX_EXAMPLES = 3


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum of a card number (digits only)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(compact: str) -> bool:
    """The ISO 13616 check of an IBAN (no spaces): mod 97 of the rearranged number is 1."""
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _card_ok(match: str) -> bool:
    digits = re.sub(r"\D", "", match)
    return 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_ok(digits)


def _phone_ok(match: str) -> bool:
    return 8 <= len(re.sub(r"\D", "", match)) <= 15


def mask(text: str, keep_start: int = 0, keep_end: int = 0) -> str:
    """``text`` with letters and digits replaced by '*', except the first ``keep_start`` and
    the last ``keep_end`` of them; separators stay so the shape remains readable."""
    positions = [i for i, ch in enumerate(text) if ch.isalnum()]
    # never keep so much that the value could be read back
    keep_start = min(keep_start, len(positions) // 4)
    keep_end = min(keep_end, len(positions) // 3)
    hidden = set(positions[keep_start : len(positions) - keep_end])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(text))


def _mask_email(match: str) -> str:
    local, _, domain = match.partition("@")
    host, _, tld = domain.rpartition(".")
    return f"{local[:1]}{'*' * max(len(local) - 1, 1)}@{'*' * len(host)}.{tld}"


@dataclass(frozen=True)
class _Detector:
    kind: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool]
    masked: Callable[[str], str]


_DETECTORS = (
    _Detector(
        "email",
        re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
        lambda m: True,
        _mask_email,
    ),
    _Detector(
        "credit_card",
        re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"),
        _card_ok,
        lambda m: mask(m, keep_end=4),
    ),
    _Detector(
        "iban",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
        lambda m: iban_ok(m.replace(" ", "")),
        lambda m: mask(m, keep_start=2, keep_end=2),
    ),
    _Detector(
        "us_ssn",
        re.compile(r"(?<![\w-])(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?![\w-])"),
        lambda m: True,
        lambda m: mask(m, keep_end=4),
    ),
    _Detector(
        "uk_nino",
        re.compile(
            r"\b(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]"
            r" ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"
        ),
        lambda m: True,
        lambda m: mask(m, keep_start=2),
    ),
    _Detector(
        "phone",
        re.compile(
            r"(?<![\w+])(?:\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,5}"  # +44 20 7946 0958
            r"|(?:\(\d{3}\) ?|\d{3}[.-])\d{3}[.-]\d{4}"  # (555) 123-4567, 555-123-4567
            r"|0\d{2,4} \d{3,4} \d{3,4})(?![\w-])"  # 020 7946 0958
        ),
        _phone_ok,
        lambda m: mask(m, keep_end=2),
    ),
)
PII_KINDS = tuple(d.kind for d in _DETECTORS)


@dataclass(frozen=True)
class PIIFinding:
    """Values of one kind of personal data found in one column."""

    column: str
    kind: str
    count: int  # rows holding at least one such value
    rows: int  # non-missing rows scanned
    examples: list[str] = field(default_factory=list)  # masked

    @property
    def fraction(self) -> float:
        return self.count / self.rows if self.rows else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fraction": round(self.fraction, 4)}


def _scannable(series: pd.Series) -> bool:
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype) or ptypes.is_float_dtype(dtype):
        return False
    return not ptypes.is_datetime64_any_dtype(dtype)


def scan_column(name: str, series: pd.Series) -> list[PIIFinding]:
    """Findings of every kind in one column (an integer column is scanned for card numbers)."""
    if not _scannable(series):
        return []
    values = series.dropna()
    if values.empty:
        return []
    strings = values.astype(str)
    findings = []
    for detector in _DETECTORS:
        candidates = strings[strings.str.contains(detector.pattern, regex=True)]
        count, examples = 0, list[str]()
        for text in candidates:
            hits = [m for m in detector.pattern.findall(text) if detector.valid(m)]
            if hits:
                count += 1
                shown = detector.masked(hits[0])
                if len(examples) < _MAX_EXAMPLES and shown not in examples:
                    examples.append(shown)
        if count:
            findings.append(PIIFinding(name, detector.kind, count, len(values), examples))
    return findings


class PIIReport:
    """Columns that hold personal data, with counts and masked examples."""

    def __init__(self, dataset: str, rows: int, findings: Iterable[PIIFinding]) -> None:
        self.dataset = dataset
        self.rows = rows
        self.findings = list(findings)

    @property
    def columns(self) -> list[str]:
        """The columns with at least one finding, in order."""
        return list(dict.fromkeys(f.column for f in self.findings))

    @property
    def has_pii(self) -> bool:
        return bool(self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "columns": self.columns,
            "findings": [f.to_dict() for f in self.findings],
        }

    def _rows(self) -> list[tuple[Any, ...]]:
        return [
            (f.column, f.kind, f.count, f"{f.fraction:.0%}", ", ".join(f.examples))
            for f in self.findings
        ]

    _COLUMNS = ("column", "kind", "rows", "share", "examples (masked)")

    def summary(self) -> str:
        if not self.findings:
            return f"No personal data found in {self.dataset!r} ({self.rows} rows scanned)."
        head = (
            f"Personal data in {self.dataset!r}: {len(self.columns)} column(s) of "
            f"{self.rows} rows scanned."
        )
        return head + "\n" + plain_table(self._COLUMNS, self._rows())

    def __repr__(self) -> str:
        kinds = ", ".join(f"{f.column}:{f.kind}={f.count}" for f in self.findings) or "none"
        return f"PIIReport(dataset={self.dataset!r}, rows={self.rows}, findings=[{kinds}])"

    def _repr_html_(self) -> str:
        if not self.findings:
            return f"<p>{self.summary()}</p>"
        return html_table(f"Personal data in {self.dataset}", self._COLUMNS, self._rows())

    def __rich__(self) -> Any:
        if not self.findings:
            return self.summary()
        return rich_table(f"Personal data in {self.dataset}", self._COLUMNS, self._rows())


def scan_frame(frame: pd.DataFrame, dataset: str) -> PIIReport:
    findings = []
    for name in frame.columns:
        findings.extend(scan_column(str(name), frame[name]))
    return PIIReport(dataset, len(frame), findings)


def mask_text(text: str) -> str:
    """``text`` with every e-mail, card, IBAN, national id and phone number masked."""
    for detector in _DETECTORS:

        def replace(match: re.Match[str], d: _Detector = detector) -> str:
            found = match.group(0)
            return d.masked(found) if d.valid(found) else found

        text = detector.pattern.sub(replace, text)
    return text
