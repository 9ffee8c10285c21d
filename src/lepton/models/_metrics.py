"""The few metrics a model reports while training (full evaluation lives in evaluation/)."""

from __future__ import annotations

from typing import Any

import numpy as np


def score(task: str | None, y_true: Any, output: np.ndarray, prefix: str = "") -> dict[str, float]:
    """Metrics of ``output`` against ``y_true``.

    Classification: ``y_true`` holds class indices, ``output`` probabilities (n, k); reports
    accuracy, log_loss and, for two classes, roc_auc. Regression: rmse, mae and r2.
    """
    y = np.asarray(y_true)
    if task == "classification":
        proba = np.clip(np.asarray(output, dtype=np.float64), 1e-15, 1.0)
        known = y >= 0  # -1 marks a label the model never saw in training: it counts as wrong
        y = np.where(known, y, 0)
        metrics = {
            "accuracy": float(((proba.argmax(axis=1) == y) & known).mean()),
            "log_loss": float(-np.log(np.where(known, proba[np.arange(len(y)), y], 1e-15)).mean()),
        }
        if proba.shape[1] == 2 and known.all() and len(np.unique(y)) == 2:
            from sklearn.metrics import roc_auc_score

            metrics["roc_auc"] = float(roc_auc_score(y, proba[:, 1]))
    else:
        pred = np.asarray(output, dtype=np.float64).reshape(-1)
        err = pred - y.astype(np.float64)
        total = float(((y - y.mean()) ** 2).sum())
        metrics = {
            "rmse": float(np.sqrt((err**2).mean())),
            "mae": float(np.abs(err).mean()),
            "r2": float(1 - (err**2).sum() / total) if total > 0 else 0.0,
        }
    return {prefix + k: v for k, v in metrics.items()}
