"""What ``lepton.tune`` returns: the best settings and model, every trial, and the pictures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from lepton.models import Model
    from lepton.training import TrainResult


@dataclass
class TuneResult:
    """The outcome of a search.

    Attributes:
        best_params: the winning settings (only the searched ones).
        best_model: a model trained on ``train`` with them (its run is ``best_run_id``).
        best_value: the winning trial's validation ``metric``.
        trials: one row per trial (number, state, value, seconds, each parameter, run id).
        importances: each parameter's share of the metric's variance (fANOVA), largest first.
    """

    best_params: dict[str, Any]
    best_model: Model
    best_value: float
    trials: pd.DataFrame
    importances: dict[str, float]
    metric: str
    direction: str
    model_name: str
    study: str
    run_id: str  # the parent run of every trial
    train_result: TrainResult
    counts: dict[str, int] = field(default_factory=dict)
    report_path: Path | None = None  # report.html in the run's artifacts, when they are local
    baseline_value: float | None = None  # the metric of the model's own settings

    @property
    def best_run_id(self) -> str:
        return self.train_result.run_id

    @property
    def model_uri(self) -> str:
        """``runs:/RUN_ID/model.lepton`` of the best model: ``lepton.load_model`` takes it."""
        return self.train_result.model_uri

    def ranked(self) -> pd.DataFrame:
        """The trials best first: complete ones by value, then pruned and failed ones."""
        order = self.trials.assign(_unfinished=self.trials["state"] != "complete")
        return order.sort_values(
            ["_unfinished", "value"],
            ascending=[True, self.direction == "minimize"],
            na_position="last",
        ).drop(columns="_unfinished")

    def plot_history(self) -> bytes:
        """The optimisation history as PNG bytes."""
        from lepton.tuning._plots import history_plot

        return history_plot(self.trials, self.metric, self.direction, self.baseline_value)

    def plot_importance(self) -> bytes:
        """Parameter importance as PNG bytes."""
        from lepton.tuning._plots import importance_plot

        return importance_plot(self.importances)

    def to_html(self) -> str:
        from lepton.tuning._plots import html_report

        return html_report(self, self.plot_history(), self.plot_importance())

    def save_report(self, folder: str | Path) -> list[Path]:
        """Write trials.csv, history.png, importance.png and report.html into ``folder``."""
        from lepton._fs import atomic_write_bytes

        target = Path(folder)
        target.mkdir(parents=True, exist_ok=True)
        files = {
            "trials.csv": self.trials.to_csv(index=False).encode(),
            "history.png": self.plot_history(),
            "importance.png": self.plot_importance(),
            "report.html": ("<!doctype html><meta charset=utf-8>" + self.to_html()).encode(),
        }
        for name, content in files.items():
            atomic_write_bytes(target / name, content)
        return [target / name for name in files]

    def summary(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "metric": self.metric,
            "direction": self.direction,
            "best_value": self.best_value,
            "baseline_value": self.baseline_value,
            "best_params": self.best_params,
            "importances": self.importances,
            "trials": self.counts,
            "run_id": self.run_id,
            "best_run_id": self.best_run_id,
            "model_uri": self.model_uri,
            "report": str(self.report_path) if self.report_path else None,
        }

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={_short(v)}" for k, v in self.best_params.items())
        before = f" (own settings {self.baseline_value:.4g})" if self.baseline_value else ""
        return (
            f"TuneResult(model={self.model_name!r}, best {self.metric}={self.best_value:.4g}{before}, "
            f"trials={len(self.trials)}, best_params={{{params}}})"
        )

    def _repr_html_(self) -> str:
        return self.to_html()


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)
