"""Drift: PSI and KS on known distributions, the reference profile, and a whole report."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from lepton.monitoring import DriftReport, FeatureDrift
from lepton.monitoring._drift import (
    PSI_LIMIT,
    compare,
    psi_categorical,
    psi_numeric,
    reference_profile,
)


def test_psi_of_a_sample_against_itself_is_zero() -> None:
    values = np.random.default_rng(0).normal(size=2000)
    assert psi_numeric(values, values) == pytest.approx(0.0, abs=1e-12)
    assert psi_categorical(["a", "b", "b"], ["a", "b", "b"]) == pytest.approx(0.0, abs=1e-12)


def test_psi_is_small_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=5000)
    same = psi_numeric(reference, rng.normal(size=5000))
    half_sd = psi_numeric(reference, rng.normal(loc=0.5, size=5000))
    one_sd = psi_numeric(reference, rng.normal(loc=1.0, size=5000))
    assert same < 0.02
    assert PSI_LIMIT < half_sd < one_sd  # half a standard deviation is already drift
    assert one_sd > 0.8
    # incomes five times larger than the training incomes: everything in the top bin
    incomes = rng.lognormal(10.4, 0.45, size=1000)
    assert psi_numeric(incomes, incomes[:300] * 5) > 5


def test_psi_categorical_by_hand() -> None:
    reference = ["a"] * 50 + ["b"] * 50
    current = ["a"] * 80 + ["b"] * 20
    expected = (0.8 - 0.5) * math.log(0.8 / 0.5) + (0.2 - 0.5) * math.log(0.2 / 0.5)
    assert psi_categorical(reference, current) == pytest.approx(expected)
    # a category never seen in training stays finite (empty bins are clipped to 1e-4)
    unseen = psi_categorical(reference, ["a"] * 50 + ["c"] * 50)
    assert math.isfinite(unseen) and unseen > 1


def test_psi_numeric_of_constant_and_two_valued_features() -> None:
    constant = np.full(100, 3.0)
    assert psi_numeric(constant, np.full(50, 3.0)) == pytest.approx(0.0, abs=1e-12)
    assert psi_numeric(constant, np.full(50, 10.0)) > PSI_LIMIT
    assert psi_numeric(constant, np.full(50, 1.0)) > PSI_LIMIT
    flags = np.array([0.0] * 70 + [1.0] * 30)
    assert psi_numeric(flags, np.array([0.0] * 35 + [1.0] * 15)) == pytest.approx(0.0, abs=1e-12)
    assert psi_numeric(flags, np.array([0.0] * 10 + [1.0] * 40)) > PSI_LIMIT
    terms = np.array([12.0, 24.0, 36.0, 60.0] * 25)  # few distinct values, many ties
    assert psi_numeric(terms, np.array([12.0, 24.0, 36.0, 60.0] * 5)) == pytest.approx(
        0.0, abs=1e-12
    )
    assert psi_numeric(terms, np.full(20, 60.0)) > PSI_LIMIT


def test_feature_drift_by_psi_or_ks() -> None:
    assert FeatureDrift("x", "numeric", psi=0.25).drifted
    assert FeatureDrift("x", "numeric", psi=0.05, ks_statistic=0.3, ks_pvalue=0.001).drifted
    assert not FeatureDrift("x", "numeric", psi=0.05, ks_statistic=0.02, ks_pvalue=0.6).drifted
    assert FeatureDrift("c", "categorical", psi=0.05).to_dict() == {
        "feature": "c",
        "kind": "categorical",
        "psi": 0.05,
        "ks_statistic": None,
        "ks_pvalue": None,
        "drifted": False,
    }


def training_frame(rows: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10.4, 0.45, size=rows)
    income[rng.random(rows) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "income": income,
            "age": rng.integers(19, 76, size=rows).astype(float),
            "housing": rng.choice(["rent", "own", "mortgage"], size=rows),
            "email": [f"user{i}@example.com" for i in range(rows)],
            "notes": ["free text"] * rows,
        }
    )


TYPES = {
    "income": "numeric",
    "age": "numeric",
    "housing": "categorical",
    "email": "categorical",
    "notes": "text",
}


def test_reference_profile_keeps_a_sample_without_pii_or_text() -> None:
    frame = training_frame()
    profile = reference_profile(frame, list(TYPES), TYPES)
    assert profile["rows"] == 1500
    assert set(profile["columns"]) == {"income", "age", "housing"}  # no e-mails, no free text
    income = profile["columns"]["income"]
    assert income["type"] == "numeric" and len(income["sample"]) == 1000
    assert None in income["sample"]  # missing values stay missing, aligned with the other columns
    housing = profile["columns"]["housing"]
    assert housing["type"] == "categorical" and set(housing["sample"]) == {
        "rent",
        "own",
        "mortgage",
    }
    small = reference_profile(frame.head(50), ["age"], TYPES)
    assert len(small["columns"]["age"]["sample"]) == 50  # all rows when there are few


def samples_of(frame: pd.DataFrame, columns: list[str], predict: Any) -> list[dict[str, Any]]:
    """Sampled requests as the control plane stores them: rows in schema order + prediction."""
    rows = frame[columns].astype(object).where(frame[columns].notna(), None).values.tolist()
    return [
        {"inputs": row, "prediction": prediction}
        for row, prediction in zip(rows, predict(rows), strict=True)
    ]


def approve(rows: list[list[Any]]) -> list[str]:
    """A stand-in model: approve applicants with an income above 35,000."""
    return ["yes" if (row[0] or 0) > 35_000 else "no" for row in rows]


def test_compare_flags_the_shifted_feature_and_matches_scipy() -> None:
    columns = ["income", "age", "housing"]
    profile = reference_profile(training_frame(), columns, TYPES)
    recent = training_frame(rows=400, seed=7)
    calm = compare("svc", profile, columns, samples_of(recent, columns, approve), approve)
    shifted_frame = recent.assign(income=recent["income"] * 5)
    shifted = compare("svc", profile, columns, samples_of(shifted_frame, columns, approve), approve)

    by_name = {f.feature: f for f in shifted.features}
    assert shifted.drifted == ["income"] and calm.drifted == []
    assert shifted.features[0].feature == "income"  # sorted by PSI, largest first
    assert by_name["income"].psi > PSI_LIMIT and by_name["age"].psi < 0.1
    assert by_name["housing"].kind == "categorical" and by_name["housing"].ks_pvalue is None

    reference = [v for v in profile["columns"]["income"]["sample"] if v is not None]
    current = shifted_frame["income"].dropna().to_numpy()
    expected = ks_2samp(np.asarray(reference), current)
    assert by_name["income"].ks_statistic == pytest.approx(expected.statistic)
    assert by_name["income"].ks_pvalue == pytest.approx(expected.pvalue)

    # higher incomes change what the model answers: prediction drift
    assert shifted.prediction is not None and calm.prediction is not None
    assert shifted.prediction.psi > PSI_LIMIT > calm.prediction.psi
    report = shifted.to_dict()
    assert report["samples"] == 400 and report["max_psi"] == by_name["income"].psi
    assert report["drifted"] == ["income"] and report["prediction"]["feature"] == "prediction"


def test_compare_needs_twenty_samples() -> None:
    columns = ["income", "age", "housing"]
    profile = reference_profile(training_frame(), columns, TYPES)
    few = samples_of(training_frame(rows=19, seed=3), columns, approve)
    report = compare("svc", profile, columns, few, approve)
    assert report.features == [] and report.prediction is None
    assert "Only 19 sampled requests so far; drift needs at least 20." in report.note


def test_compare_skips_missing_values_and_unknown_columns() -> None:
    columns = ["income", "age"]
    profile = reference_profile(training_frame(), ["income", "age", "housing"], TYPES)
    samples = [{"inputs": [None, 30.0 + i], "prediction": None} for i in range(30)]
    report = compare("svc", profile, columns, samples)
    assert [f.feature for f in report.features] == ["age"]  # every income is missing
    assert report.prediction is None  # no model given


def test_report_html_escapes_names() -> None:
    report = DriftReport("<svc>", 30, [FeatureDrift("a<b", "numeric", 0.5, 0.4, 0.001)])
    html = report._repr_html_()
    assert "&lt;svc&gt;" in html and "a&lt;b" in html and "DRIFT" in html
    assert DriftReport("svc", 0).max_psi == 0.0
