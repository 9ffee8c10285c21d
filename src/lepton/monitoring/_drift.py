"""Data drift: are the inputs a deployment sees like the data its model was trained on?

The reference is a sample of the training rows kept in the model bundle (``reference.json``,
written by every table model when it is fitted; columns holding PII are left out). Recent
inputs come from the requests the replicas sampled. Per feature: PSI (population stability
index, 10 quantile bins of the reference for numbers, categories otherwise) and, for numbers,
the two-sample Kolmogorov-Smirnov statistic and p-value. Predictions are compared the same way.
A feature drifts when PSI > 0.2 or the KS p-value < 0.01.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PSI_LIMIT = 0.2
KS_P_LIMIT = 0.01
SAMPLE_ROWS = 1000


def reference_profile(
    frame: Any, columns: list[str], types: dict[str, str], seed: int = 0
) -> dict[str, Any]:
    """A sample of up to 1,000 training rows per feature, for drift checks after deployment."""
    from lepton.data._pii import scan_column

    rows = (
        frame.sample(n=min(SAMPLE_ROWS, len(frame)), random_state=seed)
        if len(frame) > SAMPLE_ROWS
        else frame
    )
    profile: dict[str, Any] = {"rows": len(frame), "columns": {}}
    for column in columns:
        kind = types.get(column, "categorical")
        if kind not in ("numeric", "categorical", "boolean") or scan_column(column, rows[column]):
            continue  # text, images and PII are never copied into a bundle
        values = rows[column]  # rows stay aligned across columns (None where missing)
        sample: list[Any]
        if kind == "numeric":
            sample = [None if math.isnan(v) else float(v) for v in values.to_numpy(dtype=float)]
        else:
            sample = [None if v is None or v != v else str(v) for v in values]
        profile["columns"][column] = {
            "type": "numeric" if kind == "numeric" else "categorical",
            "sample": sample,
        }
    return profile


def psi_numeric(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    # bins between the reference's inner quantiles c1 < ... < ck, and one for each cut itself:
    # (-inf, c1), [c1], (c1, c2), ..., (ck, inf). The cuts' own bins hold the ties of discrete
    # values, and a constant or two-valued reference still has bins on both sides of its
    # values for a feature that moved (with only the outer edges, it had one bin: PSI 0)
    cuts = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))

    def shares(values: np.ndarray) -> np.ndarray:
        index = np.searchsorted(cuts, values, "left") + np.searchsorted(cuts, values, "right")
        return np.bincount(index, minlength=2 * len(cuts) + 1) / len(values)

    return _psi(shares(reference), shares(current))


def psi_categorical(reference: list[str], current: list[str]) -> float:
    categories = sorted(set(reference) | set(current))
    expected = np.array([reference.count(c) for c in categories], dtype=float) / len(reference)
    actual = np.array([current.count(c) for c in categories], dtype=float) / len(current)
    return _psi(expected, actual)


def _psi(expected: np.ndarray, actual: np.ndarray) -> float:
    expected, actual = np.clip(expected, 1e-4, None), np.clip(actual, 1e-4, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


@dataclass
class FeatureDrift:
    feature: str
    kind: str
    psi: float
    ks_statistic: float | None = None
    ks_pvalue: float | None = None

    @property
    def drifted(self) -> bool:
        return self.psi > PSI_LIMIT or (self.ks_pvalue is not None and self.ks_pvalue < KS_P_LIMIT)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "psi": self.psi,
            "ks_statistic": self.ks_statistic,
            "ks_pvalue": self.ks_pvalue,
            "drifted": self.drifted,
        }


@dataclass
class DriftReport:
    deployment: str
    samples: int
    features: list[FeatureDrift] = field(default_factory=list)
    prediction: FeatureDrift | None = None
    note: str = ""

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.drifted]

    @property
    def max_psi(self) -> float:
        return max((f.psi for f in self.features), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "samples": self.samples,
            "drifted": self.drifted,
            "max_psi": self.max_psi,
            "features": [f.to_dict() for f in self.features],
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "note": self.note,
        }

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(f.feature)}</td><td>{f.psi:.3f}</td><td>{'' if f.ks_pvalue is None else f'{f.ks_pvalue:.3g}'}</td><td>{'DRIFT' if f.drifted else ''}</td></tr>"
            for f in self.features
        )
        return f"<b>Drift of {html.escape(self.deployment)}</b> ({self.samples} samples)<table><tr><th>feature</th><th>PSI</th><th>KS p</th><th></th></tr>{rows}</table>"


def compare(
    deployment: str,
    reference: dict[str, Any],
    columns: list[str],
    samples: list[dict[str, Any]],
    predict: Any = None,
) -> DriftReport:
    """Drift of the sampled request rows (``inputs`` in ``columns`` order) against ``reference``."""
    from scipy.stats import ks_2samp

    report = DriftReport(deployment, len(samples))
    if len(samples) < 20:
        report.note = f"Only {len(samples)} sampled requests so far; drift needs at least 20."
        return report
    index = {c: i for i, c in enumerate(columns)}
    for column, ref in reference.get("columns", {}).items():
        kept = [v for v in ref["sample"] if v is not None]
        if column not in index or not kept:
            continue
        values = [s["inputs"][index[column]] for s in samples]
        values = [
            v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))
        ]
        if not values:
            continue
        if ref["type"] == "numeric":
            current = np.asarray(values, dtype=float)
            base = np.asarray(kept, dtype=float)
            ks = ks_2samp(base, current)
            report.features.append(
                FeatureDrift(
                    column,
                    "numeric",
                    psi_numeric(base, current),
                    float(ks.statistic),
                    float(ks.pvalue),
                )
            )
        else:
            report.features.append(
                FeatureDrift(
                    column,
                    "categorical",
                    psi_categorical([str(v) for v in kept], [str(v) for v in values]),
                )
            )
    if predict is not None:
        base_rows = _reference_rows(reference, columns)
        if base_rows is not None:
            expected = [str(p) for p in predict(base_rows)]
            actual = [str(s["prediction"]) for s in samples if s.get("prediction") is not None]
            if actual:
                report.prediction = FeatureDrift(
                    "prediction", "categorical", psi_categorical(expected, actual)
                )
    report.features.sort(key=lambda f: -f.psi)
    return report


def _reference_rows(reference: dict[str, Any], columns: list[str]) -> list[list[Any]] | None:
    """Reference rows for predicting, when every column was kept in the reference."""
    kept = reference.get("columns", {})
    if any(c not in kept for c in columns):
        return None
    length = min(len(kept[c]["sample"]) for c in columns)
    return [[kept[c]["sample"][i] for c in columns] for i in range(length)] if length else None
