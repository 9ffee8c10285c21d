"""Classification and regression metrics, computed with scikit-learn so the numbers are its own."""

from __future__ import annotations

from typing import Any

import numpy as np


def binary_labels(classes: list[Any], positive_label: Any) -> Any:
    """The positive class: given, else the second of two sorted classes ("yes", 1, True)."""
    from lepton.errors import InvalidParameterError

    if positive_label is not None:
        if positive_label not in classes:
            raise InvalidParameterError(
                f"positive_label={positive_label!r} is not a class of the model; classes: {classes}."
            )
        return positive_label
    return classes[1] if len(classes) == 2 else None


def classification_metrics(
    y_true: np.ndarray,
    proba: np.ndarray | None,
    y_pred: np.ndarray,
    classes: list[Any],
    positive: Any,
) -> tuple[dict[str, float], dict[str, dict[str, float]], list[str]]:
    """Metrics, per-class metrics and notes. ``proba`` columns follow ``classes``."""
    from sklearn import metrics as skm

    notes: list[str] = []
    out: dict[str, float] = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": float(skm.balanced_accuracy_score(y_true, y_pred)),
    }
    for average in ("macro", "weighted"):
        out[f"precision_{average}"] = float(
            skm.precision_score(y_true, y_pred, labels=classes, average=average, zero_division=0)
        )
        out[f"recall_{average}"] = float(
            skm.recall_score(y_true, y_pred, labels=classes, average=average, zero_division=0)
        )
        out[f"f1_{average}"] = float(
            skm.f1_score(y_true, y_pred, labels=classes, average=average, zero_division=0)
        )
    if positive is not None:
        # one-vs-rest, so a positive_label of a multi-class model works too (same numbers as
        # pos_label=positive on binary labels)
        truth, pred = y_true == positive, y_pred == positive
        out["precision"] = float(skm.precision_score(truth, pred, zero_division=0))
        out["recall"] = float(skm.recall_score(truth, pred, zero_division=0))
        out["f1"] = float(skm.f1_score(truth, pred, zero_division=0))
    if proba is None:
        notes.append(
            "The model gives no probabilities: ROC AUC, PR AUC, log loss, Brier score and calibration were skipped."
        )
    elif len(np.unique(y_true)) < 2:
        notes.append(
            "Only one class is present in the data: ROC AUC and PR AUC are undefined and were skipped."
        )
        out["log_loss"] = float(skm.log_loss(y_true, proba, labels=classes))
    else:
        out["log_loss"] = float(skm.log_loss(y_true, proba, labels=classes))
        if positive is not None:
            p = proba[:, classes.index(positive)]
            truth = y_true == positive
            out["roc_auc"] = float(skm.roc_auc_score(truth, p))
            out["pr_auc"] = float(skm.average_precision_score(truth, p))
            out["brier"] = float(skm.brier_score_loss(truth, p))
        else:
            present = [c for c in classes if c in set(y_true)]
            if len(present) == len(classes):
                out["roc_auc"] = float(
                    skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes)
                )
            else:
                notes.append(
                    "Some classes are absent from the data: the multi-class ROC AUC was skipped."
                )
            onehot = np.stack([y_true == c for c in classes], axis=1)
            out["pr_auc"] = float(skm.average_precision_score(onehot, proba, average="macro"))
            out["brier"] = float(np.mean(np.sum((proba - onehot) ** 2, axis=1)))
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    per_class = {
        str(c): {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    }
    return out, per_class, notes


def calibration(
    y_true: np.ndarray, proba: np.ndarray, classes: list[Any], positive: Any, bins: int = 10
) -> dict[str, Any]:
    """Reliability curve and expected calibration error (ECE), with equal-width bins.

    Binary: the probability of the positive class against its frequency. Multi-class: the
    top-label confidence against accuracy.
    """
    if positive is not None:
        confidence = proba[:, classes.index(positive)]
        hit = (y_true == positive).astype(float)
    else:
        confidence = proba.max(axis=1)
        hit = (np.asarray(classes, dtype=object)[proba.argmax(axis=1)] == y_true).astype(float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    prob_pred, prob_true, counts = [], [], []
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            prob_pred.append(float(confidence[mask].mean()))
            prob_true.append(float(hit[mask].mean()))
            counts.append(int(mask.sum()))
            ece += mask.mean() * abs(hit[mask].mean() - confidence[mask].mean())
    return {
        "prob_pred": prob_pred,
        "prob_true": prob_true,
        "counts": counts,
        "ece": float(ece),
        "bins": bins,
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn import metrics as skm

    return {
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "r2": float(skm.r2_score(y_true, y_pred)),
        "mape": float(skm.mean_absolute_percentage_error(y_true, y_pred)),
    }
