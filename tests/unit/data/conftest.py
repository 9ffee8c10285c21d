"""Tiny generated data for the data-layer tests: tables, image folders, label tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image


def write_image(path: Path, size: tuple[int, int] = (12, 10), seed: int = 0) -> Path:
    """A small random RGB PNG (width, height) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def mixed_frame() -> pd.DataFrame:
    """Twelve rows of every column type, with missing values."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "age": [23, 35, np.nan, 41, 52, 29, 33, 61, 45, 38, np.nan, 27],
            "income": rng.normal(50_000, 10_000, 12).round(2),
            "city": ["paris", "rome", "paris", None, "oslo", "rome"] * 2,
            "member": [True, False, True, True, False, False] * 2,
            "joined": pd.date_range("2021-01-01", periods=12, freq="35D").strftime("%Y-%m-%d"),
            "bio": [f"likes long walks number {i} near the river" for i in range(12)],
            "label": ["a", "b"] * 6,
        }
    )


@pytest.fixture
def make_images(tmp_path: Path) -> Callable[..., Path]:
    """make_images(layout="folders"|"table", per_class=3) -> the images folder."""

    def make(layout: str = "folders", per_class: int = 3, name: str = "imgs") -> Path:
        root = tmp_path / name
        rows = []
        for c, label in enumerate(("cat", "dog")):
            for i in range(per_class):
                if layout == "folders":
                    write_image(root / label / f"{i}.png", seed=c * 100 + i)
                else:
                    write_image(root / f"{label}_{i}.png", seed=c * 100 + i)
                    rows.append((f"{label}_{i}.png", label))
        if layout == "table":
            pd.DataFrame(rows, columns=["filename", "label"]).to_csv(
                tmp_path / f"{name}.csv", index=False
            )
        return root

    return make
