"""Turning validated rows into predictions, for a batch of requests at once.

The generic path builds a DataFrame and calls the model (preprocessing included). For the
commonest tabular case, numeric columns with median imputing and standard scaling into a
linear model, a compiled numpy path does the same arithmetic without scikit-learn's per-call
input checks (about 100 us a call): the request was validated once at the edge. Its row-wise
einsum gives each row the same result whatever batch it is in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Output = tuple[list[Any], list[list[float]] | None]


class Predictor:
    """``predict(rows) -> (predictions, probabilities or None)`` for one loaded model."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.classes = [c.item() if hasattr(c, "item") else c for c in model.classes]
        schema = model.input_schema or {}
        self.kind = schema.get("kind", "table")
        self.columns = [c["name"] for c in schema.get("columns", [])]
        pipeline = getattr(model, "pipeline", None)
        self._affine = (
            pipeline.numeric_affine() if self.kind == "table" and pipeline is not None else None
        )
        self._fast = _compile_linear(model, self._affine) if self._affine is not None else None
        self.compiled = self._fast is not None

    def predict(self, rows: Sequence[Any]) -> Output:
        if self._fast is not None:
            return self._fast(rows)
        raw = self._raw(rows)
        if self.model.task == "classification":
            labels = np.asarray(self.classes, dtype=object)[raw.argmax(axis=1)]
            return labels.tolist(), raw.tolist()
        return raw.reshape(-1).tolist(), None

    def _raw(self, rows: Sequence[Any]) -> np.ndarray:
        """Probabilities (n, k) or values (n,): preprocessing once for the whole batch."""
        pipeline = getattr(self.model, "pipeline", None)
        if self.kind == "table" and pipeline is not None and hasattr(self.model, "_output"):
            if self._affine is not None:
                features = _affine_features(rows, *self._affine)
            else:
                import pandas as pd

                features = pipeline.transform(pd.DataFrame(list(rows), columns=self.columns))
            return np.asarray(self.model._output(features), dtype=np.float64)
        x = self._inputs(rows)
        if self.model.task == "classification":
            return np.asarray(self.model.predict_proba(x), dtype=np.float64)
        return np.asarray(self.model.predict(x), dtype=np.float64)

    def _inputs(self, rows: Sequence[Any]) -> Any:
        if self.kind == "table":
            import pandas as pd

            return pd.DataFrame(list(rows), columns=self.columns)
        if self.kind == "texts":
            return list(rows)
        import io

        from PIL import Image

        return [Image.open(io.BytesIO(item)) for item in rows]


def _affine_features(
    rows: Sequence[Any], fill: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> np.ndarray:
    """What the pipeline's impute-and-standardise transform gives, in plain numpy (float32)."""
    x = np.array(rows, dtype=np.float64)  # None -> nan
    x = np.where(np.isnan(x), fill, x)
    return ((x - mean) / scale).astype(np.float32)


def _compile_linear(
    model: Any, affine: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> Callable[[Sequence[Any]], Output] | None:
    """A numpy predictor for numeric imputer+scaler -> linear model, or None when not that shape."""
    estimator = getattr(model, "estimator", None)
    if estimator is None or model.family != "sklearn":
        return None
    name = type(estimator).__name__
    if name not in ("LogisticRegression", "LinearRegression") or not hasattr(estimator, "coef_"):
        return None
    coef = np.atleast_2d(np.asarray(estimator.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(estimator.intercept_, dtype=np.float64))
    classes = np.asarray(
        [c.item() if hasattr(c, "item") else c for c in model.classes], dtype=object
    )

    def features(rows: Sequence[Any]) -> np.ndarray:
        return _affine_features(rows, *affine).astype(np.float64)

    if name == "LinearRegression":

        def regress(rows: Sequence[Any]) -> Output:
            values = np.einsum("ij,kj->ik", features(rows), coef)[:, 0] + intercept[0]
            return values.tolist(), None

        return regress

    def classify(rows: Sequence[Any]) -> Output:
        scores = np.einsum("ij,kj->ik", features(rows), coef) + intercept
        if scores.shape[1] == 1:  # binary: sigmoid of one score
            positive = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            proba = np.column_stack([1.0 - positive, positive])
        else:
            scores -= scores.max(axis=1, keepdims=True)
            np.exp(scores, out=scores)
            proba = scores / scores.sum(axis=1, keepdims=True)
        return classes[proba.argmax(axis=1)].tolist(), proba.tolist()

    return classify
