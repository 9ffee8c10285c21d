"""split(): reproducible for a seed, stratified by class, with clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lepton.data import Dataset
from lepton.errors import DataError, InvalidParameterError


@pytest.fixture
def unbalanced() -> Dataset:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"x": rng.normal(size=100), "y": ["rare"] * 10 + ["common"] * 90})
    return Dataset.from_pandas(frame, target="y", name="u")


def test_same_seed_same_split(unbalanced: Dataset) -> None:
    a_train, a_test = unbalanced.split(0.3, seed=7)
    b_train, b_test = unbalanced.split(0.3, seed=7)
    assert a_train.frame.equals(b_train.frame) and a_test.frame.equals(b_test.frame)
    assert a_train.version == b_train.version
    c_train, _ = unbalanced.split(0.3, seed=8)
    assert not a_train.frame.equals(c_train.frame)


def test_parts_are_disjoint_and_complete(unbalanced: Dataset) -> None:
    train, test = unbalanced.split(0.25)
    assert (train.name, test.name) == ("u-train", "u-test")
    assert (len(train), len(test)) == (75, 25)
    together = pd.concat([train.frame, test.frame]).sort_values("x")
    assert together["x"].tolist() == sorted(unbalanced.frame["x"])
    assert train.schema == unbalanced.schema and train.target == "y"


def test_stratified_keeps_class_shares(unbalanced: Dataset) -> None:
    for seed in range(5):
        _, test = unbalanced.split(0.2, seed=seed)
        assert (test.frame["y"] == "rare").sum() == 2


def test_integer_test_size(unbalanced: Dataset) -> None:
    _, test = unbalanced.split(10)
    assert len(test) == 10


def test_regression_is_not_stratified() -> None:
    frame = pd.DataFrame({"x": range(50), "y": np.linspace(0, 1, 50)})
    train, test = Dataset.from_pandas(frame, target="y").split(0.2)
    assert (len(train), len(test)) == (40, 10)


def test_unstratified_split_allows_single_row_classes() -> None:
    frame = pd.DataFrame({"x": range(10), "y": ["a"] * 9 + ["b"]})
    data = Dataset.from_pandas(frame, target="y")
    with pytest.raises(DataError, match=r"Class\(es\) b of target 'y' have a single row"):
        data.split(0.3)
    train, test = data.split(0.3, stratify=False)
    assert len(train) + len(test) == 10


def test_stratified_split_of_one_class() -> None:
    data = Dataset.from_pandas(pd.DataFrame({"x": range(6), "y": ["a"] * 6}), target="y")
    with pytest.raises(DataError, match=r"holds a single class .* needs at least\s+two classes"):
        data.split()


def test_stratified_split_with_nan_target() -> None:
    data = Dataset.from_pandas(pd.DataFrame({"x": range(6), "y": ["a", "b", None] * 2}), target="y")
    with pytest.raises(DataError, match=r"missing value\(s\) \(NaN\) at rows 2, 5"):
        data.split()


def test_test_part_too_small_for_every_class() -> None:
    data = Dataset.from_pandas(pd.DataFrame({"x": range(9), "y": list("aaabbbccc")}), target="y")
    with pytest.raises(DataError, match=r"needs at least 3 rows on each side.*gives 1 test"):
        data.split(0.1)


@pytest.mark.parametrize("size", [0, 1.0, 1.5, -0.2, 100, True, "0.2"])
def test_bad_test_size(unbalanced: Dataset, size: object) -> None:
    with pytest.raises(InvalidParameterError, match=r"test_size must be a fraction in \(0, 1\)"):
        unbalanced.split(size)  # type: ignore[arg-type]


def test_one_row_cannot_be_split() -> None:
    with pytest.raises(DataError, match="a split needs at least 2 rows"):
        Dataset.from_pandas(pd.DataFrame({"x": [1]})).split()
