"""profile(): statistics checked against pandas, and how a profile is shown."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lepton.data import Dataset, Profile


@pytest.fixture
def profile(mixed_frame: pd.DataFrame) -> Profile:
    return Dataset.from_pandas(mixed_frame, target="label", name="mixed").profile()


def test_numeric_stats_match_pandas(mixed_frame: pd.DataFrame, profile: Profile) -> None:
    for name in ("age", "income"):
        column, series = profile[name], mixed_frame[name]
        described = series.describe()
        assert column.type == "numeric"
        assert column.count == described["count"] and column.missing == series.isna().sum()
        assert column.unique == series.nunique()
        for key, pandas_key in [
            ("mean", "mean"),
            ("std", "std"),
            ("min", "min"),
            ("p25", "25%"),
            ("median", "50%"),
            ("p75", "75%"),
            ("max", "max"),
        ]:
            assert column.stats[key] == pytest.approx(described[pandas_key]), (name, key)
        assert sum(column.histogram["counts"]) == described["count"]  # type: ignore[index]
    assert profile["age"].missing == 2 and profile["age"].missing_fraction == pytest.approx(2 / 12)


def test_categorical_top_values(mixed_frame: pd.DataFrame, profile: Profile) -> None:
    city = profile["city"]
    assert city.top == [(v, int(c)) for v, c in mixed_frame["city"].value_counts().items()]
    assert city.missing == 2 and city.unique == 3
    assert profile["member"].top == [(True, 6), (False, 6)] or profile["member"].top == [
        (False, 6),
        (True, 6),
    ]


def test_datetime_and_text(mixed_frame: pd.DataFrame, profile: Profile) -> None:
    assert profile["joined"].stats == {
        "min": "2021-01-01 00:00:00",
        "max": str(pd.Timestamp(mixed_frame["joined"].max())),
    }
    lengths = mixed_frame["bio"].str.len()
    assert profile["bio"].stats["mean_length"] == pytest.approx(lengths.mean())
    assert profile["bio"].stats["mean_words"] == pytest.approx(8.0)


def test_dataset_facts(profile: Profile) -> None:
    assert (profile.rows, profile.target, profile.task, len(profile)) == (
        12,
        "label",
        "classification",
        7,
    )


def test_round_trip_is_json(profile: Profile) -> None:
    data = json.loads(json.dumps(profile.to_dict(), allow_nan=False))
    again = Profile.from_dict(data)
    assert again.to_dict() == profile.to_dict()


def test_all_missing_numeric_column_is_json_safe() -> None:
    frame = pd.DataFrame({"a": [np.nan, np.nan], "b": [np.inf, 1.0]})
    data = Dataset.from_pandas(frame).profile().to_dict()
    json.dumps(data, allow_nan=False)
    assert data["columns"][0]["missing"] == 2 and data["columns"][0]["histogram"] is None
    assert (
        data["columns"][1]["stats"]["infinite"] == 1 and data["columns"][1]["stats"]["max"] == 1.0
    )


def test_shown_in_terminal_and_jupyter(profile: Profile) -> None:
    text = profile.summary()
    assert text.startswith("Profile of mixed: 12 rows, 7 columns")
    assert "label (target)" in text and "paris (4)" in text
    page = profile._repr_html_()
    assert page.count("<tr>") == 8 and "background:#4c78a8" in page
    table = profile.__rich__()
    assert table.row_count == 7
    assert repr(profile) == "Profile(dataset='mixed', rows=12, columns=7)"


def test_personal_data_is_not_shown_as_top_values() -> None:
    frame = pd.DataFrame({"email": ["ann@example.com", "bob@example.org"] * 3})
    column = Dataset.from_pandas(frame).profile()["email"]
    assert column.top is None and column.pii == ["email"]
    assert "ann@example.com" not in json.dumps(column.to_dict())
    assert column.distribution() == "(hidden: email)"
