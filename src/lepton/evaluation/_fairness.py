"""Fairness per sensitive group, with fairlearn's definitions (tests compare the numbers).

Computed here rather than by importing fairlearn: the formulas are short, and this keeps
evaluation light. For each group: count, selection rate (share predicted positive), TPR, FPR,
precision, accuracy. Across groups: demographic parity difference/ratio (selection rate),
equalized odds difference (max of TPR and FPR differences) and ratio (min of the two ratios),
equal opportunity difference (TPR difference). A rate with an empty denominator is 0, a ratio
of 0/0 is NaN, as in fairlearn.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from lepton.errors import DataError, InvalidParameterError

MIN_GROUP_SIZE = 20


def _rate(num: float, den: float) -> float:
    return float(num / den) if den else 0.0


def _ratio(values: list[float]) -> float:
    high = max(values)
    return float(min(values) / high) if high else math.nan


def group_column(frame: pd.DataFrame, feature: str, bins: Any) -> pd.Series:
    """The group of each row: the category, or the bin of a numeric column.

    ``bins``: None (categories as they are; numeric columns with more than 10 values get 4
    quantile bins), an int (that many quantile bins) or a list of edges (e.g. age bands).
    Values outside the edges form a group of their own, and missing values the group
    "missing". The result is categorical: bins keep their numeric order, categories are sorted.
    """
    if feature not in frame.columns:
        raise DataError(
            f"Sensitive feature {feature!r} is not a column of the data; columns: {list(frame.columns)[:30]}. "
            "Evaluate on data that still holds it (models ignore columns they were not trained on)."
        )
    column = frame[feature]
    numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if bins is None and numeric and column.nunique() > 10:
        bins = 4
    if bins is not None:
        if not numeric:
            raise InvalidParameterError(f"Bins were given for {feature!r}, but it is not numeric.")
        outside = "outside the bins"
        if isinstance(bins, int) and not isinstance(bins, bool):
            if bins < 1:
                raise InvalidParameterError(
                    f"Bins for {feature!r} must be a positive number of quantile bins or a list of edges, got {bins!r}."
                )
            grouped = pd.qcut(column, q=bins, duplicates="drop")
        elif isinstance(bins, list | tuple) and len(bins) >= 2:
            grouped = pd.cut(column, bins=list(bins), right=False)
            outside = f"outside [{bins[0]}, {bins[-1]})"
        else:
            raise InvalidParameterError(
                f"Bins for {feature!r} must be an int or a list of at least two edges, got {bins!r}."
            )
        order = [str(c) for c in grouped.cat.categories] + [outside]
        codes = grouped.cat.codes.to_numpy()
        # a value beyond the edges has no bin (code -1): it must not vanish or pose as "missing"
        labels = pd.Series(
            np.asarray(order, dtype=object)[np.where(codes >= 0, codes, len(order) - 1)],
            index=column.index,
        )
    else:
        labels = column.astype(str)
        order = sorted(set(labels[column.notna()]))
    labels = labels.where(column.notna(), "missing")
    present = set(labels)
    return pd.Series(
        pd.Categorical(labels, categories=[g for g in [*order, "missing"] if g in present]),
        index=column.index,
    )


def _group_names(groups: pd.Series) -> list[Any]:
    if isinstance(groups.dtype, pd.CategoricalDtype):
        return list(groups.cat.categories)
    return sorted(groups.unique())


def group_metrics(y_true: np.ndarray, y_pred: np.ndarray, positive: Any) -> dict[str, float]:
    truth, pred = y_true == positive, y_pred == positive
    tp, fp = float((truth & pred).sum()), float((~truth & pred).sum())
    fn, tn = float((truth & ~pred).sum()), float((~truth & ~pred).sum())
    return {
        "count": len(y_true),
        "selection_rate": _rate(tp + fp, len(y_true)),
        "tpr": _rate(tp, tp + fn),
        "fpr": _rate(fp, fp + tn),
        "precision": _rate(tp, tp + fp),
        "accuracy": _rate(tp + tn, len(y_true)),
    }


def fairness_for(
    groups: pd.Series, y_true: np.ndarray, y_pred: np.ndarray, positive: Any, notes: list[str]
) -> dict[str, Any]:
    per_group: dict[str, dict[str, float]] = {}
    for name in _group_names(groups):
        mask = (groups == name).to_numpy()
        per_group[str(name)] = group_metrics(y_true[mask], y_pred[mask], positive)
        if mask.sum() < MIN_GROUP_SIZE:
            notes.append(
                f"Group {groups.name}={name!s} has only {int(mask.sum())} rows (< {MIN_GROUP_SIZE}): its rates are noisy."
            )
    selection = [g["selection_rate"] for g in per_group.values()]
    tpr = [g["tpr"] for g in per_group.values()]
    fpr = [g["fpr"] for g in per_group.values()]
    return {
        "demographic_parity_difference": float(max(selection) - min(selection)),
        "demographic_parity_ratio": _ratio(selection),
        "equalized_odds_difference": float(max(max(tpr) - min(tpr), max(fpr) - min(fpr))),
        "equalized_odds_ratio": float(min(_ratio(tpr), _ratio(fpr))),
        "equal_opportunity_difference": float(max(tpr) - min(tpr)),
        "groups": per_group,
    }


def regression_fairness_for(
    groups: pd.Series, y_true: np.ndarray, y_pred: np.ndarray, notes: list[str]
) -> dict[str, Any]:
    per_group = {}
    for name in _group_names(groups):
        mask = (groups == name).to_numpy()
        per_group[str(name)] = {
            "count": int(mask.sum()),
            "mean_prediction": float(np.mean(y_pred[mask])),
            "mae": float(np.mean(np.abs(y_pred[mask] - y_true[mask]))),
        }
        if mask.sum() < MIN_GROUP_SIZE:
            notes.append(
                f"Group {groups.name}={name!s} has only {int(mask.sum())} rows (< {MIN_GROUP_SIZE})."
            )
    maes = [g["mae"] for g in per_group.values()]
    return {"mae_difference": float(max(maes) - min(maes)), "groups": per_group}
