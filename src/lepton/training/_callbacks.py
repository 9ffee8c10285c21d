"""Training callbacks for torch models: early stopping, checkpoints, learning-rate schedules.

A callback sees the loop's :class:`~lepton.models._torch_loop.LoopState` at the start, after
each epoch and at the end. ``EarlyStopping`` rebuilds its counters from the metric history, so
it continues correctly after a resume.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from lepton.errors import InvalidParameterError

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint"]


class Callback:
    """Base class: override any of the three hooks."""

    def on_train_begin(self, state: Any) -> None: ...

    def on_epoch_end(self, state: Any, epoch: int, logs: dict[str, float]) -> None: ...

    def on_train_end(self, state: Any) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; keep the best weights.

    Args:
        monitor: a metric logged each epoch, e.g. ``"val_loss"`` or ``"val_accuracy"``.
        patience: epochs without improvement before stopping.
        mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy/auc/r2, min otherwise).
        min_delta: the smallest change that counts as an improvement.
        restore_best: load the best epoch's weights when training ends.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        patience: int = 3,
        mode: str = "auto",
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        if mode not in ("auto", "min", "max"):
            raise InvalidParameterError(
                f"EarlyStopping mode must be 'auto', 'min' or 'max', got {mode!r}."
            )
        if not isinstance(patience, int) or patience < 1:
            raise InvalidParameterError(
                f"EarlyStopping patience must be a positive int, got {patience!r}."
            )
        if mode == "auto":
            mode = (
                "max"
                if any(k in monitor for k in ("acc", "auc", "r2", "f1", "precision", "recall"))
                else "min"
            )
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, min_delta
        self.restore_best = restore_best
        self.best = math.inf if mode == "min" else -math.inf
        self.best_epoch = -1
        self.wait = 0
        self._best_weights: dict[str, Any] | None = None

    def _better(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, state: Any) -> None:
        for epoch, value in enumerate(state.history.get(self.monitor, [])):
            self._update(value, epoch, state, keep_weights=False)

    def _update(self, value: float, epoch: int, state: Any, keep_weights: bool) -> None:
        if self._better(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if keep_weights and self.restore_best:
                self._best_weights = copy.deepcopy(state.net.state_dict())
        else:
            self.wait += 1

    def on_epoch_end(self, state: Any, epoch: int, logs: dict[str, float]) -> None:
        if self.monitor not in logs:
            raise InvalidParameterError(
                f"EarlyStopping monitors {self.monitor!r}, which is not logged; logged: "
                f"{', '.join(sorted(logs))}. Pass a validation set for val_* metrics."
            )
        self._update(logs[self.monitor], epoch, state, keep_weights=True)
        if self.wait >= self.patience:
            state.stop = True

    def on_train_end(self, state: Any) -> None:
        if self.restore_best and self._best_weights is not None:
            state.net.load_state_dict(self._best_weights)


class ModelCheckpoint(Callback):
    """Save the full training state every ``every`` epochs so ``resume=True`` can continue.

    ``lepton.train`` adds one automatically, writing into the run's artifacts.
    """

    def __init__(self, save: Any, every: int = 1) -> None:
        if not callable(save):
            raise InvalidParameterError(
                f"ModelCheckpoint needs save= a function (state_dict, epoch), got {type(save).__name__}."
            )
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InvalidParameterError(
                f"ModelCheckpoint every must be a positive int (epochs), got {every!r}."
            )
        self.save = save  # callable(state_dict, epoch)
        self.every = every

    def on_epoch_end(self, state: Any, epoch: int, logs: dict[str, float]) -> None:
        if (epoch + 1) % self.every == 0 or state.stop or epoch + 1 == state.epochs:
            self.save(state.state_dict(), epoch)
