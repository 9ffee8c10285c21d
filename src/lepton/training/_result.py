"""What ``lepton.train`` returns."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lepton.models import Model


@dataclass
class TrainResult:
    """The trained model, its run, and the metric history."""

    model: Model
    run_id: str
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)  # values after the last epoch
    model_uri: str = ""  # runs:/RUN_ID/model.lepton: lepton.load_model() takes it
    model_path: Path | None = None  # the bundle on local disk, when artifacts are local

    def best(self, metric: str, mode: str = "auto") -> float:
        """The best value ``metric`` reached (max for accuracy-like metrics, else min)."""
        values = self.history.get(metric)
        if not values:
            from lepton.errors import InvalidParameterError

            raise InvalidParameterError(
                f"No metric {metric!r} in this run; logged: {', '.join(sorted(self.history))}."
            )
        if mode == "auto":
            mode = "max" if any(k in metric for k in ("acc", "auc", "r2", "f1")) else "min"
        return max(values) if mode == "max" else min(values)

    def summary(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "model": self.model.name,
            "metrics": self.metrics,
            "model_uri": self.model_uri,
        }

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in self.metrics.items() if k != "lr")
        return f"TrainResult(model={self.model.name!r}, run={self.run_id[:8]!r}, {shown})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{v:.6g}</td></tr>" for k, v in self.metrics.items()
        )
        return f"<b>Trained {html.escape(self.model.name)}</b> (run {self.run_id[:8]})<table>{rows}</table>"
