"""Tiny generated data sets, so any model can be exercised without downloads."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def tiny_table(task: str = "classification", rows: int = 120, seed: int = 0) -> Any:
    """A small table with numeric, categorical and missing values, and a learnable target."""
    import pandas as pd

    from lepton.data import Dataset

    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
    color = rng.choice(["red", "green", "blue"], size=rows)
    score = 2 * x1 - x2 + (color == "red") * 1.5
    frame = pd.DataFrame({"x1": x1, "x2": x2, "color": color})
    frame.loc[rng.choice(rows, size=rows // 10, replace=False), "x2"] = np.nan
    if task == "classification":
        frame["label"] = np.where(score > 0, "yes", "no")
    else:
        frame["label"] = score + rng.normal(scale=0.1, size=rows)
    return Dataset.from_pandas(frame, target="label", name=f"tiny-{task}")


def tiny_images(
    folder: str | Path | None = None,
    per_class: int = 12,
    size: int = 16,
    classes: int = 2,
    seed: int = 0,
) -> Any:
    """PNG files in class sub-folders: class k is a bright square in a different corner."""
    from PIL import Image

    from lepton.data import Dataset

    root = Path(folder or tempfile.mkdtemp(prefix="lepton-tiny-images-"))
    rng = np.random.default_rng(seed)
    half = size // 2
    corners = [(0, 0), (0, half), (half, 0), (half, half)]
    for label in range(classes):
        (root / f"class{label}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
            r, c = corners[label % 4]
            pixels[r : r + half, c : c + half] = 230
            Image.fromarray(pixels).save(root / f"class{label}" / f"img{i}.png")
    return Dataset.from_images(root, input_shape=(size, size, 3), name="tiny-images")


def tiny_texts(rows: int = 80, seed: int = 0) -> Any:
    import pandas as pd

    from lepton.data import Dataset

    rng = np.random.default_rng(seed)
    good = ["great", "excellent", "love", "wonderful", "happy"]
    bad = ["awful", "terrible", "hate", "poor", "sad"]
    texts, labels = [], []
    for i in range(rows):
        positive = i % 2 == 0
        words = list(rng.choice(good if positive else bad, size=4)) + list(
            rng.choice(["the", "a", "film", "day"], size=3)
        )
        texts.append(" ".join(words))
        labels.append("pos" if positive else "neg")
    return Dataset.from_texts(
        pd.DataFrame({"text": texts, "label": labels}),
        text_column="text",
        target="label",
        name="tiny-texts",
    )
