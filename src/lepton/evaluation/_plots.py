"""The report's pictures, as PNG bytes (matplotlib, no display needed)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 3.6), dpi=100)
    return fig, ax


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def roc_plot(truth: np.ndarray, score: np.ndarray, auc: float) -> bytes:
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(truth, score)
    fig, ax = _figure()
    ax.plot(fpr, tpr, label=f"ROC (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8, label="chance")
    ax.set(xlabel="False positive rate", ylabel="True positive rate", title="ROC curve")
    ax.legend(loc="lower right")
    return _png(fig)


def pr_plot(truth: np.ndarray, score: np.ndarray, ap: float) -> bytes:
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(truth, score)
    fig, ax = _figure()
    ax.plot(recall, precision, label=f"PR (AP {ap:.3f})")
    ax.axhline(truth.mean(), linestyle="--", color="grey", linewidth=0.8, label="base rate")
    ax.set(xlabel="Recall", ylabel="Precision", title="Precision-recall curve", ylim=(0, 1.02))
    ax.legend(loc="lower left")
    return _png(fig)


def calibration_plot(curve: dict[str, Any]) -> bytes:
    fig, ax = _figure()
    ax.plot([0, 1], [0, 1], "--", color="grey", linewidth=0.8, label="perfect")
    ax.plot(curve["prob_pred"], curve["prob_true"], "o-", label=f"model (ECE {curve['ece']:.3f})")
    ax.set(
        xlabel="Predicted probability",
        ylabel="Observed frequency",
        title="Calibration",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    return _png(fig)


def confusion_plot(labels: list[str], matrix: list[list[int]]) -> bytes:
    fig, ax = _figure()
    data = np.asarray(matrix)
    ax.imshow(data, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), value in np.ndenumerate(data):
        ax.text(
            j,
            i,
            str(value),
            ha="center",
            va="center",
            color="white" if value > data.max() / 2 else "black",
        )
    ax.set(xlabel="Predicted", ylabel="True", title="Confusion matrix")
    return _png(fig)


def group_plot(
    feature: str, groups: dict[str, dict[str, float]], metrics: tuple[str, ...]
) -> bytes:
    fig, ax = _figure()
    names = list(groups)
    width = 0.8 / len(metrics)
    for k, metric in enumerate(metrics):
        ax.bar(
            np.arange(len(names)) + k * width,
            [groups[g].get(metric, 0.0) for g in names],
            width,
            label=metric,
        )
    ax.set_xticks(
        np.arange(len(names)) + width * (len(metrics) - 1) / 2, names, rotation=30, ha="right"
    )
    ax.set(title=f"By {feature}", ylim=(0, 1.05))
    ax.legend(fontsize=8)
    return _png(fig)
