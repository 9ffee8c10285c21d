"""What a compression trades: size on disk, latency, the task metric, and how far outputs moved.

* **size**: bytes of the bundle ``lepton.save_model`` writes (weights, pipeline, manifest).
* **latency**: in-process ``model.predict`` (preprocessing included), median (p50) of repeated
  calls after one warm-up call: one row (10 calls), and a batch of up to 256 rows (3 calls);
  fewer when they take longer than 0.5 s / 1 s in all (at least 3 calls). A quick reading for
  the table ``lepton.compress`` returns; ``bench/compression.py`` repeats far more.
* **metric**: accuracy (classification) or RMSE (regression) of ``model.predict(data)``; NaN
  without data.
* **max_abs_diff**: the largest absolute difference between the original's and the compressed
  model's probabilities (classification) or values (regression) on the same inputs. Values are
  divided by ``max(1, std of the original's values)`` first, so a tolerance means the same for
  a target in dollars as for one in millions of dollars.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lepton.errors import InvalidParameterError

if TYPE_CHECKING:
    from lepton.data import Dataset
    from lepton.models import Model

BATCH_ROWS = 256


@dataclass
class Inputs:
    """Prediction inputs for the parity check and the latency timings."""

    row: Any  # one input row (a one-row frame, one image, one text)
    batch: Any  # up to BATCH_ROWS rows
    rows: int
    source: str  # "data", "reference sample" or "random images"


def sample_inputs(model: Model, data: Dataset | None, seed: int = 0) -> Inputs:
    """Rows of ``data``; without it, the training sample kept in the bundle (table models) or
    random images of the model's input shape; text models need ``data``."""
    import pandas as pd

    kind = (model.input_schema or {}).get("kind", "table")
    if data is not None:
        n = min(BATCH_ROWS, len(data))
        if kind == "table":
            frame = data.X().iloc[:n].reset_index(drop=True)
            return Inputs(frame.iloc[:1], frame, n, "data")
        if kind == "images":
            paths = [str(p) for p in data.image_paths[:n]]
            return Inputs(paths[:1], paths, n, "data")
        texts = list(data.texts[:n])
        return Inputs(texts[:1], texts, n, "data")
    if kind == "table":
        columns = (model.reference or {}).get("columns", {})
        wanted = [c["name"] for c in (model.input_schema or {}).get("columns", [])]
        missing = [c for c in wanted if c not in columns]
        if missing or not wanted:
            raise InvalidParameterError(
                f"This {model.name} model keeps no training sample for the column(s) "
                f"{missing or wanted} (text and PII columns are never kept in a bundle), so "
                "there is nothing to check the compressed model on. Pass data= (a Dataset with "
                "the model's columns)."
            )
        frame = pd.DataFrame({c: columns[c]["sample"] for c in wanted})
        frame = frame.iloc[:BATCH_ROWS].reset_index(drop=True)
        return Inputs(frame.iloc[:1], frame, len(frame), "reference sample")
    if kind == "images" and model.input_shape is not None:
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(BATCH_ROWS, *model.input_shape), dtype=np.uint8)
        return Inputs(images[:1], images, BATCH_ROWS, "random images")
    raise InvalidParameterError(
        f"{model.name} takes {kind}; without data= there is nothing to check the compressed "
        "model on. Pass data= (a Dataset of the same kind, e.g. the validation set)."
    )


def raw_outputs(model: Model, x: Any) -> np.ndarray:
    return np.asarray(model._predict_raw(x), dtype=np.float64)


def max_abs_diff(original: np.ndarray, compressed: np.ndarray, task: str | None) -> float:
    """Largest absolute difference; regression values are scaled by max(1, std(original))."""
    if original.shape != compressed.shape:
        return math.inf
    diff = np.abs(original - compressed)
    if task == "regression":
        diff = diff / max(1.0, float(np.std(original)))
    return float(diff.max()) if diff.size else 0.0


def bundle_size(model: Model) -> int:
    from lepton.models import save_model

    with tempfile.TemporaryDirectory(prefix="lepton-size-") as tmp:
        return save_model(model, Path(tmp) / "model.lepton").stat().st_size


def p50_ms(call: Callable[[], Any], reps: int, budget_s: float) -> float:
    """Median milliseconds of ``call`` after one warm-up call."""
    call()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < reps and (len(times) < 3 or time.perf_counter() - started < budget_s):
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return statistics.median(times) * 1000


def metric_of(model: Model, data: Dataset | None) -> tuple[str, float]:
    """``("accuracy", value)`` or ``("rmse", value)`` of ``model`` on ``data`` (NaN without)."""
    name = "accuracy" if model.task == "classification" else "rmse"
    if data is None or data.target is None:
        return name, math.nan
    truth = data.y()
    predicted = model.predict(data)
    if name == "accuracy":
        return name, float(
            np.mean(np.asarray(predicted, dtype=object) == np.asarray(truth, dtype=object))
        )
    err = np.asarray(predicted, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return name, float(np.sqrt(np.mean(err**2)))


def measure(
    model: Model,
    inputs: Inputs,
    data: Dataset | None,
    *,
    row_reps: int = 10,
    batch_reps: int = 3,
    budget_s: float = 1.0,
) -> dict[str, Any]:
    """One row of the comparison table (without ``max_abs_diff`` and ``sparsity``)."""
    row_ms = p50_ms(lambda: model.predict(inputs.row), row_reps, budget_s / 2)
    batch_ms = p50_ms(lambda: model.predict(inputs.batch), batch_reps, budget_s)
    metric, value = metric_of(model, data)
    return {
        "size_bytes": bundle_size(model),
        "latency_row_ms": row_ms,
        "latency_batch_ms": batch_ms,
        "batch_rows": inputs.rows,
        "rows_per_s": inputs.rows / (batch_ms / 1000) if batch_ms > 0 else math.inf,
        "metric": metric,
        "value": value,
    }
