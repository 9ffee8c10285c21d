"""Bad input gives a DataError that says what was found, what was expected and the fix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lepton.data import Dataset
from lepton.errors import DataError, LeptonError


def test_data_error_is_a_lepton_value_error() -> None:
    assert issubclass(DataError, LeptonError) and issubclass(DataError, ValueError)


def test_missing_target_column_suggests_the_close_one(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("age,label\n1,a\n")
    with pytest.raises(
        DataError,
        match=r"Target column 'lable' is not in the data; its columns are age, label\. "
        r"Did you mean 'label'\? Pass target=",
    ):
        Dataset.from_csv(tmp_path / "d.csv", target="lable")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"'.*nope\.csv' does not exist"):
        Dataset.from_csv(tmp_path / "nope.csv")


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match=r"is empty \(0 bytes\); expected a table with a header"):
        Dataset.from_csv(tmp_path / "empty.csv")


def test_blank_lines_only(tmp_path: Path) -> None:
    (tmp_path / "blank.csv").write_text("\n\n")
    with pytest.raises(DataError, match="holds no columns"):
        Dataset.from_csv(tmp_path / "blank.csv")


def test_header_without_rows(tmp_path: Path) -> None:
    (tmp_path / "head.csv").write_text("a,b\n")
    with pytest.raises(DataError, match=r"has a header \(a, b\) but no rows"):
        Dataset.from_csv(tmp_path / "head.csv")


def test_empty_frame() -> None:
    with pytest.raises(DataError, match="has a header .* but no rows"):
        Dataset.from_pandas(pd.DataFrame({"a": []}))


def test_unknown_suffix(tmp_path: Path) -> None:
    (tmp_path / "d.xlsx").write_text("a\n1\n")
    with pytest.raises(DataError, match=r"Cannot tell the format of 'd.xlsx'.*\.csv"):
        Dataset("d", tmp_path / "d.xlsx")


def test_unparseable_parquet(tmp_path: Path) -> None:
    (tmp_path / "d.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"Cannot read 'd.parquet' as parquet"):
        Dataset.from_parquet(tmp_path / "d.parquet")


def test_duplicate_columns() -> None:
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataError, match=r"Column name\(s\) 'a' appear more than once"):
        Dataset.from_pandas(frame)


def test_missing_text_column() -> None:
    with pytest.raises(DataError, match=r"Text column 'text' is not in the data.*review"):
        Dataset.from_texts(pd.DataFrame({"review": ["x"]}))


def test_check_trainable_without_target() -> None:
    with pytest.raises(DataError, match=r"has no target column.*Pass target="):
        Dataset.from_pandas(pd.DataFrame({"a": [1, 2]})).check_trainable()


def test_check_trainable_nan_in_target() -> None:
    frame = pd.DataFrame({"x": range(6), "y": [1.0, np.nan, 0.0, 1.0, np.nan, 0.0]})
    with pytest.raises(
        DataError,
        match=r"Target column 'y' .* has 2 missing value\(s\) \(NaN\) at rows 1, 4.*dropna",
    ):
        Dataset.from_pandas(frame, target="y").check_trainable()


def test_check_trainable_one_class() -> None:
    frame = pd.DataFrame({"x": range(4), "y": ["spam"] * 4})
    with pytest.raises(
        DataError, match=r"holds a single class \('spam' in all 4 rows\); a classifier needs"
    ):
        Dataset.from_pandas(frame, target="y").check_trainable()


def test_check_trainable_passes(mixed_frame: pd.DataFrame) -> None:
    Dataset.from_pandas(mixed_frame, target="label").check_trainable()
    Dataset.from_pandas(mixed_frame, target="income").check_trainable()  # regression
