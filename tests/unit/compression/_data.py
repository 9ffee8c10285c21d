"""Tiny learnable data sets for the compression tests."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import lepton
from lepton.testing import tiny_table


def table(task: str = "classification", rows: int = 240, seed: int = 0) -> tuple[Any, Any]:
    """A table (numeric, categorical, missing values) split into train and valid."""
    return tiny_table(task, rows=rows, seed=seed).split(test_size=0.25, seed=0)


def multiclass(rows: int = 300, seed: int = 0) -> tuple[Any, Any]:
    """Four numeric columns and three classes, split into train and valid."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 4))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["label"] = np.array(["low", "mid", "high"])[np.digitize(x[:, 0] + x[:, 1], [-0.6, 0.6])]
    data = lepton.Dataset.from_pandas(frame, target="label", name="three-classes")
    return data.split(test_size=0.25, seed=0)


def bundle_files(path: Path) -> dict[str, int]:
    """File name -> zip compression type of a bundle."""
    with zipfile.ZipFile(path) as zf:
        return {info.filename: info.compress_type for info in zf.infolist()}
