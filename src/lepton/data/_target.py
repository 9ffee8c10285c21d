"""Checks on a dataset's target, and splits that respect it (stratified by class)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton.data._images import IMAGE_COLUMN, unreadable_images
from lepton.errors import DataError, InvalidParameterError

if TYPE_CHECKING:
    from lepton.data._dataset import Dataset

_SHOWN = 5


def _shown(values: list[Any]) -> str:
    text = ", ".join(map(str, values[:_SHOWN]))
    return text + (f" and {len(values) - _SHOWN} more" if len(values) > _SHOWN else "")


def check_target_values(dataset: Dataset, purpose: str) -> None:
    """The target exists, has no missing values and (classification) at least two classes."""
    target = dataset.target
    if target is None:
        raise DataError(
            f"Dataset {dataset.name!r} has no target column, so it cannot be used to "
            f"{purpose}. Pass target= the column to predict (columns: "
            f"{', '.join(dataset.frame.columns)})."
        )
    values = dataset.frame[target]
    missing = values.isna()
    if missing.any():
        rows = [int(i) for i in np.flatnonzero(missing.to_numpy())]
        raise DataError(
            f"Target column {target!r} of {dataset.name!r} has {len(rows)} missing value(s) "
            f"(NaN) at rows {_shown(rows)}; every row needs a target to {purpose}. Drop those "
            f"rows first, e.g. Dataset.from_pandas(ds.to_pandas().dropna(subset=[{target!r}]), "
            f"target={target!r}), or fill them in."
        )
    if dataset.task == "classification" and len(dataset.classes) < 2:
        raise DataError(
            f"Target column {target!r} of {dataset.name!r} holds a single class "
            f"({dataset.classes[0]!r} in all {len(values)} rows); a classifier needs at least "
            "two classes. Check that the data was not filtered to one class, or choose "
            "another target."
        )


def check_trainable(dataset: Dataset) -> None:
    """Raise DataError, saying why, when a model cannot be trained on ``dataset``."""
    if len(dataset) == 0:
        raise DataError(f"Dataset {dataset.name!r} has no rows; a model needs data to train on.")
    check_target_values(dataset, "train a model")
    if dataset.kind == "images":
        bad = unreadable_images(list(dataset.frame[IMAGE_COLUMN]))
        if bad:
            details = "; ".join(f"{path} ({reason})" for path, reason in bad[:_SHOWN])
            more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
            raise DataError(
                f"{len(bad)} image file(s) of {dataset.name!r} cannot be read as images: "
                f"{details}{more}. Replace or remove them (and their rows in the label table)."
            )


def _test_count(test_size: float | int, rows: int) -> int:
    if isinstance(test_size, bool) or not isinstance(test_size, int | float):
        count = -1
    elif isinstance(test_size, int):
        count = test_size
    else:
        count = math.ceil(test_size * rows) if 0 < test_size < 1 else -1
    if not 1 <= count <= rows - 1:
        raise InvalidParameterError(
            f"test_size must be a fraction in (0, 1) or a row count in [1, {rows - 1}] that "
            f"leaves rows on both sides of a {rows}-row dataset, got {test_size!r}."
        )
    return count


def split_rows(
    dataset: Dataset, test_size: float | int, *, stratify: bool, seed: int
) -> tuple[list[int], list[int]]:
    """Row positions of the train and test parts."""
    rows = len(dataset)
    if rows < 2:
        raise DataError(f"Dataset {dataset.name!r} has {rows} row; a split needs at least 2 rows.")
    n_test = _test_count(test_size, rows)
    labels = None
    if stratify and dataset.task == "classification":
        check_target_values(dataset, "split it stratified by class")
        labels = dataset.frame[str(dataset.target)].astype(str).to_numpy()
        counts = dataset.frame[str(dataset.target)].value_counts()
        rare = [str(c) for c, n in counts.items() if n < 2]
        if rare:
            raise DataError(
                f"Class(es) {_shown(rare)} of target {dataset.target!r} have a single row; a "
                "stratified split needs at least 2 rows of each class (one per side). Add "
                "rows, drop those classes, or pass stratify=False."
            )
        classes = len(counts)
        if n_test < classes or rows - n_test < classes:
            raise DataError(
                f"A stratified split of {rows} rows with {classes} classes needs at least "
                f"{classes} rows on each side, but test_size={test_size!r} gives {n_test} test "
                f"and {rows - n_test} train rows. Change test_size or pass stratify=False."
            )
    from sklearn.model_selection import train_test_split

    train, test = train_test_split(
        np.arange(rows), test_size=n_test, random_state=seed, stratify=labels
    )
    return sorted(int(i) for i in train), sorted(int(i) for i in test)
