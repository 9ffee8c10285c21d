"""scan_pii(): what it finds (checksums included) and that it never shows a raw value."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from rich.console import Console

from lepton.data import Dataset
from lepton.data._pii import iban_ok, luhn_ok, mask

VALID_CARDS = ["4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005"]
INVALID_CARDS = ["4111 1111 1111 1112", "1234 5678 9012 3456"]
VALID_IBANS = ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"]
INVALID_IBANS = ["GB82WEST12345698765433", "DE00370400440532013000"]
EMAILS = ["john.smith@example.com", "a.b+tag@mail.co.uk"]
PHONES = ["+44 20 7946 0958", "(555) 123-4567", "555.867.5309"]
SSNS = ["123-45-6789", "078-05-1120"]
NINOS = ["AB 12 34 56 C", "JG103759A"]
RAW = VALID_CARDS + VALID_IBANS + EMAILS + PHONES + SSNS + NINOS


@pytest.fixture
def data() -> Dataset:
    frame = pd.DataFrame(
        {
            "card": [*VALID_CARDS, *INVALID_CARDS, None],
            "iban": [*VALID_IBANS, *INVALID_IBANS, "n/a", None],
            "email": [*EMAILS, "no email", "x@", "", None],
            "phone": [*PHONES, "2024-01-05", "1 000 000", None],
            "note": [f"call me: {SSNS[0]}", f"ssn {SSNS[1]}", NINOS[0], NINOS[1], "ok", "fine"],
            "amount": [10.5, 3.0, 4.0, 5.0, 1.0, 2.0],
            "day": ["2024-01-05", "2023-02-01", "2022-03-04", "2021-05-06", "2020-01-01", None],
        }
    )
    return Dataset.from_pandas(frame, name="people")


def found(report, column: str) -> dict[str, int]:
    return {f.kind: f.count for f in report.findings if f.column == column}


def test_checksums() -> None:
    assert all(luhn_ok(c.replace(" ", "").replace("-", "")) for c in VALID_CARDS)
    assert not any(luhn_ok(c.replace(" ", "")) for c in INVALID_CARDS)
    assert all(iban_ok(i.replace(" ", "")) for i in VALID_IBANS)
    assert not any(iban_ok(i) for i in INVALID_IBANS)


def test_findings(data: Dataset) -> None:
    report = data.scan_pii()
    assert found(report, "card") == {"credit_card": 3}
    assert found(report, "iban") == {"iban": 2}
    assert found(report, "email") == {"email": 2}
    assert found(report, "phone") == {"phone": 3}
    assert found(report, "note") == {"us_ssn": 2, "uk_nino": 2}
    assert found(report, "amount") == found(report, "day") == {}
    assert report.columns == ["card", "iban", "email", "phone", "note"] and report.has_pii
    email = next(f for f in report.findings if f.kind == "email")
    assert email.rows == 5 and email.fraction == pytest.approx(0.4)


def test_card_numbers_in_an_integer_column() -> None:
    frame = pd.DataFrame({"n": [4111111111111111, 4111111111111112, 42]})
    assert found(Dataset.from_pandas(frame).scan_pii(), "n") == {"credit_card": 1}


def test_examples_are_masked(data: Dataset) -> None:
    report = data.scan_pii()
    card = next(f for f in report.findings if f.kind == "credit_card")
    assert card.examples[0] == "**** **** **** 1111"
    email = next(f for f in report.findings if f.kind == "email")
    assert email.examples[0] == "j*********@*******.com"
    assert all("*" in e for f in report.findings for e in f.examples)


def test_no_output_holds_a_raw_value(data: Dataset) -> None:
    report = data.scan_pii()
    console = Console(record=True, width=300)
    console.print(report)
    outputs = [
        json.dumps(report.to_dict()),
        repr(report),
        report._repr_html_(),
        report.summary(),
        console.export_text(),
        json.dumps(data.profile().to_dict()),
    ]
    for output in outputs:
        for raw in RAW:
            assert raw not in output, (raw, output[:200])
            assert raw.replace(" ", "") not in output.replace(" ", "")


def test_nothing_found() -> None:
    report = Dataset.from_pandas(pd.DataFrame({"a": ["x", "y"]}), name="clean").scan_pii()
    assert not report.has_pii and report.findings == []
    assert report.summary() == "No personal data found in 'clean' (2 rows scanned)."
    assert "No personal data" in report._repr_html_()


def test_mask_never_keeps_most_of_a_short_value() -> None:
    assert mask("1234", keep_end=4) == "***4"
    assert mask("ab-cd", keep_start=2) == "a*-**"
