"""What a search optimises: a validation metric and its direction, checked against the task."""

from __future__ import annotations

from dataclasses import dataclass

from lepton.errors import InvalidParameterError

MAXIMIZE = ("accuracy", "roc_auc", "r2")
MINIMIZE = ("log_loss", "loss", "rmse", "mae")
# what LightGBM calls a metric in its per-iteration logs, so pruning can follow it too
_ITERATION_NAMES = {
    "roc_auc": ("auc",),
    "log_loss": ("binary_logloss", "multi_logloss"),
    "rmse": ("rmse",),
}


@dataclass(frozen=True)
class Goal:
    metric: str  # as logged on the validation set, e.g. "val_roc_auc"
    direction: str  # "maximize" or "minimize"

    @property
    def intermediate_names(self) -> tuple[str, ...]:
        """The names the metric may carry in per-epoch/iteration logs (for pruning)."""
        base = self.metric.removeprefix("val_")
        return (self.metric, *(f"val_{n}" for n in _ITERATION_NAMES.get(base, ())))

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "maximize" else a < b


def task_metrics(task: str, num_classes: int, torch: bool) -> list[str]:
    """The validation metrics a model of this task reports."""
    if task == "classification":
        names = ["accuracy", "log_loss", *(["roc_auc"] if num_classes == 2 else [])]
    else:
        names = ["rmse", "mae", "r2"]
    return names + (["loss"] if torch else [])


def resolve_goal(
    metric: str | None, direction: str | None, task: str, num_classes: int, torch: bool
) -> Goal:
    """The metric (default: roc_auc for two classes, accuracy for more, rmse for regression)."""
    available = task_metrics(task, num_classes, torch)
    if metric is None:
        if task == "classification":
            metric = "roc_auc" if num_classes == 2 else "accuracy"
        else:
            metric = "rmse"
    if not isinstance(metric, str):
        raise InvalidParameterError(f"metric must be a metric name, got {metric!r}.")
    base = metric.removeprefix("val_")
    if base not in available:
        raise InvalidParameterError(
            f"metric {metric!r} is not reported for this {task} task"
            + (f" with {num_classes} classes" if task == "classification" else "")
            + f"; the search can optimise: {', '.join(available)} (on the validation set)."
        )
    natural = "maximize" if base in MAXIMIZE else "minimize"
    if direction is None:
        direction = natural
    if direction not in ("maximize", "minimize"):
        raise InvalidParameterError(
            f"direction must be 'maximize' or 'minimize', got {direction!r}."
        )
    if direction != natural:
        raise InvalidParameterError(
            f"direction={direction!r} contradicts metric {base!r}: a better {base} is "
            f"{'higher' if natural == 'maximize' else 'lower'}, so it must be {natural!r}. "
            "Leave direction unset to use the metric's own."
        )
    return Goal(f"val_{base}", direction)
