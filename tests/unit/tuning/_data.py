"""Data where default settings are poor: a checkerboard in two of six features."""

from __future__ import annotations

from typing import Any

import numpy as np


def checkerboard(rows: int = 400, seed: int = 0) -> Any:
    import pandas as pd

    import lepton

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 6))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
    frame["y"] = ((np.sin(2.5 * x[:, 0]) * np.sin(2.5 * x[:, 1])) > 0).astype(int)
    return lepton.Dataset.from_pandas(frame, target="y", name="checker")


def noisy_linear(rows: int = 160, noise_features: int = 40, seed: int = 0) -> Any:
    """Few rows, many useless columns: a logistic regression needs strong regularisation."""
    import pandas as pd

    import lepton

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2 + noise_features))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(x.shape[1])])
    frame["y"] = (x[:, 0] - x[:, 1] + rng.normal(scale=1.0, size=rows) > 0).astype(int)
    return lepton.Dataset.from_pandas(frame, target="y", name="noisy")
